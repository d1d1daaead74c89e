"""Seconds per training step, the package's against the same step with PyTorch's stock parts.

Two things in a step cost time without being the model's arithmetic, and the package does them
differently from fastai and from a plain PyTorch loop:

- **dropout masks** (``dropout.dropout_mask``): 16 random bits per unit, four units per 64-bit
  draw, then a comparison, where the stock way is ``bernoulli_`` / ``F.dropout`` (one 32-bit draw
  per unit). On a CPU PyTorch draws on one core whatever the thread count, and WeightDropout draws
  5.3 million of them per LSTM layer per step (W_hh);
- **embedding dropout** (``dropout.EmbeddingDropout``): the word mask applied to the rows a batch
  looks up, where fastai's way multiplies the whole 27k x 400 matrix (and its gradient) by it;
- **the optimizer** (``train.adamw``): ``AdamW(fused=True)``, one pass over each parameter, where
  the default (on a CPU) is a dozen elementwise passes per tensor, over a 27k x 400 embedding too.

All three are the same computation (the same mask distribution, p rounded to 1/65,536; the same
embedding vectors; the same update to float rounding). The
language model's step has a third contestant, the package's step with a softmax over the whole
vocabulary: since stage 2 scores only the words of the target texts (``fit_lm``'s
``softmax_words``, ``--softmax-words`` of them; 4,957 on 4,000 GoEmotions comments), that one is
a different loss, not the same computation, and ``bench_time_to_accuracy.py`` judges it on dev. The
"stock" contestant swaps them back (``stock_pytorch``) on a copy of the same model, in the same
process; steps are interleaved (the order alternating) so both see the same machine load. Random
weights and token ids: the time of a step does not depend on their values.

    python bench/bench_train_step.py                 # classifier (GoEmotions-sized) and LM steps
    python bench/bench_train_step.py --what clas --steps 20 --threads 2

Classifier batches: ``--bs`` texts of ``--min-len``..``--max-len`` tokens (GoEmotions' Ekman view:
about 19 tokens on average), sortish-batched by ``ClasLoader``; LM batches: ``--bs`` x 70 tokens
of ``--softmax-words`` random words.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_lm_step import cpu_name  # noqa: E402
from ulmfit_lesson import dropout  # noqa: E402
from ulmfit_lesson.awd_lstm import detach_hidden  # noqa: E402
from ulmfit_lesson.clas_loader import ClasLoader  # noqa: E402
from ulmfit_lesson.classifier import build_classifier  # noqa: E402
from ulmfit_lesson.config import ADAM_BETAS, ADAM_EPS, WEIGHT_DECAY  # noqa: E402
from ulmfit_lesson.language_model import build_language_model  # noqa: E402
from ulmfit_lesson.losses import ar_tar_penalty, lm_loss, masked_ar_tar  # noqa: E402
from ulmfit_lesson.schedules import discriminative_lrs, param_groups  # noqa: E402
from ulmfit_lesson.train import adamw, train_step  # noqa: E402

VOCAB = (
    27053  # general-fwd's vocabulary + GoEmotions' new words (bench/results/time_to_accuracy.md)
)


def _stock_mask(x, size, p):
    return x.new_empty(size).bernoulli_(1 - p).div_(1 - p)


def _stock_embedding(self, words):  # fastai's: the whole matrix times the word mask
    weight = self.emb.weight
    if self.training and self.embed_p != 0:
        weight = weight * dropout.dropout_mask(weight, (weight.size(0), 1), self.embed_p)
    return F.embedding(words, weight, self.emb.padding_idx)


def _stock_dropped_weight(self):
    raw = getattr(self, f"{self.layer_name}_raw")
    if self.training and self.weight_p > 0:
        return F.dropout(raw, p=self.weight_p)
    return raw.view_as(raw)


@contextlib.contextmanager
def stock_pytorch():
    """Inside: dropout masks drawn with ``bernoulli_``, W_hh dropped with ``F.dropout`` and the
    embedding's word mask applied to the whole matrix."""
    saved = (
        dropout.dropout_mask,
        dropout.WeightDropout.dropped_weight,
        dropout.EmbeddingDropout.forward,
    )
    dropout.dropout_mask = _stock_mask
    dropout.WeightDropout.dropped_weight = _stock_dropped_weight
    dropout.EmbeddingDropout.forward = _stock_embedding
    try:
        yield
    finally:
        (
            dropout.dropout_mask,
            dropout.WeightDropout.dropped_weight,
            dropout.EmbeddingDropout.forward,
        ) = saved


def stock_adamw(groups, lrs, model):
    """``torch.optim.AdamW`` as a plain loop builds it: the default (on a CPU, unfused) kernels."""
    return torch.optim.AdamW(
        param_groups(groups, lrs, model=model),
        lr=lrs[-1],
        betas=ADAM_BETAS,
        eps=ADAM_EPS,
        weight_decay=WEIGHT_DECAY,
    )


