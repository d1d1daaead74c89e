"""Learning rates for fine-tuning: STLR, one-cycle, discriminative LRs, layer groups, gradual unfreezing.

ULMFiT fine-tunes a pretrained network without destroying what it learned, with three tools:

- **discriminative fine-tuning** (ULMFiT §3.2, eq. 2): each *layer group* gets its own learning rate,
  divided by 2.6 for each group below the top one, because lower layers hold more general features;
- **slanted triangular learning rates** (STLR, ULMFiT §3.2, eq. 3): a short linear warm-up to
  ``lr_max`` followed by a long linear decay, applied to every group at once;
- **gradual unfreezing** (ULMFiT §3.3): train only the top group first, then unfreeze one more group per
  epoch, then all.

Inputs: per-group maximum LRs and the step count; outputs: plain floats, one per group. The training
loop owns the optimizer and, per step, does::

    for group, lr in zip(opt.param_groups, schedule(step)):
        group["lr"] = lr * batch.lr_scale     # lr_scale: AWD-LSTM's seq_len / bptt rescale

Reference: fastai v0.7 ``CircularLR`` (STLR, ``use_clr=(32, 10)``), fastai v2 ``fit_one_cycle`` /
``combined_cos`` and ``awd_lstm_lm_split`` / ``awd_lstm_clas_split``. Deviation: fastai v1/v2 train
ULMFiT with one-cycle (cosine), not STLR; both are here so a notebook can compare them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from torch import nn

# ULMFiT §3.2: "cut_frac = 0.1, ratio = 32"; §3.2 discriminative fine-tuning: eta^{l-1} = eta^l / 2.6.
STLR_CUT_FRAC = 0.1
STLR_RATIO = 32
DISCRIMINATIVE_FACTOR = 2.6

# fastai v2 fit_one_cycle defaults and text learners' momentums.
ONE_CYCLE_PCT_START = 0.25
ONE_CYCLE_DIV = 25.0
ONE_CYCLE_DIV_FINAL = 1e5
ONE_CYCLE_MOMS = (0.8, 0.7, 0.8)

SCHEDULE_KINDS = ("stlr", "one_cycle", "constant")


# ---------------------------------------------------------------------------------------------------
# Schedules: step t of T -> learning rate
# ---------------------------------------------------------------------------------------------------


def slanted_triangular(
    t: int, T: int, lr_max: float, cut_frac: float = STLR_CUT_FRAC, ratio: float = STLR_RATIO
) -> float:
    """Slanted triangular learning rate at step ``t`` of ``T``.

    Args:
        t: the step (iteration), from 0.
        T: the number of training iterations (epochs x batches per epoch).
        lr_max: the peak learning rate (0.01 in the paper).
        cut_frac: the fraction of ``T`` spent increasing the LR.
        ratio: how much smaller the lowest LR is than ``lr_max``.

    Returns:
        ``lr_max / ratio`` at ``t = 0``, rising linearly to ``lr_max`` at ``t = cut``, then falling
        linearly back to ``lr_max / ratio`` at ``t = T``.

    Paper: ULMFiT §3.2, eq. 3::

        cut = floor(T * cut_frac)
        p   = t / cut                                   if t < cut
              1 - (t - cut) / (cut * (1 / cut_frac - 1)) otherwise
        lr  = lr_max * (1 + p * (ratio - 1)) / ratio

    Why: the short climb lets the model find a good region of parameter space quickly; the long
    decay then refines it (ULMFiT §3.2).
    Deviation: ``p`` is clamped at 0, so the LR never falls below ``lr_max / ratio`` (when ``T`` is not
    a multiple of ``1 / cut_frac``, or ``t > T``). When ``T`` is too short for a warm-up step
    (``cut = 0``, i.e. ``T < 1 / cut_frac``), the warm-up is one step and the decay spans the other
    ``T - 1``, as fastai v0.7's ``CircularLR`` does with its denominator ``T - cut``.
    """
    if T < 1:
        raise ValueError(f"T (total steps) must be >= 1, got {T}")
    if t < 0:
        raise ValueError(f"step t must be >= 0, got {t}")
    cut = math.floor(T * cut_frac)
    if cut > 0:
        decay_len = cut * (1 / cut_frac - 1)  # = T - cut when T * cut_frac is a whole number
    else:  # tiny T: no room for a proper warm-up
        cut, decay_len = 1, max(T - 1, 1)
    p = t / cut if t < cut else 1 - (t - cut) / decay_len
    p = max(p, 0.0)
    return lr_max * (1 + p * (ratio - 1)) / ratio


def _cos_anneal(start: float, end: float, pos: float) -> float:
    """Cosine from ``start`` (``pos=0``) to ``end`` (``pos=1``), as fastai's ``SchedCos``."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def _one_cycle_phase(t: int, T: int, pct_start: float) -> tuple[int, float]:
    """Which half of the cycle step ``t`` is in (0 warm-up, 1 anneal) and the position inside it."""
    if T < 1:
        raise ValueError(f"T (total steps) must be >= 1, got {T}")
    if not 0 <= pct_start <= 1:
        raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
    pos = min(max(t / T, 0.0), 1.0)  # fastai: pct_train = train_iter / n_iter
    if pos < pct_start:
        return 0, pos / pct_start
    return 1, (pos - pct_start) / (1 - pct_start) if pct_start < 1 else 1.0


