"""Tiny training runs for ``tests/test_reliability.py``: run here, or in a subprocess to interrupt.

    python tests/interruptible_training.py lm|classifier CHECKPOINT [--resume] [--delay SECONDS]

Trains a tiny language model (``fit_lm``) or classifier (``train_classifier``, from scratch) on the
CPU with one thread, checkpointing after every epoch, and prints the metrics as one JSON line. With
``--delay`` every optimizer step first sleeps that long, so a test can send SIGINT or SIGTERM in the
middle of an epoch; sleeping changes no number. Interrupted, it prints the message of
``TrainingInterrupted`` to stderr and exits with 130, as the command line does.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from pathlib import Path

import torch

from ulmfit_lesson.clas_recipes import train_classifier
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.train import fit_lm

LM_EPOCHS = 4
CLAS_EPOCHS = 5
WORDS = ["calm", "storm", "light", "night", "sea", "stone", "song", "rain"]


def lm_run(checkpoint=None, resume=False, seed=0, init_seed=None) -> dict:
    """Train a tiny LM on a repeating 10-word cycle; return every step's loss and epoch metrics.

    ``init_seed``: initialise the weights from another seed (a resumed run must not depend on them).
    """
    cycle = list(range(4, 14)) * 60
    docs = [torch.tensor([2] + cycle[i * 80 : (i + 1) * 80]) for i in range(6)]
    valid = [torch.tensor([2] + cycle[:60])]
    torch.manual_seed(seed if init_seed is None else init_seed)
    model = build_language_model(14, emb_size=16, hidden_size=32, n_layers=2)
    loader = LMLoader(docs, bs=4, bptt=12, seed=seed)
    history = fit_lm(
        model,
        loader,
        LM_EPOCHS,
        5e-3,
        valid_loader=valid,
        progress=False,
        device="cpu",
        seed=seed,
        checkpoint_path=checkpoint,
        resume=resume,
    )
    epochs = [{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs]
    return {"steps": [r["loss"] for r in history.steps], "epochs": epochs}


def clas_data(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts whose label is whether "calm" or "storm" comes up more often: learnable, not trivial."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        words = rng.choices(WORDS, k=rng.randint(3, 11))
        texts.append(" ".join(words))
        labels.append("calm" if words.count("calm") >= words.count("storm") else "storm")
    return texts, labels


def clas_run(checkpoint=None, resume=False, seed=0) -> dict:
    """Train a tiny classifier from scratch with gradual unfreezing; return its epoch records."""
    texts, labels = clas_data(48, 0)
    valid_texts, valid_labels = clas_data(16, 1)
    result = train_classifier(
        texts,
        labels,
        valid_texts,
        valid_labels,
        lm=None,
        epochs=CLAS_EPOCHS,
        bs=8,
        seed=seed,
        scratch_sizes={"emb_size": 8, "hidden_size": 16, "n_layers": 2},
        progress=False,
        device="cpu",
        checkpoint_path=checkpoint,
        resume=resume,
    )
    epochs = [{k: v for k, v in e.items() if k not in ("seconds", "t_end")} for e in result.history]
    return {"epochs": epochs, "accuracy": result.metrics["accuracy"]}


def slow_down_optimizer_steps(delay: float) -> None:
    """Sleep ``delay`` seconds before every AdamW step: time for a test to signal mid-epoch."""
    step = torch.optim.AdamW.step

    def slow_step(self, *args, **kwargs):
        time.sleep(delay)
        return step(self, *args, **kwargs)

    torch.optim.AdamW.step = slow_step


def interruptible(kind: str, checkpoint: Path, resume=False, delay=0.0, message_file=None) -> int:
    """Run ``kind`` (``'lm'`` or ``'classifier'``) and print its metrics; 130 if interrupted.

    The interruption message goes to stderr and, if given, to ``message_file``.
    """
    torch.set_num_threads(1)  # the tests compare with runs in their own process, also on 1 thread
    # A process started in the background can inherit "ignore SIGINT"; make Ctrl-C raise, as usual.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if delay:
        slow_down_optimizer_steps(delay)
    run = lm_run if kind == "lm" else clas_run
    try:
        print(json.dumps(run(checkpoint, resume)))
    except KeyboardInterrupt as err:
        print(err, file=sys.stderr)
        if message_file is not None:
            Path(message_file).write_text(str(err), encoding="utf-8")
        return 130
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["lm", "classifier"])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    return interruptible(args.kind, args.checkpoint, args.resume, args.delay)


if __name__ == "__main__":
    sys.exit(main())
