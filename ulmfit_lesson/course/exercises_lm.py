"""Exercises for the overview and the language-model notebooks (00, 04, 05), checked automatically.

Same contract as ``exercises_basics`` (the machinery: ``exercises.py``): a notebook asks for a
function or a value, the checker prints ``[passed]``, ``[not yet]`` with a hint that points at the idea, or
``[not attempted yet]`` while the learner's cell still raises ``NotImplementedError`` (or leaves a
value at ``None``), so a notebook with untouched exercises still runs top to bottom.
``show_solution(name)`` and ``hint(name)`` work as in ``exercises_basics``.

Exercises: ``ulmfit_stages`` (notebook 00: which stage uses which idea), ``perplexity`` and
``temperature_softmax`` (04), ``stlr_by_hand`` and ``discriminative_lrs`` (05).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ulmfit_lesson import schedules
from ulmfit_lesson.course.exercises import CheckResult, Exercise, ExerciseFailed, ExerciseSet

_SET = ExerciseSet(__name__.rsplit(".", 1)[-1])  # this module's exercises, added at the end


# =============================================================================== notebook 00

# (statement, stage or stages where ULMFiT does it: 1 pretraining, 2 LM fine-tuning, 3 classifier)
STAGE_QUIZ: dict[str, set[int]] = {
    "predict the next word of a large general corpus such as Wikipedia": {1},
    "add the target texts' new words to the vocabulary, starting from the mean embedding": {2},
    "predict the next word of the target task's texts (no labels needed)": {2},
    "discriminative learning rates: each layer group 2.6 times slower than the one above": {2, 3},
    "slanted triangular learning rates: short warm-up, long decay": {2, 3},
    "gradual unfreezing: train the top layer group first, then one more group per epoch": {3},
    "concat pooling: last hidden state + max-pool + mean-pool over the text": {3},
    "train a new head on the labels": {3},
}


def ulmfit_stages() -> dict[str, set[int]]:
    """Reference solution: the stage(s) of each statement (ULMFiT §3.1, §3.2, §3.3)."""
    return {statement: set(stages) for statement, stages in STAGE_QUIZ.items()}


def _as_stages(value: Any) -> set[int]:
    if isinstance(value, int):
        return {value}
    return {int(v) for v in value}


def check_ulmfit_stages(answers: Mapping[str, Any], quiet: bool = False) -> CheckResult:
    """Check ``{statement: stage}`` (a stage number, or a set of them) against ``STAGE_QUIZ``."""

    def checks(answers: Mapping[str, Any]) -> str:
        if all(v is None for v in answers.values()):
            raise NotImplementedError
        missing = [s for s in STAGE_QUIZ if answers.get(s) is None]
        if missing:
            raise ExerciseFailed(
                f"no answer yet for {missing[0]!r}", "Give every statement a stage."
            )
        wrong = []
        for statement, want in STAGE_QUIZ.items():
            if _as_stages(answers[statement]) != want:
                wrong.append((statement, want))
        if wrong:
            statement, want = wrong[0]
            hint = "Stage 1 only ever sees general text; stage 2 the target texts without labels; "
            hint += "stage 3 is the only one with labels."
            if len(want) > 1:
                hint = (
                    "Some tricks are used in more than one stage: answer with a set, e.g. {2, 3}."
                )
            raise ExerciseFailed(
                f"{len(wrong)} of {len(STAGE_QUIZ)} answers differ, e.g. {statement!r}", hint
            )
        return f"all {len(STAGE_QUIZ)} statements placed in the right stage."

    return _SET.run("ulmfit_stages", answers, checks, quiet, values=True)


# =============================================================================== notebook 04


def perplexity(logits: Tensor, targets: Tensor) -> float:
    """Reference solution: exp of the mean cross-entropy of the targets.

    ``logits`` is ``(n_tokens, vocab_size)``, ``targets`` ``(n_tokens,)`` token ids.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)  # (n_tokens, vocab_size)
    nll = -log_probs[torch.arange(len(targets)), targets]  # (n_tokens,): -log p(right token)
    return math.exp(nll.mean().item())  # average the losses first, then exponentiate


