"""Write the experiment tables of docs/results.md from the committed CSVs in ``experiments/results/``.

    python experiments/readme_tables.py          # rewrite the blocks in docs/results.md and README.md
    python experiments/readme_tables.py --check  # exit 1 if either is out of date (a test runs this)

Each table sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in docs/results.md
and the few numbers of the README's "Results at a glance" between the same kind of markers, so the
numbers there are always the ones the CSVs hold: rerun this after rerunning an experiment.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
RESULTS_DOC = ROOT / "docs" / "results.md"
README = ROOT / "README.md"  # "Results at a glance": a few numbers, the same CSVs


def fmt(mean: float, std: float, n: int) -> str:
    """``0.698 ± 0.034`` over ``n`` seeds; just the mean for a single run (no spread was measured)."""
    return f"{mean:.3f} ± {std:.3f}" if n > 1 else f"{mean:.3f}"


def mean_std(values: pd.Series) -> str:
    return fmt(values.mean(), values.std(), len(values))


def per_group(
    csv: Path,
    by: str,
    columns: tuple[str, ...] = ("accuracy", "macro_f1", "seconds"),
    only: Sequence[str] | None = None,
    suffix: str = "",
):
    """One markdown row per ``by`` group (``only``: just these groups; ``suffix`` added to names)."""
    df = pd.read_csv(csv)
    rows = []
    for key, g in df.groupby(by, sort=False):
        if only is not None and key not in only:
            continue
        cells = [mean_std(g[c]) if c != "seconds" else f"{g[c].mean():.0f}" for c in columns]
        rows.append(f"| {key}{suffix} | " + " | ".join(cells) + " |")
    return "\n".join(rows), int(df["seed"].nunique())


# The runs made with the earlier defaults, newest first, kept to show what each change did
# (docs/results.md, "What moved it"): the paper's dropouts with 6 classifier epochs, and before that fastai's dropouts.
EARLIER = {"6_epochs": " (6 epochs, earlier)", "drop_mult_0.5": " (drop_mult 0.5, 6 epochs, earlier)"}  # fmt: skip


def compare(task: str) -> tuple[str, int]:
    """The compare table of ``task``, plus the pretrained methods' rows from the earlier defaults."""
    rows, n = per_group(RESULTS / "full" / f"compare_{task}.csv", "method")
    for folder, suffix in EARLIER.items():
        before, _ = per_group(RESULTS / "full" / folder / f"compare_{task}.csv", "method",
                              only=("ulmfit", "ulmfit_no_lm_ft"), suffix=suffix)  # fmt: skip
        rows += f"\n{before}"
    return rows, n


def gpu_runs() -> tuple[str, str]:
    """The package's recipe run on a GPU: the ablations' baseline rows (5 seeds on an H200; the same
    recipe as the compare table's ``ulmfit``, other kernels and rounding). Returns (a compare-table
    row, a sentence pooling every run of the recipe: the compare table's CPU rows and these)."""
    gpu = pd.read_csv(RESULTS / "full" / "ablations_poems-3class.csv")
    gpu = gpu[gpu["variant"] == "ulmfit (freez+discr+stlr)"]
    row = (f"| ulmfit (the same recipe on a GPU) | {mean_std(gpu['accuracy'])} | "
           f"{mean_std(gpu['macro_f1'])} | {gpu['seconds'].mean():.0f} |")  # fmt: skip
    cpu = pd.read_csv(RESULTS / "full" / "compare_poems-3class.csv")
    both = pd.concat([cpu[cpu["method"] == "ulmfit"], gpu])
    pooled = (f"{mean_std(both['accuracy'])} accuracy / {mean_std(both['macro_f1'])} macro-F1 over "
              f"{len(both)} runs ({len(both) - len(gpu)} on the CPU, {len(gpu)} on a GPU)")  # fmt: skip
    return row, pooled


def sample_efficiency(csv: Path) -> str:
    """One row per training-set size; each cell ``accuracy / macro-F1`` (accuracy alone hides a
    model that always answers the majority class, 0.663 on the poems' 3-class test split)."""
    df = pd.read_csv(csv)
    methods = ("ulmfit", "scratch", "tfidf_logreg")
    rows = []
    for size, g in df.groupby("size"):
        runs = {m: g[g.method == m] for m in methods}
        cells = [
            f"{mean_std(r['accuracy'])} / {mean_std(r['macro_f1'])}" if len(r) else "-"
            for r in runs.values()
        ]
        rows.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ensemble(csv: Path) -> str:
    df = pd.read_csv(csv)
    acc = df.groupby("direction", sort=False)["accuracy"].mean()
    f1 = df.groupby("direction", sort=False)["macro_f1"].mean()
    n = df["seed"].nunique()
    scores = "; ".join(f"{d} {acc[d]:.3f} accuracy / {f1[d]:.3f} macro-F1" for d in acc.index)
    return f"{scores} ({f'mean of {n} seeds' if n > 1 else 'one seed'})."


