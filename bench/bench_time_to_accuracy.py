"""Time to accuracy: the package's ULMFiT recipe against fastai's, on the same data and weights.

Both sides run ULMFiT's stages 2 and 3 (Howard & Ruder 2018, §3.2 target task LM fine-tuning and
§3.3 classifier fine-tuning) from the course's pretrained LM (``general-fwd``, stage 1, §3.1), one
after the other on this machine, with the same splits, seed and thread count, on the CPU:

- **ours**: ``python -m ulmfit_lesson train-classifier`` with its defaults, as a learner runs it
  (LM: 1 frozen + 4 epochs; classifier: 10 epochs, gradual unfreezing, discriminative LRs, STLR);
- **fastai**: fastai's documented recipe (``fastai_recipe.py``: fastbook chapter 10; LM: 1 frozen +
  ``--fastai-lm-epochs`` epochs, fastbook's 10; classifier: 1 + 1 + 1 + 2 epochs of gradual
  unfreezing), run by a separate interpreter that has fastai (never a dependency of the package).

For each dataset and side it reports the wall time and CPU time of the whole run (the process and
its children: ``getrusage(RUSAGE_CHILDREN)`` before and after), the test accuracy and macro-F1
(both sides scored here the same way, ``ulmfit_lesson.metrics`` on a confusion matrix of the test
split, used once at the end) and the *time to final accuracy*: the first classifier epoch whose
validation (dev) accuracy reaches that of the last epoch, and the seconds from the start of the run
to its end. A recipe that gets there in its third epoch of ten spends the rest on nothing the final
model shows. Then the ratios ours / fastai.

Datasets: ``poems`` (Poem Sentiment, 3 classes: 843 / 105 / 104 verses) and ``goemotions``
(GoEmotions mapped to Ekman's 6 emotions + neutral, single-label: 4,000 training comments, 1,000
dev, the test split), the course's splits (``experiments/runner.py``, ``load_task``).

The fastai environment (its own virtual environment, outside the project)::

    python -m venv fastai-env
    fastai-env/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12

Run from the repo root (``ULMFIT_DATA`` must find ``general-fwd`` and the datasets)::

    .venv/bin/python bench/bench_time_to_accuracy.py --fastai-python fastai-env/bin/python --write
    .venv/bin/python bench/bench_time_to_accuracy.py --quick --datasets poems   # harness check

``--fastai-python`` defaults to ``$FASTAI_PYTHON``. ``--quick`` is a smoke test of the harness
(about 100 training texts, one epoch per stage: a few minutes); its numbers mean nothing. A full run
takes about 46 minutes on 2 cores; run it on an otherwise idle machine, or the times measure the
neighbours (the table's last column, other processes' CPU seconds during each run, shows it). ``--write`` records the table in ``bench/results/time_to_accuracy.md``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ulmfit_lesson import metrics, registry  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "time_to_accuracy.md"
FASTAI_RECIPE = Path(__file__).resolve().parent / "fastai_recipe.py"
DATASETS = {"poems": "poems-3class", "goemotions": "goemotions-ekman"}  # name -> load_task task
QUICK_SIZES = {"train": 100, "dev": 50, "test": 100}
FASTAI_LM_EPOCHS = 10  # fastbook chapter 10 and fastai's text tutorial
FASTAI_LAST_EPOCHS = 2  # fastbook: fit_one_cycle(2, ...) once everything is unfrozen
QUICK_EPOCHS = 1  # --quick: fastai's unfrozen LM and last classifier stage (ours: its --quick)


@dataclass
class Side:
    """One recipe's run on one dataset."""

    name: str
    wall_s: float
    cpu_s: float
    test_accuracy: float
    test_macro_f1: float
    valid_accuracy: list[float]  # per classifier epoch
    epoch_end_s: list[float]  # per classifier epoch: seconds from the start of the run
    epochs: str  # "LM frozen + unfrozen / classifier", e.g. "1+4 / 10"
    versions: dict[str, str] = field(default_factory=dict)
    others_cpu_s: float = float("nan")  # CPU seconds other processes used meanwhile: was it alone?

    @property
    def reached(self) -> int:
        return first_reaching_final(self.valid_accuracy)

    @property
    def reached_s(self) -> float:
        return self.epoch_end_s[self.reached]