def one_cycle(
    t: int,
    T: int,
    lr_max: float,
    pct_start: float = ONE_CYCLE_PCT_START,
    div: float = ONE_CYCLE_DIV,
    div_final: float = ONE_CYCLE_DIV_FINAL,
) -> float:
    """fastai v2's ``fit_one_cycle`` learning rate at step ``t`` of ``T``.

    Cosine warm-up from ``lr_max / div`` to ``lr_max`` over the first ``pct_start`` of training, then
    cosine annealing down to ``lr_max / div_final``.

    Paper: not in ULMFiT; Smith's 1cycle policy as implemented by fastai v2 (``combined_cos``).
    Deviation: this is what fastai v1/v2 use to train ULMFiT instead of STLR (``slanted_triangular``).
    """
    phase, pos = _one_cycle_phase(t, T, pct_start)
    if phase == 0:
        return _cos_anneal(lr_max / div, lr_max, pos)
    return _cos_anneal(lr_max, lr_max / div_final, pos)


def one_cycle_moms(
    t: int,
    T: int,
    moms: tuple[float, float, float] = ONE_CYCLE_MOMS,
    pct_start: float = ONE_CYCLE_PCT_START,
) -> float:
    """The momentum (Adam's beta1) that goes with :func:`one_cycle`: cosine ``moms[0] -> moms[1] -> moms[2]``.

    Why: momentum moves opposite to the LR, so large steps are not also amplified by high momentum.
    fastai text learners use ``(0.8, 0.7, 0.8)``; ULMFiT §4.1 uses a fixed beta1 = 0.7.
    """
    phase, pos = _one_cycle_phase(t, T, pct_start)
    if phase == 0:
        return _cos_anneal(moms[0], moms[1], pos)
    return _cos_anneal(moms[1], moms[2], pos)