def tuning(csv: Path) -> str:
    """Per stage-3 variant: dev and test scores after the last epoch and at the best dev epoch."""
    from ulmfit_lesson.course.results import tuning_summary

    rows = []
    for _, r in tuning_summary(pd.read_csv(csv)).iterrows():
        n = int(r.n_seeds)
        cells = [
            fmt(r[f"{c}_mean"], r[f"{c}_std"], n)
            for c in ("dev_accuracy", "dev_macro_f1", "accuracy", "macro_f1")
        ]
        rows.append(f"| {r.variant} | {r.epochs} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def imbalance(csv: Path) -> tuple[str, str]:
    """Issue 22: per (size, method, treatment) the test scores, dev macro-F1, seconds and where it
    trained; and each class's test F1 (mean over seeds, under each row's decision rule) at 4,000
    comments and on the whole training split (the largest size)."""
    from ulmfit_lesson.course.results import class_f1

    df = pd.read_csv(csv)
    rows = []
    for (size, method, treatment), g in df.groupby(["size", "method", "treatment"], sort=False):
        cells = [mean_std(g[c]) for c in ("accuracy", "macro_f1", "dev_macro_f1")]
        rows.append(
            f"| {size:,} | {method} | {treatment} | " + " | ".join(cells)
            + f" | {g['seed'].nunique()} | {g['seconds'].mean():.0f} | {DEVICE[g['device'].iloc[0]]} |"
        )  # fmt: skip
    head = ["training comments", "method", "treatment", "test accuracy", "test macro-F1",
            "dev macro-F1", "seeds", "seconds/run", "trained on"]  # fmt: skip
    shown = df[df["size"].isin([4000, df["size"].max()])]
    per_class = class_f1(shown.assign(size=shown["size"].map("{:,}".format)), ["size", "method", "treatment"])  # fmt: skip
    f1_rows = "\n".join(
        f"| {name} | " + " | ".join(f"{v:.2f}" for v in r) + " |"
        for name, r in per_class.iterrows()
    )
    return table(head, "\n".join(rows)), table(["comments · method · treatment", *per_class.columns], f1_rows)  # fmt: skip


def imbalance_28(csv: Path, treatment: str = "balanced + tuned") -> str:
    """The 28-label view: each label's test F1 under ``treatment`` (mean over seeds), one row per
    label (alphabetical), one column per (training size, method)."""
    from ulmfit_lesson.course.results import class_f1

    df = pd.read_csv(csv)
    df = df[df["treatment"] == treatment]
    per_label = class_f1(df.assign(size=df["size"].map("{:,}".format)), ["size", "method"]).T
    rows = "\n".join(
        f"| {name} | " + " | ".join(f"{v:.2f}" for v in r) + " |"
        for name, r in per_label.iterrows()
    )
    return table([f"label ({treatment})", *per_label.columns], rows)


# Where a row trained: the runners' ``device`` column, in the tables' words.
DEVICE = {"cpu": "CPU", "cuda": "GPU"}


def table(head: list[str], rows: str) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head), rows])


def blocks() -> dict[str, str]:
    full, quick = RESULTS / "full", RESULTS / "quick"
    method_head = ["method", "accuracy", "macro-F1", "seconds/run"]
    out = {}
    rows, _ = compare("poems-3class")
    gpu_row, out["ulmfit-all-runs"] = gpu_runs()
    out["poems-3class"] = table(method_head, rows.replace("\n", f"\n{gpu_row}\n", 1))
    rows, n = compare("poems-binary")
    out["poems-binary"], out["poems-binary-seeds"] = table(method_head, rows), str(n)
    rows, _ = per_group(full / "ablations_poems-3class.csv", "variant", ("accuracy", "macro_f1"))
    out["ablations"] = table(["stage-3 variant", "accuracy", "macro-F1"], rows)
    out["sample-efficiency"] = table(
        ["labelled verses", "ULMFiT (acc / F1)", "from scratch", "TF-IDF + LR"],
        sample_efficiency(full / "sample_efficiency_poems-3class.csv"),
    )
    out["ensemble"] = ensemble(full / "ensemble_poems-3class.csv")
    out["ensemble-goemotions"] = ensemble(quick / "ensemble_goemotions-ekman.csv")
    variant = pd.read_csv(full / "stage2_dropmult1_1epoch" / "compare_poems-3class.csv")
    out["stage2-variant"] = (
        f"{mean_std(variant['accuracy'])} accuracy / {mean_std(variant['macro_f1'])} macro-F1 "
        f"over {variant['seed'].nunique()} seeds"
    )
    out["tuning"] = table(
        ["stage-3 variant", "weights kept", "seeds", "dev accuracy", "dev macro-F1",
         "test accuracy", "test macro-F1"],
        tuning(full / "tuning_poems-3class.csv"),
    )  # fmt: skip
    cv_head = ["stage-3 variant", "held-out accuracy", "held-out macro-F1"]
    for task, name in (("poems-3class", "tuning-cv"), ("poems-binary", "tuning-cv-binary")):
        rows, _ = per_group(full / f"cv_{task}.csv", "variant", ("accuracy", "macro_f1"))
        no_lm_ft = full / f"cv_{task}_no_lm_ft.csv"  # the defaults without stage 2, same folds
        if no_lm_ft.is_file():
            rows += "\n" + per_group(no_lm_ft, "variant", ("accuracy", "macro_f1"))[0]
        out[name] = table(cv_head, rows)
    rows, n = per_group(full / "compare_goemotions-ekman.csv", "method")
    out["goemotions"], out["goemotions-seeds"] = table(method_head, rows), str(n)
    rows, _ = per_group(quick / "compare_goemotions-ekman.csv", "method", ("accuracy", "macro_f1"))
    out["goemotions-quick"] = table(["method", "accuracy", "macro-F1"], rows)
    out["goemotions-imbalance"], out["goemotions-class-f1"] = imbalance(
        full / "imbalance_goemotions-ekman.csv"
    )
    out["goemotions-28"], _ = imbalance(full / "imbalance_goemotions-28.csv")
    out["goemotions-28-label-f1"] = imbalance_28(full / "imbalance_goemotions-28.csv")
    return out