# ----------------------------------------------------------------------------- the pure parts


def first_reaching_final(values: list[float]) -> int:
    """The index of the first value at least as high as the last one: the epoch from which on
    training no longer raised the final score. Raises ``ValueError`` on an empty list."""
    if not values:
        raise ValueError("no epochs")
    final = values[-1]
    return next(i for i, v in enumerate(values) if v >= final)


def ratio(ours: float, theirs: float) -> float:
    """``ours / theirs``; NaN where that is undefined (a zero or missing denominator)."""
    if theirs is None or ours is None or theirs == 0 or math.isnan(theirs):
        return float("nan")
    return ours / theirs


def scores_from_confusion(cm) -> tuple[float, float]:
    """``(accuracy, macro_f1)`` of a confusion matrix (``cm[true][predicted]``). Macro-F1 averages
    the classes present in the truth or the predictions, as ``metrics.macro_f1`` does."""
    cm = np.asarray(cm)
    f1 = [s for s in metrics.f1_per_class(cm) if s == s]
    return float(np.trace(cm) / cm.sum()), float(np.mean(f1)) if f1 else float("nan")


def confusion_by_name(true: list[str], predicted: list[str], labels: list[str]) -> list[list[int]]:
    """The confusion matrix of label strings, rows and columns in the order of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    y_true = [index[t] for t in true]
    y_pred = [index[p] for p in predicted]
    return metrics.confusion_matrix(y_true, y_pred, len(labels))


def epoch_ends_counted_back(seconds: list[float], training_end_s: float) -> list[float]:
    """When each epoch ended, from each epoch's duration and when the last one ended."""
    tails = np.cumsum([0.0, *seconds[:0:-1]])[::-1]  # for epoch k: the epochs after it
    return [training_end_s - float(t) for t in tails]


