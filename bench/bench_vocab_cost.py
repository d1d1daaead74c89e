"""What a 60,000-word vocabulary costs: fastai's wt103-fwd against the course's general-fwd.

A self-learner without the course's data gets fastai's WikiText-103 model (``wt103-fwd``: 60,000
tokens) where the notebooks' quoted numbers were measured with ``general-fwd`` (26,856 tokens). The
vocabulary sets the size of the embedding (= tied decoder) matrix, so it changes the cost of:

- a language-model step (stages 1-2): the decoder's ``hidden @ E^T`` and its softmax over every word,
  and Adam's update of the whole embedding matrix;
- a classifier step with the encoder unfrozen (stage 3): Adam's update of the embedding matrix
  (the gather of the embedding rows itself is cheap).

Both models here are full size (emb 400, hidden 1152, 3 layers; random weights: the cost of a step
does not depend on the values), float32, on the CPU, steps interleaved after a warm-up so that both
vocabularies see the same machine load; the time is the process's CPU time, which a busy machine
disturbs less than wall time. It prints CPU seconds per step and the ratio 60,000 / 26,856,
which ``doctor`` uses to predict the course's time with wt103-fwd (``workshop.WT103_COST``).

    python bench/bench_vocab_cost.py [--steps 3] [--bs 16] [--bptt 70]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ulmfit_lesson.classifier import build_classifier  # noqa: E402
from ulmfit_lesson.language_model import build_language_model  # noqa: E402

VOCABS = {"general-fwd": 26_856, "wt103-fwd": 60_000}


def lm_step(vocab: int, bs: int, bptt: int):
    model = build_language_model(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randint(0, vocab, (bs, bptt)), torch.randint(0, vocab, (bs, bptt))

    def step() -> None:
        loss = F.cross_entropy(model(x).logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def clas_step(vocab: int, bs: int, bptt: int):
    lm = build_language_model(vocab)
    model = build_classifier(lm, n_classes=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randint(2, vocab, (bs, bptt)), torch.randint(0, 3, (bs,))

    def step() -> None:
        loss = F.cross_entropy(model(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def timed(step) -> float:
    """The process's CPU seconds for one step (all threads): other processes on a shared machine
    disturb it much less than wall time."""
    start = time.process_time()
    step()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--bs", type=int, default=16)
    parser.add_argument("--bptt", type=int, default=70)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(
        f"{datetime.date.today()} | {platform.processor() or platform.machine()} | "
        f"torch {torch.__version__} | {torch.get_num_threads()} threads | "
        f"batch {args.bs} x {args.bptt}"
    )
    ratios = {}
    for kind, make in (("LM step", lm_step), ("classifier step", clas_step)):
        steps = {name: make(v, args.bs, args.bptt) for name, v in VOCABS.items()}
        times: dict[str, list[float]] = {name: [] for name in VOCABS}
        for name in VOCABS:
            timed(steps[name])  # warm-up
        for i in range(args.steps):
            order = list(VOCABS) if i % 2 == 0 else list(reversed(VOCABS))
            for name in order:
                times[name].append(timed(steps[name]))
        med = {name: statistics.median(t) for name, t in times.items()}
        ratios[kind] = med["wt103-fwd"] / med["general-fwd"]
        print(
            f"{kind:16s} CPU s/step: general-fwd (26,856) {med['general-fwd']:.2f} | "
            f"wt103-fwd (60,000) {med['wt103-fwd']:.2f} | ratio {ratios[kind]:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