def check_perplexity(fn: Callable[[Tensor, Tensor], float], quiet: bool = False) -> CheckResult:
    """Check ``perplexity(logits, targets) -> float`` against ``exp(F.cross_entropy(...))``."""

    def checks(fn):
        g = torch.Generator().manual_seed(0)
        uniform = torch.zeros(6, 50)  # the model knows nothing: perplexity = vocabulary size
        got = float(fn(uniform, torch.arange(6)))
        if not math.isclose(got, 50.0, rel_tol=1e-4):
            hint = (
                "A model that gives every one of 50 tokens the same probability has perplexity 50."
            )
            if math.isclose(got, math.log(50), rel_tol=1e-4):
                hint = "That is the cross-entropy; perplexity is exp of it."
            raise ExerciseFailed(
                f"for uniform logits over 50 tokens it gave {got:.4g}; expected 50", hint
            )
        for n, vocab in [(10, 30), (200, 1000)]:
            logits = 3 * torch.randn(n, vocab, generator=g)
            targets = torch.randint(0, vocab, (n,), generator=g)
            want = math.exp(F.cross_entropy(logits, targets).item())
            got = float(fn(logits, targets))
            if not math.isclose(got, want, rel_tol=1e-4):
                nll = F.cross_entropy(logits, targets, reduction="none")
                hint = (
                    "Perplexity = exp(mean over tokens of -log p(right token)), p from a softmax."
                )
                if math.isclose(got, nll.exp().mean().item(), rel_tol=1e-4):
                    hint = (
                        "Average the per-token losses first, then take exp (not the mean of exps)."
                    )
                elif math.isclose(got, 2 ** (nll.mean().item() / math.log(2)), rel_tol=1e-4):
                    hint = "Close: use one base throughout (natural log, exp)."
                raise ExerciseFailed(
                    f"for {n} tokens over {vocab} words it gave {got:.4g}; expected {want:.4g}",
                    hint,
                )
        return "matches exp(cross-entropy) on all cases, and a know-nothing model gets 50 of 50."

    return _SET.run("perplexity", fn, checks, quiet)


def temperature_softmax(logits: Tensor, temperature: float) -> Tensor:
    """Reference solution: probabilities from ``logits / temperature`` (``temperature > 0``)."""
    return torch.softmax(logits.float() / temperature, dim=-1)


def check_temperature_softmax(
    fn: Callable[[Tensor, float], Tensor], quiet: bool = False
) -> CheckResult:
    """Check ``temperature_softmax(logits, temperature) -> probs`` (1-D) as ``generate`` samples."""

    def checks(fn):
        logits = torch.tensor([2.0, 1.0, 0.5, -1.0, -3.0])
        for t in (1.0, 0.5, 2.0, 0.1):
            got = torch.as_tensor(fn(logits.clone(), t), dtype=torch.float32)
            want = torch.softmax(logits / t, dim=-1)
            if got.shape != want.shape:
                raise ExerciseFailed(
                    f"it returned shape {tuple(got.shape)} for 5 logits",
                    "One probability per token.",
                )
            if not torch.allclose(got, want, atol=1e-5):
                hint = "Divide the logits by the temperature, then apply softmax."
                if not math.isclose(got.sum().item(), 1.0, abs_tol=1e-4):
                    hint = "Probabilities must sum to 1: apply softmax after reshaping the logits."
                elif torch.allclose(got, torch.softmax(logits * t, dim=-1), atol=1e-5):
                    hint = (
                        "Upside down: a low temperature must sharpen (divide by t, not multiply)."
                    )
                raise ExerciseFailed(
                    f"at temperature {t} it gave {[round(v, 3) for v in got.tolist()]}; expected "
                    f"{[round(v, 3) for v in want.tolist()]}",
                    hint,
                )
        return "right at temperatures 1, 0.5, 2 and 0.1: low sharpens, high flattens."

    return _SET.run("temperature_softmax", fn, checks, quiet)


# =============================================================================== notebook 05

STLR_EXAMPLE = dict(T=1000, lr_max=0.01, cut_frac=0.1, ratio=32)  # the paper's settings (§3.2)


def stlr_by_hand() -> tuple[float, float]:
    """Reference solution: STLR at steps 50 and 400 of T = 1000 (lr_max 0.01, cut_frac 0.1, ratio 32).

    cut = floor(1000 * 0.1) = 100.
    t = 50 (warm-up):  p = 50 / 100 = 0.5;
                       lr = 0.01 * (1 + 0.5 * 31) / 32 = 0.01 * 16.5 / 32 = 0.00515625
    t = 400 (decay):   p = 1 - (400 - 100) / (100 * (1 / 0.1 - 1)) = 1 - 300 / 900 = 2 / 3;
                       lr = 0.01 * (1 + 2 / 3 * 31) / 32 = 0.01 * 21.667 / 32 = 0.0067708
    """
    return 0.01 * (1 + 0.5 * 31) / 32, 0.01 * (1 + 2 / 3 * 31) / 32


