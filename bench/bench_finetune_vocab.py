"""Which vocabulary should stage 2 fine-tune with? Three rules, judged on the dev set.

ULMFiT §3.2 fine-tunes the pretrained LM on the target texts; the paper does not say which words
the fine-tuning vocabulary holds. The rules compared here:

- ``extend`` (the package's ``lm_recipes.finetune_vocab``): every pretrained word keeps its row,
  and the target texts' new words seen at least ``min_freq`` times are added (27k rows with
  ``general-fwd``). A word the classifier never saw in training still has its pretrained vector.
- ``target`` (fastai 2's ``language_model_learner``): only the target texts' words seen at least
  ``min_freq`` times, pretrained rows copied by token (``Vocab.build`` on the training texts): a
  softmax 14x smaller on 4,000 comments, so each LM step costs about half.
- ``union``: the target texts' words the pretrained model knows (seen at least once), plus their
  new words seen ``min_freq`` times: what ``target`` loses to ``min_freq`` on a small corpus, kept.
- ``extend-all-words``: ``extend``'s vocabulary with each training step's softmax over all of it
  (``finetune_lm(corpus_softmax=False)``), as the pipeline did before it scored only the target
  texts' words (``corpus_softmax=True``, which the other rules get).

Each run is ``pipeline.ulmfit_pipeline`` with the package's defaults, only the vocabulary rule
swapped, scored on the dev split after every classifier epoch (never on test). It appends one JSON
line per run to ``--out``; ``--summary`` prints the final-epoch dev scores per rule::

    python bench/bench_finetune_vocab.py --task poems-3class --rules extend target union --seeds 0 1
    python bench/bench_finetune_vocab.py --summary --out bench/results/finetune_vocab.jsonl

A poems run takes 4-5 minutes on one core, a GoEmotions run (4,000 comments) 35-45 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ulmfit_lesson import lm_recipes  # noqa: E402
from ulmfit_lesson.vocab import MIN_FREQ, Vocab  # noqa: E402


def target_vocab(
    pretrained_itos: Sequence[str], docs: Sequence[Sequence[str]], min_freq: int = MIN_FREQ
) -> Vocab:
    """fastai's rule: the target texts' own words seen ``min_freq`` times (pretrained ignored)."""
    return Vocab.build(docs, min_freq=min_freq)


def union_vocab(
    pretrained_itos: Sequence[str], docs: Sequence[Sequence[str]], min_freq: int = MIN_FREQ
) -> Vocab:
    """The target texts' words: known ones from one sighting, new ones from ``min_freq``."""
    known = set(pretrained_itos)
    counts = Counter(tok for doc in docs for tok in doc)
    kept = [tok for tok, c in counts.most_common() if tok in known or c >= min_freq]
    return Vocab.build([kept], min_freq=1)  # one sighting each: Vocab.build keeps their order


RULES = {
    "extend": lm_recipes.finetune_vocab,
    "target": target_vocab,
    "union": union_vocab,
    "extend-all-words": lm_recipes.finetune_vocab,
}


def run(task: str, rule: str, seed: int) -> dict:
    """One pipeline run with ``rule``'s vocabulary: the dev history and the LM's numbers."""
    from experiments.runner import load_task
    from ulmfit_lesson import pipeline

    original = lm_recipes.finetune_vocab
    lm_recipes.finetune_vocab = RULES[rule]  # finetune_lm looks it up at call time
    try:
        splits = load_task(task, seed=seed)
        start = time.time()
        result = pipeline.ulmfit_pipeline(
            splits["train"],
            splits["dev"],
            "general-fwd",
            lm_options=dict(corpus_softmax=rule != "extend-all-words"),
            progress=False,
            device="cpu",
            seed=seed,
        )
    finally:
        lm_recipes.finetune_vocab = original
    lm = result.lm
    return dict(
        task=task,
        rule=rule,
        seed=seed,
        seconds=round(time.time() - start, 1),
        lm_seconds=round(lm.seconds, 1),
        vocab=len(lm.vocab.itos),
        softmax_words=lm.settings["softmax_words"],  # the whole vocabulary without corpus_softmax
        lm_valid_loss=round(lm.after.loss, 4) if lm.after else None,
        unk_rates=lm.unk_rates,
        dev=[
            {k: e[k] for k in ("epoch", "accuracy", "macro_f1", "valid_loss")}
            for e in result.classifier.history
        ],
    )


def summarize(records: list[dict]) -> str:
    """A markdown table: per task, rule and seed, the vocabulary size, how many words a training
    step's softmax scored (records before ``softmax_words`` scored them all), the stage-2 LM's dev
    perplexity (where recorded), dev unknown-token rate and the last classifier epoch's dev
    accuracy and macro-F1."""
    lines = [
        "| task | rule | seed | vocabulary | softmax words | LM dev ppl | dev xxunk | dev acc "
        "| dev macro-F1 |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in sorted(records, key=lambda r: (r["task"], list(RULES).index(r["rule"]), r["seed"])):
        last = r["dev"][-1]
        loss = r.get("lm_valid_loss")
        lines.append(
            f"| {r['task']} | {r['rule']} | {r['seed']} | {r['vocab']:,} "
            f"| {r.get('softmax_words') or r['vocab']:,} "
            f"| {math.exp(loss) if loss is not None else float('nan'):.0f} "
            f"| {r['unk_rates']['valid_finetune_vocab']:.1%} | {last['accuracy']:.3f} "
            f"| {last['macro_f1']:.3f} |"
        )
    return "\n".join(lines).replace("| nan |", "| - |") + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="poems-3class", help="experiments.runner.TASKS")
    p.add_argument("--rules", nargs="+", choices=list(RULES), default=list(RULES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--out", type=Path, default=Path("finetune_vocab.jsonl"))
    p.add_argument("--summary", action="store_true", help="only print --out's table")
    args = p.parse_args(argv)
    if not args.summary:
        for seed in args.seeds:
            for rule in args.rules:
                record = run(args.task, rule, seed)
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
    records = [json.loads(line) for line in args.out.read_text(encoding="utf-8").splitlines()]
    print(summarize(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