class Contestant:
    """A model, its optimizer and a step function; ``stock``: run each step inside stock_pytorch."""

    def __init__(self, model, stock: bool, step, words=None):
        lrs = discriminative_lrs(1e-3, len(model.groups), 2.6)
        self.model, self.stock, self._step, self.words = model, stock, step, words
        self.opt = (stock_adamw if stock else adamw)(model.groups, lrs, model=model)
        self.hidden = None

    def step(self, batch) -> None:
        with stock_pytorch() if self.stock else contextlib.nullcontext():
            self._step(self, batch)


def clas_step(c: Contestant, batch) -> None:
    def loss_and_reg(out):
        reg = masked_ar_tar(out.raw_output, out.mask, 2.0, 1.0)
        return F.cross_entropy(out.logits, batch.y), reg

    train_step(c.model, (batch.x, batch.mask), loss_and_reg, c.opt, 0.25)


def lm_step(c: Contestant, batch) -> None:
    x, y = batch
    if c.words is not None:  # as train.LMStep: a target's class is its place among the words
        y = torch.searchsorted(c.words, y)

    def loss_and_reg(out):
        return lm_loss(out.logits, y), ar_tar_penalty(out.raw_output, out.dropped_output, 2.0, 1.0)

    inputs = (x, c.hidden) if c.words is None else (x, c.hidden, c.words)
    step = train_step(c.model, inputs, loss_and_reg, c.opt, 0.25)
    c.hidden = detach_hidden(step.out.hidden)


def corpus_words(n: int) -> torch.Tensor:
    """``n`` of the vocabulary's ids, sorted: the words a stand-in target corpus holds."""
    return torch.randperm(VOCAB, generator=torch.Generator().manual_seed(1))[:n].sort().values


def batches(what: str, args, g: torch.Generator) -> list:
    n = args.warmup + args.steps
    if what == "lm":
        words = corpus_words(args.softmax_words)
        data = words[torch.randint(0, len(words), (n, args.bs, 71), generator=g)]
        return [(d[:, :-1].contiguous(), d[:, 1:].contiguous()) for d in data]
    lengths = torch.randint(args.min_len, args.max_len + 1, (n * args.bs,), generator=g)
    docs = [torch.randint(2, VOCAB, (int(k),), generator=g) for k in lengths]
    labels = torch.randint(0, 7, (len(docs),), generator=g)
    return list(ClasLoader(docs, labels, args.bs, shuffle=True, seed=0))[:n]


def contestants(what: str, softmax_words: int) -> dict[str, Contestant]:
    """The package's step first, the stock one last (the ratios' reference)."""
    torch.manual_seed(0)
    lm = build_language_model(VOCAB)
    if what == "lm":
        model, step = lm, lm_step
    else:
        model, step = build_classifier(lm, 7), clas_step
    model.train()
    cs = {"package (16-bit coins, masked rows, fused AdamW)": Contestant(model, False, step)}
    if what == "lm":
        name = f"package, softmax over the corpus's {softmax_words:,} words (stage 2)"
        cs = {name: Contestant(model, False, step, corpus_words(softmax_words))}
        cs[f"package, softmax over all {VOCAB:,} words"] = Contestant(
            copy.deepcopy(model), False, step
        )
    cs["stock (bernoulli_/F.dropout, masked matrix, AdamW default)"] = Contestant(
        copy.deepcopy(model), True, step
    )
    return cs


def run(what: str, args) -> list[str]:
    cs = contestants(what, args.softmax_words)
    data = batches(what, args, torch.Generator().manual_seed(0))
    times = {name: [] for name in cs}
    for i, batch in enumerate(data):
        order = list(cs.items())
        for name, c in order if i % 2 == 0 else order[::-1]:  # alternate the order
            start = time.perf_counter()
            c.step(batch)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    # Both contestants see the same batches (classifier batches differ in length), so the fair
    # figure is total time over the same batches; the paired per-batch ratios show the spread.
    stock = times[list(cs)[-1]]
    shape = (
        f"{args.bs} x 70 tokens"
        if what == "lm"
        else f"{args.bs} texts of {args.min_len}-{args.max_len} tokens"
    )
    rows = []
    for name, ts in times.items():
        paired = [b / a for a, b in zip(ts, stock)]
        rows.append(
            f"| {what} ({shape}) | {name} | {sum(ts) / len(ts):.3f} | {sum(stock) / sum(ts):.2f}x "
            f"| {min(paired):.2f}-{max(paired):.2f}x |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--what", choices=["clas", "lm", "both"], default="both")
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--min-len", type=int, default=5)
    p.add_argument("--max-len", type=int, default=33)
    p.add_argument("--steps", type=int, default=10, help="timed steps per contestant")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per contestant")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--softmax-words", type=int, default=4957, help="LM: the corpus's words")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  {cpu_name()}  "
        f"torch {torch.__version__}  threads {torch.get_num_threads()}  "
        f"python {platform.python_version()}  vocab {VOCAB:,}; {args.warmup} warm-up and "
        f"{args.steps} timed steps each, interleaved\n"
    )
    print("| step | contestant | mean s/step | speed vs stock (total) | per-batch ratios |")
    print("|---|---|--:|--:|--:|")
    for what in ("clas", "lm") if args.what == "both" else (args.what,):
        for row in run(what, args):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
