"""Exercises for the classifier notebooks (06-09), checked by the machinery of ``exercises.py``.

    def concat_pool(output, mask):
        raise NotImplementedError  # your code here

    exercises_clas.check_concat_pool(concat_pool)

Each checker compares the learner's function with the package (``classifier.concat_pool``,
``clas_recipes.plan_stages``, ``clas_recipes.tune_thresholds``) or with properties the answer must
have, on cases chosen so that each typical mistake fails with its own hint. An untouched exercise
(still raising ``NotImplementedError``) is reported as "not attempted yet", so the notebook runs.
``hint(name)`` and ``show_solution(name)`` work as in ``exercises_basics``.

Exercises: ``concat_pool`` and ``unfreeze_plan`` (notebook 06), ``error_reduction`` (07),
``best_threshold`` (08), ``split_table`` (09).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ulmfit_lesson import clas_recipes, classifier
from ulmfit_lesson.course.exercises import CheckResult, Exercise, ExerciseFailed, ExerciseSet

_SET = ExerciseSet(__name__.rsplit(".", 1)[-1])  # this module's exercises, added at the end


# =============================================================================== notebook 06


def concat_pool(output: Tensor, mask: Tensor) -> Tensor:
    """Reference solution: ``[h_T, maxpool, meanpool]`` over the real tokens of each row.

    ``output`` (bs, seq_len, n), ``mask`` (bs, seq_len) bool; returns (bs, 3 * n).
    """
    bs, seq_len, _ = output.shape
    positions = torch.arange(seq_len).expand(bs, seq_len)  # (bs, seq_len)
    last = torch.where(mask, positions, -1).max(dim=1).values  # index of the true last token
    h_last = output[torch.arange(bs), last]  # (bs, n)
    real = mask.unsqueeze(-1)  # (bs, seq_len, 1)
    max_pool = output.masked_fill(~real, float("-inf")).max(dim=1).values  # padding never wins
    mean_pool = (output * real).sum(dim=1) / real.sum(dim=1)  # divide by the TRUE length
    return torch.cat([h_last, max_pool, mean_pool], dim=1)


def _pool_case() -> tuple[Tensor, Tensor]:
    """Three rows laid out as ``pad_chunks`` does (bptt=3): front chunks of padding, a tail of it.

    The padding outputs are large and positive, so a pool that lets them in is visibly wrong.
    """
    gen = torch.Generator().manual_seed(0)
    output = torch.randn(3, 6, 4, generator=gen)
    mask = torch.tensor(
        [[1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.bool
    )
    return output.masked_fill(~mask.unsqueeze(-1), 9.0), mask


def check_concat_pool(fn: Callable[[Tensor, Tensor], Tensor], quiet: bool = False) -> CheckResult:
    """Check ``concat_pool(output, mask) -> (bs, 3n)`` against ``classifier.concat_pool``."""

    def checks(fn):
        output, mask = _pool_case()
        n = output.size(-1)
        got = torch.as_tensor(fn(output.clone(), mask.clone()))
        want = classifier.concat_pool(output, mask)
        if got.shape != want.shape:
            raise ExerciseFailed(
                f"the result has shape {tuple(got.shape)}, expected {tuple(want.shape)} = (bs, 3 * n)",
                "Concatenate the three pooled (bs, n) tensors along dimension 1: [h_T, max, mean].",
            )
        names = ("h_T", "the max-pool", "the mean-pool")
        for k, name in enumerate(names):
            part, ref = got[:, k * n : (k + 1) * n], want[:, k * n : (k + 1) * n]
            if torch.allclose(part, ref, atol=1e-5):
                continue
            if k == 0 and torch.allclose(part, output[:, -1]):
                hint = (
                    "output[:, -1] is the last POSITION, which is padding in rows 0 and 1. h_T is "
                    "the output at each row's last REAL token: the largest position where mask is True."
                )
            elif k == 1 and torch.allclose(part, output.max(dim=1).values):
                hint = "Padding won the max. Fill padded positions with -inf before taking the max."
            elif k == 2 and torch.allclose(part, (output * mask.unsqueeze(-1)).mean(dim=1)):
                hint = (
                    "Divide the sum over real tokens by the number of REAL tokens, not by seq_len."
                )
            elif k == 2 and torch.allclose(part, output.mean(dim=1)):
                hint = "The mean includes padding: zero it out (or mask it), then divide by the true length."
            elif any(
                torch.allclose(part, want[:, j * n : (j + 1) * n], atol=1e-5) for j in range(3)
            ):
                hint = "The parts are in the wrong order: the paper's h_c = [h_T, maxpool(H), meanpool(H)]."
            else:
                hint = (
                    "Only real positions (mask True) may contribute; rows may start with padding."
                )
            row = int((~torch.isclose(part, ref, atol=1e-5)).any(dim=1).nonzero()[0])
            raise ExerciseFailed(f"{name} is wrong (first wrong row: {row})", hint)
        return "h_T at the true last token; padding ignored by the max and the mean."

    return _SET.run("concat_pool", fn, checks, quiet)


def unfreeze_plan(n_groups: int, epochs: int) -> list[tuple[int, int]]:
    """Reference solution: ``(freeze_to, n_epochs)`` stages of gradual unfreezing.

    One epoch with the top group, then one more group per epoch while epochs remain, and everything
    for the rest; the last epoch always trains every group.
    """
    n_gradual = min(epochs - 1, n_groups - 1)  # stages that add one group each
    stages = [(-k, 1) for k in range(1, n_gradual + 1)]
    stages.append((0, epochs - n_gradual))  # all groups until the end
    return stages


def check_unfreeze_plan(fn: Callable[[int, int], list], quiet: bool = False) -> CheckResult:
    """Check ``unfreeze_plan(n_groups, epochs)`` against ``clas_recipes.plan_stages``."""

    def checks(fn):
        for n_groups, epochs in [(5, 6), (5, 10), (5, 3), (3, 5), (5, 1)]:
            got = [tuple(int(v) for v in s) for s in fn(n_groups, epochs)]
            want = [tuple(s) for s in clas_recipes.plan_stages(n_groups, epochs)]
            if got == want:
                continue
            total = sum(s[1] for s in got)
            if any(s[1] < 1 for s in got):
                hint = (
                    "Each stage trains at least one epoch: with fewer epochs than groups, stop "
                    "adding groups early and train everything in the last epoch."
                )
            elif total != epochs:
                hint = f"The stages' epochs must add up to the {epochs} epochs in all."
            elif got and got[0][0] != -1:
                hint = "Start with freeze_to(-1): only the top group (the new head) trains."
            elif got and got[-1][0] != 0:
                hint = "The last stage is freeze_to(0): every group trains at the end."
            else:
                hint = "Add one group per epoch (-1, -2, ...) while there are frozen groups AND epochs left."
            raise ExerciseFailed(
                f"for {n_groups} groups and {epochs} epochs you gave {got}, expected {want}", hint
            )
        return "the same plan as clas_recipes.plan_stages for every case."

    return _SET.run("unfreeze_plan", fn, checks, quiet)


# =============================================================================== notebook 07


def error_reduction(baseline_error: float, new_error: float) -> float:
    """Reference solution: the share of the baseline's errors that the new method removes."""
    return (baseline_error - new_error) / baseline_error


