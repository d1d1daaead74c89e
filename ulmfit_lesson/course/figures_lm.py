"""Drawings for stage 2, fine-tuning the language model (notebook 05): the learning rates of
ULMFiT §3.2 and what the package measured with them.

Each function takes plain numbers (lists, arrays) that the notebook computed with the package, and
returns a matplotlib ``Figure`` built without pyplot, so a notebook shows it exactly once (as a
cell's last value, or with ``display``). The computing stays in the notebook; only the drawing is
here.

- ``plot_discriminative_lrs(group_names, lrs, sizes)``: each layer group's peak learning rate
  (§3.2, eq. 2: each group 2.6 times slower than the one above), with its number of parameters.
- ``plot_schedules(stlr, one_cycle)``: slanted triangular learning rates (§3.2, eq. 3) beside
  fastai's one-cycle, over the same steps.
- ``plot_lr_finder(lrs, losses, suggested, paper_lr)``: the learning-rate range test
  (``lr_finder.lr_find``), its suggestion and the paper's peak.
- ``plot_step_lrs(step_lrs, group_names, frozen_steps)``: the learning rate every layer group got
  at every step of ``lm_recipes.finetune_lm``, the frozen epoch shaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

# Lowest group palest: the colour deepens with the learning rate.
GROUP_BLUES = ["#c6dbef", "#9ecae1", "#6baed6", "#3182bd"]


def plot_discriminative_lrs(
    group_names: Sequence[str], lrs: Sequence[float], sizes: Sequence[int]
) -> Figure:
    """Discriminative fine-tuning (ULMFiT §3.2, eq. 2) as bars: one peak learning rate per layer
    group, lowest group at the bottom, on a log scale.

    Args:
        group_names: the layer groups, lowest first (for the LM: LSTM 1-3, embedding + decoder).
        lrs: their peak learning rates (``schedules.discriminative_lrs``).
        sizes: their numbers of parameters, written beside each bar.
    On a log scale equal ratios are equal steps: the learner should see four evenly spaced bar
    ends, each group 2.6 times the one below, and the lowest LSTM about 17.6 times slower than
    the top.
    """
    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    ax.barh(list(group_names), lrs, color=GROUP_BLUES)
    for y, (lr, n) in enumerate(zip(lrs, sizes)):
        ax.text(lr, y, f"  {lr:.2e}  ({n / 1e6:.1f}M parameters)", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(lrs) / 2, max(lrs) * 12)  # room on the right for the text
    ax.set_xlabel("peak learning rate (log scale): each group 2.6x the one below")
    return fig


def plot_schedules(stlr: Sequence[float], one_cycle: Sequence[float]) -> Figure:
    """Slanted triangular learning rates (ULMFiT §3.2, eq. 3) and fastai's one-cycle, side by
    side with one y-axis: the learning rate at each step ``t`` (``schedules.slanted_triangular``,
    ``schedules.one_cycle``).

    What to see: both climb briefly and decay for long; STLR climbs faster (10% of the steps) in a
    straight line and decays linearly to a floor of ``lr_max / 32``, one-cycle warms up along a
    cosine (25%) and decays to almost zero.
    """
    fig = Figure(figsize=(10, 3))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, curve, title in [
        (axes[0], stlr, "slanted triangular (ULMFiT §3.2)"),
        (axes[1], one_cycle, "one-cycle (fastai's fit_one_cycle)"),
    ]:
        ax.plot(range(len(curve)), curve)
        ax.set_title(title)
        ax.set_xlabel("step t")
    axes[0].set_ylabel("learning rate")
    return fig


def plot_lr_finder(
    lrs: Sequence[float], losses: Sequence[float], suggested: float, paper_lr: float
) -> Figure:
    """The learning-rate range test (Smith 2017; fastai's ``lr_find``): the smoothed training loss
    against a learning rate growing exponentially, step by step (``lr_finder.lr_find``).

    Two vertical lines: the finder's suggestion (where the loss falls fastest) and the paper's peak
    (ULMFiT §4.1). The learner should see the three phases: flat while the rate is too small, a
    fall, then a blow-up once the steps are too big.
    """
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.plot(lrs, losses)
    ax.axvline(suggested, color="C1", ls="--", label=f"steepest fall: {suggested:.1e}")
    ax.axvline(paper_lr, color="C2", ls=":", label=f"the paper's peak: {paper_lr}")
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="smoothed training loss")
    ax.legend(fontsize=8)
    return fig


def plot_step_lrs(
    step_lrs: np.ndarray | Sequence[Sequence[float]],
    group_names: Sequence[str],
    frozen_steps: int = 0,
) -> Figure:
    """The learning rate each layer group got at each step of ``lm_recipes.finetune_lm``, on a
    log scale (ULMFiT §3.2: discriminative rates, each following its own STLR).

    Args:
        step_lrs: (steps, groups), the ``lrs`` recorded per step (``history.steps``), lowest group
            first; the last group is the top one (embedding + decoder).
        group_names: one name per group.
        frozen_steps: how many first steps trained only the top group (the frozen epoch). Their
            rates for the other groups are not drawn: the optimizer holds a rate for them, but a
            frozen group is not updated.
    What to see: the frozen epoch (shaded, the top group alone), then one curve per group, each
    2.6 times below the next, all with the same STLR shape; the jitter is the variable-length
    BPTT rescale (``seq_len / bptt``, notebook 02).
    """
    step_lrs = np.asarray(step_lrs, dtype=float)
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    for g, name in enumerate(group_names):
        lr_g = step_lrs[:, g].copy()
        if g < len(group_names) - 1:
            lr_g[:frozen_steps] = np.nan  # frozen: not trained in the first epoch
        ax.plot(lr_g, label=name)
    if frozen_steps:
        ax.axvspan(-0.5, frozen_steps - 0.5, color="#eee", label="frozen epoch")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate used")
    ax.legend(fontsize=7, loc="upper right")
    return fig


__all__ = [
    "GROUP_BLUES",
    "plot_discriminative_lrs",
    "plot_lr_finder",
    "plot_schedules",
    "plot_step_lrs",
]