def check_stlr_by_hand(
    lr_at_50: float | None, lr_at_400: float | None, quiet: bool = False
) -> CheckResult:
    """Check two STLR values computed by hand against ``schedules.slanted_triangular``."""

    def checks(values):
        if all(v is None for v in values):
            raise NotImplementedError
        for t, got in zip((50, 400), values):
            if got is None:
                raise ExerciseFailed(f"no value yet for step {t}", "Compute both steps.")
            want = schedules.slanted_triangular(t, **STLR_EXAMPLE)
            if not math.isclose(float(got), want, rel_tol=2e-3):
                p = 0.5 if t == 50 else 2 / 3
                hint = "Find cut, then p (rising: t / cut; falling: 1 - (t - cut) / (cut * 9)), "
                hint += "then lr = lr_max * (1 + p * (ratio - 1)) / ratio."
                if math.isclose(float(got), 0.01 * p, rel_tol=2e-3):
                    hint = "That is lr_max * p: the LR never drops below lr_max / ratio, so use "
                    hint += "lr_max * (1 + p * (ratio - 1)) / ratio."
                elif t == 400 and math.isclose(
                    float(got), 0.01 * (1 + 0.7 * 31) / 32, rel_tol=2e-3
                ):
                    hint = "The decay spans T - cut = 900 steps, not T."
                raise ExerciseFailed(f"at step {t} you have {got!r}; that is not it", hint)
        return "both values match schedules.slanted_triangular (0.00516 and 0.00677)."

    return _SET.run("stlr_by_hand", (lr_at_50, lr_at_400), checks, quiet, values=True)


def discriminative_lrs(lr_top: float, n_groups: int, factor: float = 2.6) -> list[float]:
    """Reference solution: one LR per layer group, lowest group first, top group ``lr_top``."""
    return [lr_top / factor ** (n_groups - 1 - i) for i in range(n_groups)]


def check_discriminative_lrs(
    fn: Callable[[float, int, float], Sequence[float]], quiet: bool = False
) -> CheckResult:
    """Check ``discriminative_lrs(lr_top, n_groups, factor) -> [lr per group, lowest first]``."""

    def checks(fn):
        for lr_top, n_groups, factor in [
            (4e-3, 4, 2.6),
            (1e-2, 5, 2.6),
            (1e-3, 1, 2.6),
            (1.0, 3, 2.0),
        ]:
            want = schedules.discriminative_lrs(lr_top, n_groups, factor)
            got = [float(v) for v in fn(lr_top, n_groups, factor)]
            if len(got) != n_groups:
                raise ExerciseFailed(
                    f"for {n_groups} groups it returned {len(got)} rates", "One LR per layer group."
                )
            if not all(math.isclose(g, w, rel_tol=1e-9) for g, w in zip(got, want)):
                hint = "The top (last) group gets lr_top; each group below it lr / factor."
                if all(math.isclose(g, w, rel_tol=1e-9) for g, w in zip(got, want[::-1])):
                    hint = (
                        "Reversed: the list goes from the lowest group (embedding) to the top one."
                    )
                elif all(math.isclose(g, w / factor, rel_tol=1e-9) for g, w in zip(got, want)):
                    hint = "Off by one: the top group itself is not divided (factor ** 0 = 1)."
                raise ExerciseFailed(
                    f"discriminative_lrs({lr_top}, {n_groups}, {factor}) gave "
                    f"{[f'{v:.3g}' for v in got]}; expected {[f'{v:.3g}' for v in want]}",
                    hint,
                )
        return "matches schedules.discriminative_lrs for 1 to 5 groups."

    return _SET.run("discriminative_lrs", fn, checks, quiet)


# =============================================================================== registry

EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in [
        Exercise(
            "ulmfit_stages",
            "00",
            ulmfit_stages,
            check_ulmfit_stages,
            "Stage 1: general text; stage 2: target text, no labels; stage 3: labels. "
            "Two tricks appear in two stages.",
        ),
        Exercise(
            "perplexity",
            "04",
            perplexity,
            check_perplexity,
            "log_softmax, pick each target's log-probability, average, negate, exp.",
        ),
        Exercise(
            "temperature_softmax",
            "04",
            temperature_softmax,
            check_temperature_softmax,
            "softmax(logits / temperature).",
        ),
        Exercise(
            "stlr_by_hand",
            "05",
            stlr_by_hand,
            check_stlr_by_hand,
            "cut = 100; p = t / cut while rising, 1 - (t - cut) / 900 while falling; "
            "lr = 0.01 * (1 + 31 p) / 32.",
        ),
        Exercise(
            "discriminative_lrs",
            "05",
            discriminative_lrs,
            check_discriminative_lrs,
            "Group i of n gets lr_top / factor ** (n - 1 - i).",
        ),
    ]
}
_SET.exercises = EXERCISES  # now that the checkers exist


show_solution = _SET.show_solution
hint = _SET.hint


__all__ = [
    "STAGE_QUIZ",
    "STLR_EXAMPLE",
    "EXERCISES",
    "show_solution",
    "hint",
    "check_ulmfit_stages",
    "check_perplexity",
    "check_temperature_softmax",
    "check_stlr_by_hand",
    "check_discriminative_lrs",
]