def check_error_reduction(fn: Callable[[float, float], float], quiet: bool = False) -> CheckResult:
    """Check ``error_reduction(baseline, new)`` on the paper's own claims (ULMFiT §4.2, test errors)."""

    def checks(fn):
        cases = [
            (8.2, 4.6, 0.439, "IMDb, CoVe 8.2% vs ULMFiT 4.6%"),
            (6.57, 5.01, 0.237, "AG, 6.57% vs 5.01%"),
        ]
        for base, new, want, what in cases:
            got = float(fn(base, new))
            if math.isclose(got, want, abs_tol=6e-4):
                continue
            if math.isclose(got, want * 100, abs_tol=0.06):
                hint = "Return a fraction (0.439), not a percentage (43.9)."
            elif math.isclose(got, (base - new) / new, rel_tol=1e-3):
                hint = "Divide by the BASELINE's error: the share of its errors that disappear."
            elif math.isclose(got, base - new, rel_tol=1e-3):
                hint = "That is the difference in points; a relative reduction divides it by the baseline error."
            else:
                hint = "(baseline error - new error) / baseline error."
            raise ExerciseFailed(f"{what}: you gave {got:.4f}, the paper says {want:.3f}", hint)
        return "matches the paper's -43.9% (IMDb vs CoVe) and -23.7% (AG)."

    return _SET.run("error_reduction", fn, checks, quiet)


# =============================================================================== notebook 08


def best_threshold(probs: Sequence[float], truth: Sequence[bool]) -> float:
    """Reference solution: the threshold of the grid 0.05 ... 0.95 with the best F1 for one label.

    Ties go to the threshold nearest 0.5 (as ``clas_recipes.tune_thresholds``).
    """
    probs, truth = np.asarray(probs, dtype=float), np.asarray(truth, dtype=bool)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    best_f1, best_t = -1.0, 0.5
    for t in sorted(grid, key=lambda t: abs(t - 0.5)):
        pred = probs >= t
        tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        if f1 > best_f1:
            best_f1, best_t = f1, float(t)
    return best_t


