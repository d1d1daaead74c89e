"""The learning-rate finder: train a few steps with a growing LR and watch the loss (fastai's
``lr_find``).

Smith (2017), "Cyclical Learning Rates for Training Neural Networks", §3.3: the LR range test.
Train ``n`` steps with the LR growing exponentially from tiny to huge and record the loss; it stays
flat while the LR is too small to matter, falls once the LR is useful, and shoots up once it is too
large. A good peak LR sits where the loss falls fastest. ULMFiT's values (§4.1) were chosen this way
by fastai's users; the finder helps on a new corpus or model size.

Each step is the same :func:`train.train_step` that training uses (with AR/TAR); nothing of the
model, its frozen groups or the random state changes: everything is put back afterwards.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .awd_lstm import detach_hidden
from .config import ADAM_BETAS, AR_ALPHA, TAR_BETA, WEIGHT_DECAY
from .distributed import resolve_device
from .lm_loader import LMBatch
from .losses import ar_tar_penalty, lm_loss
from .train import adamw, train_step

SMOOTH_BETA = 0.98  # fastai's SmoothenValue: the loss's moving average
DIVERGED = 4.0  # stop once the smoothed loss exceeds 4x its minimum (fastai's stop_div)


class LRFinderResult(NamedTuple):
    """``lrs`` and smoothed ``losses`` to plot (log x axis), and the suggested LR.

    ``suggested``: the *steepest* point: where the smoothed loss falls fastest per unit of
    ``log(lr)`` (Smith 2017; fastai's ``steep`` suggestion), ignoring the first tenth of the curve and
    its last five points. Pick a value at or a little below it; the minimum itself is too high.
    """

    lrs: list[float]
    losses: list[float]
    suggested: float


def lr_find(
    model: nn.Module,
    loader: Iterable[LMBatch],
    start: float = 1e-7,
    end: float = 10.0,
    n: int = 100,
    *,
    wd: float = WEIGHT_DECAY,
    betas: tuple[float, float] = ADAM_BETAS,
    alpha: float = AR_ALPHA,
    beta: float = TAR_BETA,
    device: str | torch.device = "auto",
    stop_div: bool = True,
) -> LRFinderResult:
    """The learning-rate range test on a language model: ``n`` steps with the LR growing
    exponentially from ``start`` to ``end``; record the smoothed loss, then put everything back.

    Every group gets the same LR (times the batch's ``lr_scale``); frozen groups stay frozen. Stops
    early once the smoothed loss exceeds 4x its minimum (``stop_div``). Afterwards the weights,
    ``requires_grad`` flags, train/eval mode, the loader's epoch counter and torch's RNG are restored
    exactly, so the model is as if ``lr_find`` had never run.
    """
    device = resolve_device(device)
    model = model.to(device)
    saved_weights = copy.deepcopy(model.state_dict())
    saved_grad = [p.requires_grad for p in model.parameters()]
    saved_mode, saved_rng = model.training, torch.get_rng_state()
    saved_epoch = getattr(loader, "epoch", None)
    optimizer = adamw(model.groups, [start] * len(model.groups), betas, wd, model=model)
    lrs, losses = [], []
    avg, best, hidden = 0.0, math.inf, None
    model.train()
    try:
        for i, batch in enumerate(itertools.islice(_forever(loader), n)):
            lr = start * (end / start) ** (i / max(n - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr * batch.lr_scale
            x, y = batch.x.to(device), batch.y.to(device)

            def loss_fn(out, y=y):
                return lm_loss(out.logits, y), ar_tar_penalty(
                    out.raw_output, out.dropped_output, alpha, beta
                )

            step = train_step(model, (x, hidden), loss_fn, optimizer)
            hidden = detach_hidden(step.out.hidden)
            avg = SMOOTH_BETA * avg + (1 - SMOOTH_BETA) * float(step.loss.item())
            smoothed = avg / (1 - SMOOTH_BETA ** (i + 1))  # bias correction, as Adam's
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if stop_div and (not math.isfinite(smoothed) or smoothed > DIVERGED * best):
                break
    finally:
        model.load_state_dict(saved_weights)
        for p, flag in zip(model.parameters(), saved_grad):
            p.requires_grad_(flag)
        model.train(saved_mode)
        torch.set_rng_state(saved_rng)
        if saved_epoch is not None:
            loader.epoch = saved_epoch
    return LRFinderResult(lrs, losses, suggest_lr(lrs, losses))


def _forever(loader: Iterable[LMBatch]) -> Iterator[LMBatch]:
    """The loader's batches, epoch after epoch, for as many steps as the test needs."""
    while True:
        got = False
        for b in loader:
            got = True
            yield b
        if not got:
            return


def suggest_lr(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The LR of steepest descent of ``losses`` against ``log(lrs)`` (see :class:`LRFinderResult`)."""
    if len(lrs) < 3:
        return float(lrs[0]) if lrs else float("nan")
    lo, hi = len(lrs) // 10, max(len(lrs) - 5, len(lrs) // 10 + 2)
    slopes = np.gradient(np.asarray(losses[lo:hi], dtype=float), np.log(np.asarray(lrs[lo:hi])))
    slopes = np.where(np.isfinite(slopes), slopes, np.inf)
    return float(lrs[lo + int(np.argmin(slopes))])


__all__ = ["LRFinderResult", "lr_find", "suggest_lr"]
