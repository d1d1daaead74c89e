"""Run the course's experiments (ULMFiT vs baselines, ablations, sample efficiency, GoEmotions,
forward+backward ensemble) and write CSV + PNG + a markdown summary (mean ± std, machine, wall time).

    python experiments/run.py poems|ablations|sample-efficiency|goemotions|ensemble|all \
        [--quick] [--seeds 5] [--out experiments/results]
    python experiments/run.py poems --summarize-only     # rebuild the summary from existing CSVs
    python experiments/run.py tuning-cv --task poems-binary   # cross-validation on the binary view
    python experiments/run.py tuning-cv --no-lm-ft            # the same folds without stage 2
    python experiments/run.py ablations --device cuda --seed 3 --out DIR   # one seed, on a GPU
    python experiments/run.py goemotions-imbalance --sizes 1000 4000 all   # issue 22 (not in 'all')
    python experiments/run.py goemotions-28-imbalance --seeds 5        # the 28 labels, multi-label

Results go to ``<out>/quick/`` or ``<out>/full/`` so the two are never mixed up. Needs the data and
the pretrained LMs: ``export ULMFIT_DATA=/path/to/data:/path/to/pretrained``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(
    0, str(Path(__file__).resolve().parent.parent)
)  # the checkout: experiments/ is its folder
from experiments import runner as ex  # noqa: E402
from ulmfit_lesson.course import results  # noqa: E402

EXPERIMENTS = (
    "poems",
    "ablations",
    "sample-efficiency",
    "goemotions",
    "ensemble",
    "tuning",
    "tuning-cv",
)
EXTRA = ("goemotions-imbalance", "goemotions-28-imbalance")  # run only when named, not by 'all'
POEM_TASKS = ("poems-3class", "poems-binary")


def machine(device: str = "cpu") -> str:
    """CPU model name and core count (``lscpu``), plus torch's thread count; with a GPU ``device``,
    the GPU that trained first."""
    import torch

    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    cpu = f"{model}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} (training); {cpu}"
    return cpu


def plot(df: pd.DataFrame, x: str, path: Path, title: str) -> None:
    """Mean test accuracy against ``x`` (error bars: std over seeds), one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method, g in df.groupby("method", sort=False):
        s = g.groupby(x)["accuracy"].agg(["mean", "std"]).fillna(0)
        ax.errorbar(s.index, s["mean"], yerr=s["std"], marker="o", capsize=3, label=method)
    ax.set(xscale="log", xlabel="labelled training examples", ylabel="test accuracy", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bar_plot(summary: pd.DataFrame, by: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(summary) + 1.2))
    ax.barh(
        summary[by].astype(str), summary["accuracy_mean"], xerr=summary["accuracy_std"], capsize=3
    )
    ax.invert_yaxis()
    ax.set(xlabel="test accuracy (mean ± std over seeds)", title=title, xlim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# experiment -> [(csv stem, group-by columns, plot kind)]
def outputs(name: str) -> list[tuple[str, list[str], str]]:
    if name == "poems":
        return [(f"compare_{t}", ["method"], "bar") for t in POEM_TASKS]
    if name == "ablations":
        return [("ablations_poems-3class", ["variant"], "bar")]
    if name == "sample-efficiency":
        return [("sample_efficiency_poems-3class", ["method", "size"], "curve")]
    if name == "goemotions":
        return [("compare_goemotions-ekman", ["method"], "bar")]
    if name == "goemotions-imbalance":
        return [("imbalance_goemotions-ekman", ["size", "method", "treatment"], "bar")]
    if name == "goemotions-28-imbalance":
        return [("imbalance_goemotions-28", ["size", "method", "treatment"], "bar")]
    if name == "tuning":
        return [("tuning_poems-3class", ["variant"], "bar")]
    if name == "tuning-cv":
        return [(f"cv_{t}{s}", ["variant"], "bar") for t in POEM_TASKS for s in ("", "_no_lm_ft")]
    return [(f"ensemble_{t}", ["direction"], "bar") for t in ("poems-3class", "goemotions-ekman")]


def run(
    name: str,
    seeds: list[int],
    quick: bool,
    out: Path,
    task: str = "poems-3class",
    no_lm_ft: bool = False,
    sizes: list | None = None,
    *,
    device: str = "cpu",
    methods: list[str] | None = None,
    treatments: list[str] | None = None,
) -> None:
    """Run experiment ``name``, training on ``device``. ``methods`` / ``treatments``: the
    imbalance experiments' subset of methods and treatments (default: all of them)."""
    kw = dict(seeds=seeds, quick=quick, out=out, verbose=True, device=device)
    imbalance = dict(sizes=sizes or [None])  # sizes: None = the default subset (GOEMOTIONS_SIZES)
    if methods:
        imbalance["methods"] = methods
    if treatments:
        imbalance["treatments"] = treatments
    if name == "poems":
        for task in POEM_TASKS:
            ex.compare_methods(task, **kw)
    elif name == "ablations":
        ex.ablations("poems-3class", **kw)
    elif name == "sample-efficiency":
        ex.sample_efficiency("poems-3class", **kw)
    elif name == "goemotions":
        ex.goemotions_compare(**kw)
    elif name == "goemotions-imbalance":
        ex.goemotions_imbalance(**imbalance, **kw)
    elif name == "goemotions-28-imbalance":
        ex.goemotions_imbalance(**imbalance, task="goemotions-28", **kw)
    elif name == "ensemble":
        ex.ensemble("poems-3class", **kw)
        ex.ensemble("goemotions-ekman", **kw)
    elif name == "tuning":
        ex.tune_stage3(task, **kw)
    elif name == "tuning-cv" and no_lm_ft:  # the defaults without stage 2, on the same folds
        ex.cross_validate_stage3(
            task,
            3,
            seeds[0],
            quick,
            [ex.DEFAULTS_VARIANT],
            out=out,
            verbose=True,
            finetune_lm=False,
            device=device,
        )
    elif name == "tuning-cv":  # 3 folds of the training verses, one seed
        ex.cross_validate_stage3(
            task, 3, seeds[0], quick, ex.CV_VARIANTS, out=out, verbose=True, device=device
        )


def summarize(
    name: str, out: Path, quick: bool, wall: float | None, n_seeds_asked: int, device: str = "cpu"
) -> str:
    """Markdown for ``<out>/<name>.md`` from the CSVs present (plots written alongside)."""
    mode = "QUICK (shrunk: fewer epochs/subsets; for demos, not for reporting)" if quick else "FULL"
    lines = [f"# {name} ({mode})", ""]
    lines.append(f"- machine of this command: {machine(device)}")
    lines.append(f"- written: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    if wall is not None:
        lines.append(f"- wall time of this command: {wall / 60:.1f} min")
    lines.append(f"- seeds asked: {n_seeds_asked}; the 'seeds' column says how many finished")
    lines.append("")
    for stem, by, kind in outputs(name):
        csv = out / f"{stem}.csv"
        if not csv.is_file():
            lines += [f"## {stem}", "", "(not run yet)", ""]
            continue
        df = pd.read_csv(csv)
        if "epoch" in df:  # tuning: one row per epoch; the table shows the last (README: the rest)
            df = df[df["epoch"] == df["n_epochs"]]
        if "fold" in df:  # cross-validation: the spread is between folds of one seed
            df = df.assign(seed=df["fold"])
        summary = results.summarize(df, by)
        done = int(summary["n_seeds"].min())
        short = done < n_seeds_asked and "fold" not in df
        partial = " (PARTIAL: fewer seeds than asked)" if short else ""
        table = results.markdown_table(summary, by)
        if "fold" in df:
            table = table.replace("| seeds |", "| folds |", 1)
        lines += [f"## {stem}{partial}", "", table, ""]
        shared_lm = name in ("ablations", "tuning", "tuning-cv")
        what = "stage 3 only: the fine-tuned LM is shared" if shared_lm else "stage 2 + 3"
        lines.append(f"Per-run rows: `{csv.name}`; seconds = wall time of one run ({what}).")
        if "device" in df:  # where the rows trained (older CSVs have no column: the CPU)
            counts = df["device"].value_counts()
            lines.append(
                "Trained on: " + ", ".join(f"{d} ({n} rows)" for d, n in counts.items()) + "."
            )
        if kind == "curve":
            plot(df, "size", out / f"{stem}.png", stem)
        elif len(by) > 1:  # one bar per combination of the group-by columns
            label = summary[by].astype(str).agg(" / ".join, axis=1)
            bar_plot(summary.assign(setting=label), "setting", out / f"{stem}.png", stem)
        else:
            bar_plot(summary, by[0], out / f"{stem}.png", stem)
        lines += [f"![{stem}]({stem}.png)", ""]
    text = "\n".join(lines)
    (out / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    return text


def _size(value: str) -> int | str:
    """A --sizes entry: a number of training comments, or 'all'."""
    return value if value == "all" else int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=[*EXPERIMENTS, *EXTRA, "all"])
    parser.add_argument("--quick", action="store_true", help="the minutes-on-a-CPU version")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--out", type=Path, default=Path("experiments/results"))
    parser.add_argument(
        "--task",
        choices=POEM_TASKS,
        default="poems-3class",
        help="the poems' view that tuning and tuning-cv select on",
    )
    parser.add_argument(
        "--no-lm-ft",
        action="store_true",
        help="tuning-cv: the default recipe without stage 2, on the same folds",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        default=None,
        help="goemotions-(28-)imbalance: training sizes, ints or 'all' (default: the "
        "subset of experiments.GOEMOTIONS_SIZES)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=ex.METHODS,
        default=None,
        help="goemotions-(28-)imbalance: only these methods (default: ulmfit and tfidf_logreg)",
    )
    parser.add_argument(
        "--treatments",
        nargs="+",
        choices=list(ex.IMBALANCE_TREATMENTS),
        default=None,
        help="goemotions-(28-)imbalance: only these treatments (default: all four)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="run this one seed only (to spread seeds over processes)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where to train: 'cpu' (default: bit-reproducible) or 'cuda'",
    )
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="only rebuild the markdown/plots from the CSVs already in --out",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (1 is fastest on a CPU shared with other jobs)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    out = args.out / ("quick" if args.quick else "full")
    out.mkdir(parents=True, exist_ok=True)
    names = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
    for name in names:
        wall = None
        if not args.summarize_only:
            start = time.time()
            run(
                name,
                seeds,
                args.quick,
                out,
                args.task,
                args.no_lm_ft,
                args.sizes,
                device=args.device,
                methods=args.methods,
                treatments=args.treatments,
            )
            wall = time.time() - start
        print(summarize(name, out, args.quick, wall, len(seeds), args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