def check_best_threshold(fn: Callable, quiet: bool = False) -> CheckResult:
    """Check ``best_threshold(probs, truth)`` against ``clas_recipes.tune_thresholds`` (one label)."""

    def checks(fn):
        rng = np.random.default_rng(0)
        truth = rng.random(200) < 0.1  # a rare label: about 10% positives
        # A cautious model: positives score higher, but rarely above 0.5.
        probs = np.clip(rng.normal(0.15, 0.08, 200) + 0.25 * truth, 0, 1)
        cases = [
            ("a rare label", probs, truth),
            ("an easy label", np.where(truth, 0.9, 0.1), truth),
        ]
        for what, p, y in cases:
            got = float(fn(p.copy(), y.copy()))
            want = clas_recipes.tune_thresholds(p[:, None], y[:, None])[0]
            if math.isclose(got, want, abs_tol=1e-6):
                continue
            hint = "Try every threshold of the grid 0.05, 0.10, ..., 0.95; keep the one with the best F1 of this label."
            if math.isclose(got, 0.5):
                hint = (
                    "0.5 is rarely best for a rare label: its probabilities seldom reach it. "
                    + hint
                )
            raise ExerciseFailed(
                f"on {what} you chose {got:.2f}; the best F1 is at {want:.2f}", hint
            )
        return "the same thresholds as clas_recipes.tune_thresholds."

    return _SET.run("best_threshold", fn, checks, quiet)


# =============================================================================== notebook 09


def split_table(df: pd.DataFrame, valid_frac: float = 0.2, seed: int = 0):
    """Reference solution: a stratified train/validation split (each label keeps its share)."""
    valid_parts = []
    for _, rows in df.groupby("label"):
        n_valid = max(1, round(len(rows) * valid_frac))  # every label in the validation set
        valid_parts.append(rows.sample(n=n_valid, random_state=seed))
    valid = pd.concat(valid_parts)
    train = df.drop(index=valid.index)
    return train, valid


def check_split_table(fn: Callable, quiet: bool = False) -> CheckResult:
    """Check ``split_table(df, valid_frac, seed) -> (train, valid)`` by the properties a split needs."""

    def checks(fn):
        labels = ["good"] * 30 + ["bad"] * 15 + ["meh"] * 5
        df = pd.DataFrame({"text": [f"review number {i}" for i in range(50)], "label": labels})
        train, valid = fn(df.copy(), 0.2, 0)
        if set(train.text) & set(valid.text):
            raise ExerciseFailed(
                "some rows are in both train and valid", "A row goes to exactly one side."
            )
        if len(train) + len(valid) != len(df):
            raise ExerciseFailed(
                f"train ({len(train)}) + valid ({len(valid)}) rows != {len(df)}",
                "Every row must end up on one side; none lost, none duplicated.",
            )
        if not 5 <= len(valid) <= 15:
            raise ExerciseFailed(
                f"valid has {len(valid)} rows for valid_frac=0.2 of 50",
                "Aim for about valid_frac of the rows.",
            )
        missing = sorted(set(df.label) - set(valid.label))
        if missing:
            raise ExerciseFailed(
                f"label(s) {missing} are not in the validation set",
                "Split each label separately (df.groupby('label')), so rare labels are validated too.",
            )
        if set(df.label) - set(train.label):
            raise ExerciseFailed(
                "a label is missing from train", "Keep most rows of every label for training."
            )
        again = fn(df.copy(), 0.2, 0)[1]
        if sorted(again.text) != sorted(valid.text):
            raise ExerciseFailed(
                "two calls with the same seed gave different splits",
                "Use the seed (e.g. sample(random_state=seed)).",
            )
        return "disjoint, complete, every label on both sides, reproducible."

    return _SET.run("split_table", fn, checks, quiet)


# =============================================================================== registry


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in [
        Exercise(
            "concat_pool",
            "06",
            concat_pool,
            check_concat_pool,
            "h_T: output at the largest position where mask is True; max over positions filled "
            "with -inf at padding; mean = masked sum / true length; torch.cat([...], dim=1).",
        ),
        Exercise(
            "unfreeze_plan",
            "06",
            unfreeze_plan,
            check_unfreeze_plan,
            "n_gradual = min(epochs - 1, n_groups - 1) stages (-1, 1), (-2, 1), ...; then (0, the rest).",
        ),
        Exercise(
            "error_reduction",
            "07",
            error_reduction,
            check_error_reduction,
            "(baseline_error - new_error) / baseline_error",
        ),
        Exercise(
            "best_threshold",
            "08",
            best_threshold,
            check_best_threshold,
            "Loop over np.arange(0.05, 0.951, 0.05); F1 = 2tp / (2tp + fp + fn); keep the best.",
        ),
        Exercise(
            "split_table",
            "09",
            split_table,
            check_split_table,
            "For each label (df.groupby('label')) sample about valid_frac of its rows (at least 1) "
            "for valid; train = df.drop(index=valid.index).",
        ),
    ]
}
_SET.exercises = EXERCISES  # now that the checkers exist


show_solution = _SET.show_solution
hint = _SET.hint


__all__ = [
    "EXERCISES",
    "show_solution",
    "hint",
    "check_concat_pool",
    "check_unfreeze_plan",
    "check_error_reduction",
    "check_best_threshold",
    "check_split_table",
]