def scores(csv: Path, method: str, by: str = "method") -> str:
    """``accuracy / macro-F1`` of ``method``, mean over its runs (seeds)."""
    df = pd.read_csv(csv)
    runs = df[df[by] == method]
    if runs.empty:
        raise SystemExit(f"{csv}: no runs of {method!r}")
    return f"{runs['accuracy'].mean():.3f} / {runs['macro_f1'].mean():.3f}"


def glance() -> dict[str, str]:
    """The README's "Results at a glance": one sentence's numbers per line (means over seeds)."""
    full = RESULTS / "full"
    p3, p2 = full / "compare_poems-3class.csv", full / "compare_poems-binary.csv"
    goemotions = full / "compare_goemotions-ekman.csv"
    curve = pd.read_csv(full / "sample_efficiency_poems-3class.csv")
    at = curve[(curve["method"] == "ulmfit") & (curve["size"] == 100)]["accuracy"].mean()
    everything = curve[(curve["method"] == "tfidf_logreg")]
    tfidf_all = everything[everything["size"] == everything["size"].max()]
    return {
        "glance-poems": (
            f"ULMFiT {scores(p3, 'ulmfit')}, TF-IDF + logistic regression "
            f"{scores(p3, 'tfidf_logreg')}, the same network from scratch {scores(p3, 'scratch')}"
        ),
        "glance-binary": (
            f"ULMFiT {scores(p2, 'ulmfit')}, TF-IDF {scores(p2, 'tfidf_logreg')}, "
            f"from scratch {scores(p2, 'scratch')}"
        ),
        "glance-sample": (
            f"{at:.3f} accuracy with 100 labelled verses, against TF-IDF's "
            f"{tfidf_all['accuracy'].mean():.3f} with all {int(tfidf_all['size'].max())}"
        ),
        "glance-goemotions": (
            f"ULMFiT {scores(goemotions, 'ulmfit')}, TF-IDF {scores(goemotions, 'tfidf_logreg')}"
        ),
        "glance-goemotions-all": _glance_whole_split(full / "imbalance_goemotions-ekman.csv"),
    }


def _glance_whole_split(csv: Path) -> str:
    """ULMFiT and TF-IDF trained on GoEmotions' whole Ekman training split, plain cross-entropy."""
    df = pd.read_csv(csv)
    whole = df[(df["size"] == df["size"].max()) & (df["treatment"] == "plain")]
    by = whole.groupby("method").agg(
        accuracy=("accuracy", "mean"), macro_f1=("macro_f1", "mean"), seeds=("seed", "nunique")
    )

    def say(name: str, method: str) -> str:
        r = by.loc[method]
        seeds = f"{int(r['seeds'])} seeds" if r["seeds"] > 1 else "1 seed"
        return f"{name} {r['accuracy']:.3f} / {r['macro_f1']:.3f} ({seeds})"

    size = int(whole["size"].iloc[0])
    return f"{size:,} comments: {say('ULMFiT', 'ulmfit')}, {say('TF-IDF', 'tfidf_logreg')}"


def render(text: str, tables: dict[str, str]) -> str:
    for name, body in tables.items():
        pattern = re.compile(
            rf"(<!-- results:{re.escape(name)} -->)(.*?)(<!-- /results:{re.escape(name)} -->)", re.S
        )
        if not pattern.search(text):
            raise SystemExit(f"no <!-- results:{name} --> block to fill")
        filling = body if "\n" not in body else f"\n{body}\n"  # a table gets its own lines
        text = pattern.sub(lambda m, filling=filling: m.group(1) + filling + m.group(3), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that docs/results.md and README.md are current",
    )
    args = parser.parse_args(argv)
    stale = []
    for path, tables in ((RESULTS_DOC, blocks()), (README, glance())):
        text = path.read_text(encoding="utf-8")
        new = render(text, tables)
        if new == text:
            continue
        stale.append(path.relative_to(ROOT).as_posix())
        if not args.check:
            path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"{', '.join(stale)}: numbers differ from experiments/results/: "
              "run python experiments/readme_tables.py")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