def _fmt(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def markdown_tables(results: dict[str, tuple[Side, Side]]) -> str:
    """Per dataset and side, then the ratios ours / fastai, as two markdown tables."""
    lines = [
        "| dataset | recipe | epochs (LM / clas) | wall s | CPU s | test acc | test macro-F1 "
        "| valid acc (final) | reached at epoch | at s | others' CPU s |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for dataset, sides in results.items():
        for s in sides:
            lines.append(
                f"| {dataset} | {s.name} | {s.epochs} | {_fmt(s.wall_s)} | {_fmt(s.cpu_s)} "
                f"| {_fmt(s.test_accuracy, 4)} | {_fmt(s.test_macro_f1, 4)} "
                f"| {_fmt(s.valid_accuracy[-1], 4)} | {s.reached + 1} of {len(s.valid_accuracy)} "
                f"| {_fmt(s.reached_s)} | {_fmt(s.others_cpu_s)} |"
            )
    lines += [
        "",
        "| dataset | wall ours/fastai | CPU ours/fastai | time to final acc ours/fastai "
        "| test error ours/fastai |",
        "|---|--:|--:|--:|--:|",
    ]
    for dataset, (ours, theirs) in results.items():
        error = ratio(1 - ours.test_accuracy, 1 - theirs.test_accuracy)
        lines.append(
            f"| {dataset} | {_fmt(ratio(ours.wall_s, theirs.wall_s), 2)} "
            f"| {_fmt(ratio(ours.cpu_s, theirs.cpu_s), 2)} "
            f"| {_fmt(ratio(ours.reached_s, theirs.reached_s), 2)} | {_fmt(error, 2)} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- data and weights


def load_splits(dataset: str, quick: bool, seed: int) -> dict[str, pd.DataFrame]:
    """train / dev / test (``text``, ``label`` as str) of one of ``DATASETS``; ``quick``: a sample
    of ``QUICK_SIZES``, dev and test kept to the labels the sampled training texts have."""
    from experiments import runner  # the course's splits; imported here, it loads torch

    frames = runner.load_task(DATASETS[dataset], quick=quick, seed=seed)
    frames = {
        k: df.assign(label=df["label"].astype(str))[["text", "label"]] for k, df in frames.items()
    }
    if quick:
        frames = {
            k: df.sample(min(QUICK_SIZES[k], len(df)), random_state=seed)
            for k, df in frames.items()
        }
        seen = set(frames["train"]["label"])
        frames = {k: df[df["label"].isin(seen)] for k, df in frames.items()}
    return {k: df.reset_index(drop=True) for k, df in frames.items()}


def pretrained_files(name: str) -> tuple[Path, Path]:
    """The ``.pth`` state dict and ``itos`` ``.pkl`` of a registry LM (fastai's model-zoo layout)
    or of a folder holding one."""
    folder = registry.fetch(name) if name in registry.REGISTRY else Path(name)
    weights = sorted(folder.rglob("*.pth"))
    vocabs = sorted(folder.rglob("*.pkl"))
    if len(weights) != 1 or len(vocabs) != 1:
        raise SystemExit(f"{folder}: expected one .pth and one .pkl, found {weights + vocabs}")
    return weights[0], vocabs[0]


# ----------------------------------------------------------------------------- the two runs


def machine_busy_s(stat: Path = Path("/proc/stat")) -> float:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``: user, nice,
    system, irq, softirq, steal); NaN where there is no such file."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_timed(cmd: list[str], log: Path, threads: int) -> tuple[float, float, float, float]:
    """Run ``cmd`` (output to ``log``): ``(start time.time(), wall s, CPU s of it and its
    children, CPU s the rest of the machine used meanwhile)``. The last one says whether the run
    had the machine to itself: a neighbour's minute of CPU is a minute the run may have waited.
    Exits with the log's tail if it fails."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    busy_before = machine_busy_s()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start, t0 = time.time(), time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    others = max(0.0, machine_busy_s() - busy_before - cpu)
    if code != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed (exit {code}); end of {log}:\n{tail}")
    return start, wall, cpu, others


def run_ours(data: Path, work: Path, args) -> Side:
    """``train-classifier`` with its defaults (``--quick`` in a quick bench)."""
    out = work / "ours"
    cmd = [sys.executable, "-m", "ulmfit_lesson", "train-classifier"]
    cmd += ["--train", str(data / "train.csv"), "--valid", str(data / "dev.csv")]
    cmd += ["--test", str(data / "test.csv"), "--pretrained", args.pretrained, "--out", str(out)]
    cmd += ["--seed", str(args.seed), "--device", "cpu", "--no-progress", "--overwrite"]
    cmd += ["--quick"] if args.quick else []
    cmd += shlex.split(args.ours_args)  # e.g. "--patience 2": a variant of the defaults
    start, wall, cpu, others = run_timed(cmd, work / "ours.log", args.threads)
    path = out / "metrics.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    # The classifier's training ended before the evaluation that metrics.json times (and before
    # the classifier was saved: its end is placed at most that save's time too late).
    training_end = path.stat().st_mtime - m["timings"]["evaluate_s"] - start
    history = m["history"]
    lm = json.loads((out / "lm" / "metrics.json").read_text(encoding="utf-8"))["settings"]
    accuracy, macro_f1 = scores_from_confusion(m["confusion_matrix"])
    return Side(
        name="ours",
        wall_s=wall,
        cpu_s=cpu,
        test_accuracy=accuracy,
        test_macro_f1=macro_f1,
        valid_accuracy=[r["accuracy"] for r in history],
        epoch_end_s=epoch_ends_counted_back([r["seconds"] for r in history], training_end),
        epochs=f"{lm['frozen_epochs']}+{lm['epochs']} / {len(history)}",
        versions={"torch": importlib.metadata.version("torch")},
        others_cpu_s=others,
    )


def run_fastai(data: Path, work: Path, args) -> Side:
    """``fastai_recipe.py`` in the fastai interpreter, on the same files and weights."""
    out = work / "fastai"
    weights, vocab = pretrained_files(args.pretrained)
    quick = args.quick
    lm_epochs = QUICK_EPOCHS if quick else args.fastai_lm_epochs
    last_epochs = QUICK_EPOCHS if quick else FASTAI_LAST_EPOCHS
    cmd = [args.fastai_python, str(FASTAI_RECIPE), "--data", str(data), "--out", str(out)]
    cmd += ["--weights", str(weights), "--vocab", str(vocab), "--seed", str(args.seed)]
    cmd += ["--threads", str(args.threads), "--lm-epochs", str(lm_epochs)]
    cmd += ["--last-epochs", str(last_epochs)]
    start, wall, cpu, others = run_timed(cmd, work / "fastai.log", args.threads)
    h = json.loads((out / "history.json").read_text(encoding="utf-8"))
    test = pd.read_csv(data / "test.csv", keep_default_na=False, dtype=str)
    predicted = pd.read_csv(out / "predictions.csv", keep_default_na=False, dtype=str)
    order = sorted(set(test["label"]) | set(predicted["prediction"]))
    cm = confusion_by_name(list(test["label"]), list(predicted["prediction"]), order)
    accuracy, macro_f1 = scores_from_confusion(cm)
    s = h["settings"]
    return Side(
        name="fastai",
        wall_s=wall,
        cpu_s=cpu,
        test_accuracy=accuracy,
        test_macro_f1=macro_f1,
        valid_accuracy=[r["accuracy"] for r in h["history"]],
        epoch_end_s=[r["t"] - start for r in h["history"]],
        epochs=f"{'+'.join(map(str, s['lm_epochs']))} / {sum(s['clas_epochs'])}",
        versions=h["versions"],
        others_cpu_s=others,
    )


# ----------------------------------------------------------------------------- the report


def machine() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """The cores this process may run on (all of them unless restricted by affinity)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def report(results: dict[str, tuple[Side, Side]], args) -> str:
    ours, theirs = next(iter(results.values()))
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "# Time to accuracy: the package's recipe against fastai's\n\n"
        f"`bench/bench_time_to_accuracy.py{' --quick' if args.quick else ''}`, {when}: "
        f"{machine()}, {os.cpu_count()} CPUs, {args.threads} threads for both; "
        f"Python {platform.python_version()}; ours torch {ours.versions.get('torch')}, fastai "
        f"{theirs.versions.get('fastai')} on torch {theirs.versions.get('torch')}; pretrained "
        f"`{args.pretrained}`, seed {args.seed}"
        + (f"; ours with `{args.ours_args}`" if args.ours_args else "")
        + ".\n\n"
        "Wall and CPU seconds: the whole run (imports, tokenizing, LM fine-tuning, classifier, "
        "test predictions). *Reached at epoch*: the first classifier epoch whose validation "
        "accuracy is at least the final one, and its end in seconds from the start of the run. "
        "Test accuracy and macro-F1: both sides' test predictions scored the same way "
        "(`ulmfit_lesson.metrics`). *Others' CPU s*: what the rest of the machine used while the run "
        "ran (`/proc/stat`); near 0, the run had the machine to itself.\n\n"
        + markdown_tables(results)
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    p.add_argument(
        "--ours-args", default="", help="extra train-classifier flags, e.g. '--patience 2'"
    )
    p.add_argument(
        "--fastai-python",
        default=os.environ.get("FASTAI_PYTHON"),
        help="interpreter of an environment with fastai (default: $FASTAI_PYTHON)",
    )
    p.add_argument("--fastai-lm-epochs", type=int, default=FASTAI_LM_EPOCHS)
    p.add_argument("--pretrained", default="general-fwd", help="registry name or model-zoo folder")
    p.add_argument("--threads", type=int, default=usable_cpus(), help="default: all cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="~100 texts, 1 epoch a stage: smoke test")
    p.add_argument("--work", type=Path, default=None, help="keep data, logs and runs here")
    p.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(REPO_ROOT)}")
    args = p.parse_args(argv)
    if not args.fastai_python:
        raise SystemExit("name fastai's interpreter: --fastai-python PATH or FASTAI_PYTHON=PATH")

    results: dict[str, tuple[Side, Side]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tta-") as tmp:
        root = args.work or Path(tmp)
        for dataset in args.datasets:
            work = root / dataset
            data = work / "data"
            data.mkdir(parents=True, exist_ok=True)
            for split, df in load_splits(dataset, args.quick, args.seed).items():
                df.to_csv(data / f"{split}.csv", index=False)
            print(f"{dataset}: ours ...", flush=True)
            ours = run_ours(data, work, args)
            print(f"{dataset}: fastai ...", flush=True)
            results[dataset] = (ours, run_fastai(data, work, args))
    text = report(results, args)
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