def discriminative_lrs(
    lr_top: float, n_groups: int, factor: float = DISCRIMINATIVE_FACTOR
) -> list[float]:
    """One learning rate per layer group, lowest group first; the last (top) group gets ``lr_top``.

    Example: ``discriminative_lrs(0.01, 5)`` is ``[0.01/2.6**4, 0.01/2.6**3, 0.01/2.6**2, 0.01/2.6, 0.01]``,
    what fastai writes as ``slice(0.01/2.6**4, 0.01)``.

    Paper: ULMFiT §3.2, discriminative fine-tuning: eta^{l-1} = eta^l / 2.6.
    Why: lower layers hold general features (syntax, word meaning) that transfer as they are; higher
    layers are more task-specific and need to move further.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    return [lr_top / factor ** (n_groups - 1 - i) for i in range(n_groups)]


# Stage 2's unfrozen epochs, scaled to the target corpus (finetune_epochs): about this many tokens
# in all, and 2 to 4 epochs. 4 is what the course started with (fastbook fine-tunes "a few" epochs);
# 2 matched it on GoEmotions' dev set at 4,000 comments (72,000 tokens), bench/results/clas_epochs.md.
FINETUNE_TOKENS = 150_000
FINETUNE_EPOCHS = (2, 4)


def finetune_epochs(n_tokens: int) -> int:
    """How many unfrozen epochs stage 2 (ULMFiT §3.2) spends on a corpus of ``n_tokens`` tokens.

    ``round(150,000 / n_tokens)``, kept between 2 and 4: the 843 poems (8,000 tokens) get 4, 3,000
    GoEmotions comments (54,000 tokens) 3, 4,000 comments (72,000) and anything larger 2.
    Why scale it: an epoch is a pass over the corpus, so on a large corpus each epoch is many more
    optimizer steps (4,000 comments: 16 steps of 64 x 70 tokens; the poems: 2). On 4,000 comments
    two epochs gave the same classifier as four on the dev set (2 seeds), at half of stage 2's time;
    the paper gives no count. Why not fewer than 2: untested, and the frozen epoch before them only
    trains the new words' embeddings.
    """
    low, high = FINETUNE_EPOCHS
    return min(high, max(low, round(FINETUNE_TOKENS / max(n_tokens, 1))))


def lr_at_step(
    step: int, total: int, lrs: Sequence[float], kind: str = "stlr", **options: float
) -> list[float]:
    """The learning rate of every parameter group at ``step`` of ``total``.

    Args:
        step: the optimizer step, from 0.
        total: the number of steps of the whole run (``T``).
        lrs: each group's maximum LR, lowest group first (e.g. from :func:`discriminative_lrs`).
        kind: ``"stlr"`` (ULMFiT §3.2), ``"one_cycle"`` (fastai v2) or ``"constant"``.
        options: passed to the schedule: ``cut_frac``/``ratio`` for STLR, ``pct_start``/``div``/
            ``div_final`` for one-cycle.

    Returns:
        One LR per group. The same schedule shape scales every group, so the 2.6 ratios between groups
        hold at every step.
    """
    if kind == "stlr":
        return [slanted_triangular(step, total, lr, **options) for lr in lrs]
    if kind == "one_cycle":
        return [one_cycle(step, total, lr, **options) for lr in lrs]
    if kind == "constant":
        return [float(lr) for lr in lrs]
    raise ValueError(f"unknown schedule kind {kind!r}; expected one of {SCHEDULE_KINDS}")


@dataclass
class Schedule:
    """A learning-rate schedule for one run: ``schedule(step)`` -> one LR per parameter group.

    Example::

        schedule = Schedule(total=len(loader) * n_epochs, lrs=discriminative_lrs(1e-2, 4))
        schedule(0)  # [lr / 32 for lr in lrs]: the STLR starting point
    """

    total: int
    lrs: list[float]
    kind: str = "stlr"
    options: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(
                f"unknown schedule kind {self.kind!r}; expected one of {SCHEDULE_KINDS}"
            )
        self.lrs = [float(lr) for lr in self.lrs]

    def __call__(self, step: int) -> list[float]:
        return lr_at_step(step, self.total, self.lrs, self.kind, **self.options)


# ---------------------------------------------------------------------------------------------------
# Layer groups, optimizer parameter groups, freezing
# ---------------------------------------------------------------------------------------------------

LayerGroups = list[list[nn.Module]]


def clas_layer_groups(awd_lstm: nn.Module, head: nn.Module) -> LayerGroups:
    """The classifier's layer groups, lowest first: embedding, one per LSTM layer, then the head.

    With 3 layers: ``[[encoder, encoder_dp], [rnns[0], hidden_dps[0]], [rnns[1], hidden_dps[1]],
    [rnns[2], hidden_dps[2]], [head]]`` (5 groups).

    Args:
        awd_lstm: the classifier's AWD-LSTM encoder (the module with ``encoder``, ``rnns``, ...).
        head: the pooling classifier head, trained from scratch.

    Paper: ULMFiT §3.2-3.3; fastai v2 ``awd_lstm_clas_split``. Here the head is the top group, so
    gradual unfreezing (ULMFiT §3.3) starts with it alone.
    """
    groups: LayerGroups = [[awd_lstm.encoder, awd_lstm.encoder_dp]]
    groups += [[rnn, dp] for rnn, dp in zip(awd_lstm.rnns, awd_lstm.hidden_dps)]
    groups.append([head])
    return groups


def _group_params(group: Iterable[nn.Module]) -> Iterable[nn.Parameter]:
    for module in group:
        yield from module.parameters()


def param_groups(
    groups: LayerGroups, lrs: Sequence[float], model: nn.Module | None = None
) -> list[dict]:
    """Optimizer parameter groups, one per layer group: ``[{"params": [...], "lr": lr}, ...]``.

    Args:
        groups: layer groups, lowest first (``LanguageModel.groups``, :func:`clas_layer_groups`).
        lrs: one LR per group (:func:`discriminative_lrs`).
        model: optional; if given, check that every parameter of ``model`` is in some group.

    A parameter reachable from several modules (the tied embedding/decoder weight, or the embedding
    that ``EmbeddingDropout`` also holds) is put in the first group that reaches it, once: an
    optimizer must never see the same tensor twice. Frozen parameters are kept (an optimizer skips
    parameters without a gradient), so unfreezing needs no new optimizer.
    """
    if len(groups) != len(lrs):
        raise ValueError(f"got {len(lrs)} learning rates for {len(groups)} layer groups")
    seen: set[int] = set()
    result = []
    for group, lr in zip(groups, lrs):
        params = []
        for p in _group_params(group):
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        result.append({"params": params, "lr": float(lr)})
    if model is not None:
        missing = [name for name, p in model.named_parameters() if id(p) not in seen]
        if missing:
            raise ValueError(f"parameters in no layer group: {missing}")
    return result


def freeze_to(groups: LayerGroups, n: int) -> None:
    """Freeze every layer group before index ``n`` and unfreeze the rest (fastai's ``freeze_to``).

    ``freeze_to(groups, -1)`` trains only the last group, ``-2`` the last two, ``0`` everything.
    Sets ``requires_grad`` on the groups' parameters. A parameter shared between a frozen and a
    trainable group ends up trainable.

    Paper: ULMFiT §3.3, gradual unfreezing.
    """
    n_frozen = n if n >= 0 else len(groups) + n
    if not 0 <= n_frozen <= len(groups):
        raise ValueError(f"freeze_to({n}) is out of range for {len(groups)} layer groups")
    for group in groups[:n_frozen]:
        for p in _group_params(group):
            p.requires_grad_(False)
    for group in groups[n_frozen:]:  # second, so shared parameters end up trainable
        for p in _group_params(group):
            p.requires_grad_(True)


def trainable_groups(groups: LayerGroups) -> list[bool]:
    """Whether each layer group has a trainable parameter (for showing the freezing state)."""
    return [any(p.requires_grad for p in _group_params(group)) for group in groups]


class UnfreezeStage(NamedTuple):
    """One stage of gradual unfreezing: call ``freeze_to(groups, freeze_to)``, train ``n_epochs``."""

    freeze_to: int
    n_epochs: int


def gradual_unfreezing(
    n_groups: int, epochs_after: int = 1, epochs_per_stage: int = 1
) -> list[UnfreezeStage]:
    """The paper's gradual-unfreezing plan as ``(freeze_to index, n_epochs)`` stages.

    For 5 groups: ``[(-1, 1), (-2, 1), (-3, 1), (-4, 1), (0, epochs_after)]``: the top group alone for
    one epoch, one more group each epoch, then all groups for ``epochs_after`` epochs.

    Paper: ULMFiT §3.3: "We first unfreeze the last layer and fine-tune all unfrozen layers for one
    epoch. We then unfreeze the next lower frozen layer and repeat, until we fine-tune all layers until
    convergence at the last iteration."
    Why: fine-tuning all layers at once risks catastrophic forgetting (ULMFiT §3.3): the new head starts
    random, and its early, noisy gradients would reach the pretrained layers. The top layers hold the
    least general knowledge, so they move first and the lower ones join once the head makes sense.
    Deviation: fastai's ULMFiT notebooks stop at ``freeze_to(-3)`` and then unfreeze everything.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    stages = [UnfreezeStage(-k, epochs_per_stage) for k in range(1, n_groups)]
    stages.append(UnfreezeStage(0, epochs_after))
    return stages
