"""How many classifier epochs pay? Stage 3's epoch count, judged on the dev set.

The classifier's default, 10 epochs (4 of gradual unfreezing, then 6 with every layer group
trainable), was chosen by cross-validation over the 843 poems' training verses. On a training set
several times larger each epoch holds several times more optimizer steps, and the side-by-side with
fastai (``bench_time_to_accuracy.py``) spends most of its extra time there: on 4,000 GoEmotions
comments our classifier took 728 s for 10 epochs, fastai's 357 s for 5.

For each seed, one stage-2 LM is fine-tuned the way ``train-classifier`` does it
(``pipeline.ulmfit_pipeline``: the package's defaults, the corpus softmax) and every epoch count
in ``--epochs`` trains a classifier on it (the package's defaults otherwise, the same seed), scored
on the dev split after every epoch (never on test). One JSON line per classifier run goes to
``--out``; ``--summary`` prints the final-epoch dev scores and the classifier's seconds::

    python bench/bench_clas_epochs.py --task goemotions-ekman --epochs 10 7 5 --seeds 0 --threads 1
    python bench/bench_clas_epochs.py --summary --out bench/results/clas_epochs.jsonl

``--lm-epochs N``: stage 2's unfrozen epochs (default 4, the fixed count of the first study;
``train-classifier`` now takes ``schedules.finetune_epochs``, 2 on 4,000 comments).
``--lm-cache DIR`` keeps each seed's stage-2 LM (``DIR/<task>-seed<k>``) and reuses it when it is
there. A GoEmotions seed (4,000 comments) with ``--epochs 10 7 5`` takes about 80 minutes on one
core beside a second run. What it found: ``bench/results/clas_epochs.md`` (fewer epochs cost
GoEmotions' dev macro-F1; the default stays 10).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# Stage 2's fixed count before it scaled with the corpus (schedules.finetune_epochs: 2 on
# 4,000 GoEmotions comments); the first study's records, which have no lm_epochs, used it.
FIXED_LM_EPOCHS = 4


def stage2(task: str, seed: int, splits, cache: Path | None, lm_epochs: int):
    """The seed's stage-2 LM as ``pipeline.ulmfit_pipeline`` fine-tunes it (a folder when cached),
    with ``lm_epochs`` unfrozen epochs after the frozen one, and its seconds (None when cached)."""
    from ulmfit_lesson import lm_recipes

    name = (
        f"{task}-seed{seed}" if lm_epochs == FIXED_LM_EPOCHS else f"{task}-lm{lm_epochs}-seed{seed}"
    )
    folder = cache / name if cache else None
    if folder is not None and (folder / "lm.pt").exists():
        return folder, None
    start = time.time()
    lm = lm_recipes.finetune_lm(
        "general-fwd",
        splits["train"]["text"].astype(str).tolist(),
        splits["dev"]["text"].astype(str).tolist(),
        out_dir=folder,
        corpus_softmax=True,  # as the pipeline does, which also scores dev only before and after
        validate_epochs=False,
        epochs=lm_epochs,
        progress=False,
        device="cpu",
        seed=seed,
    )
    return (folder if folder is not None else lm), round(time.time() - start, 1)


def run(task: str, seed: int, epochs: list[int], cache: Path | None, lm_epochs: int):
    """Every epoch count's classifier on one stage-2 LM: yields a record each (dev history
    included) as soon as it is trained, so an interrupted run keeps what finished."""
    from experiments.runner import load_task
    from ulmfit_lesson.clas_recipes import train_classifier

    splits = load_task(task, seed=seed)
    lm, lm_seconds = stage2(task, seed, splits, cache, lm_epochs)
    for n in epochs:
        start = time.time()
        result = train_classifier(
            splits["train"]["text"].astype(str).tolist(),
            splits["train"]["label"].tolist(),
            splits["dev"]["text"].astype(str).tolist(),
            splits["dev"]["label"].tolist(),
            lm=lm,
            epochs=n,
            seed=seed,
            device="cpu",
            progress=False,
        )
        yield dict(
            task=task,
            seed=seed,
            epochs=n,
            lm_epochs=lm_epochs,
            lm_seconds=lm_seconds,
            n_train=len(splits["train"]),
            seconds=round(time.time() - start, 1),
            dev=[
                {k: e[k] for k in ("epoch", "accuracy", "macro_f1", "valid_loss", "seconds")}
                for e in result.history
            ],
        )


def summarize(records: list[dict]) -> str:
    """Per task, LM epochs and classifier epochs: the seeds, mean final-epoch dev accuracy and
    macro-F1, the classifier's mean seconds, and against the task's longest recipe (most LM
    epochs, then most classifier epochs) on the same seeds: how many seeds matched or beat it in
    macro-F1. Records without ``lm_epochs`` (the first study's) had the default."""
    lines = [
        "| task | LM epochs | clas epochs | seeds | dev acc | dev macro-F1 "
        "| F1 >= longest's | classifier s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    by_task: dict[str, dict[tuple[int, int], dict[int, dict]]] = {}
    for r in records:  # a later record of the same (task, recipe, seed) replaces an earlier one
        recipe = (r.get("lm_epochs", FIXED_LM_EPOCHS), r["epochs"])
        by_task.setdefault(r["task"], {}).setdefault(recipe, {})[r["seed"]] = r
    for task, by_recipe in sorted(by_task.items()):
        longest = by_recipe[max(by_recipe)]
        for (lm_n, n), runs in sorted(by_recipe.items(), reverse=True):
            last = [r["dev"][-1] for r in runs.values()]
            paired = [s for s in runs if s in longest]
            wins = sum(
                runs[s]["dev"][-1]["macro_f1"] >= longest[s]["dev"][-1]["macro_f1"] for s in paired
            )
            lines.append(
                f"| {task} | 1+{lm_n} | {n} | {len(runs)} "
                f"| {statistics.mean(e['accuracy'] for e in last):.3f} "
                f"| {statistics.mean(e['macro_f1'] for e in last):.3f} "
                f"| {wins} of {len(paired)} "
                f"| {statistics.mean(r['seconds'] for r in runs.values()):,.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="goemotions-ekman", help="experiments.runner.TASKS")
    p.add_argument("--epochs", nargs="+", type=int, default=[10, 7, 5])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument(
        "--lm-epochs", type=int, default=FIXED_LM_EPOCHS, help="stage 2's unfrozen epochs"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--lm-cache", type=Path, default=None, help="keep/reuse stage-2 LMs here")
    p.add_argument("--out", type=Path, default=Path("clas_epochs.jsonl"))
    p.add_argument("--summary", action="store_true", help="only print --out's table")
    args = p.parse_args(argv)
    if not args.summary:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        for seed in args.seeds:
            for record in run(args.task, seed, args.epochs, args.lm_cache, args.lm_epochs):
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
    records = [json.loads(line) for line in args.out.read_text(encoding="utf-8").splitlines()]
    print(summarize(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
