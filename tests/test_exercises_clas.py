"""The classifier notebooks' exercises fail typical wrong answers with the hint that names the
mistake. (That each passes its reference solution and reports an untouched exercise as not
attempted is tested with the other modules' exercises in test_exercises.py.)"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from ulmfit_lesson import classifier
from ulmfit_lesson.course import exercises_clas


def test_reference_pool_equals_the_package():
    output, mask = exercises_clas._pool_case()
    assert torch.allclose(
        exercises_clas.concat_pool(output, mask), classifier.concat_pool(output, mask)
    )


def last_position_pool(output, mask):
    real = mask.unsqueeze(-1)
    return torch.cat([output[:, -1], output.masked_fill(~real, float("-inf")).max(1).values,
                      (output * real).sum(1) / real.sum(1)], dim=1)  # fmt: skip


def unmasked_max_pool(output, mask):
    pos = torch.arange(mask.size(1)).expand_as(mask)
    last = torch.where(mask, pos, -1).max(1).values
    real = mask.unsqueeze(-1)
    return torch.cat([output[torch.arange(len(mask)), last], output.max(1).values,
                      (output * real).sum(1) / real.sum(1)], dim=1)  # fmt: skip


def width_mean_pool(output, mask):
    pos = torch.arange(mask.size(1)).expand_as(mask)
    last = torch.where(mask, pos, -1).max(1).values
    real = mask.unsqueeze(-1)
    return torch.cat([output[torch.arange(len(mask)), last],
                      output.masked_fill(~real, float("-inf")).max(1).values,
                      (output * real).mean(1)], dim=1)  # fmt: skip


def no_stage_after_groups(n_groups, epochs):
    return [(-k, 1) for k in range(1, n_groups)] + [(0, epochs - n_groups + 1)]


def always_half(probs, truth):
    return 0.5


def split_without_stratifying(df, valid_frac=0.2, seed=0):
    valid = df.tail(round(len(df) * valid_frac))  # the last rows: all one label here
    return df.drop(index=valid.index), valid


def one_epoch_short(n_groups, epochs):
    return [(-1, 1), (0, epochs - 2)]


# (checker, wrong answer, a phrase of the expected hint)
WRONG = [
    (exercises_clas.check_concat_pool, last_position_pool, "last POSITION"),
    (exercises_clas.check_concat_pool, unmasked_max_pool, "-inf"),
    (exercises_clas.check_concat_pool, width_mean_pool, "number of REAL tokens"),
    (exercises_clas.check_unfreeze_plan, no_stage_after_groups, "at least one epoch"),
    (exercises_clas.check_unfreeze_plan, one_epoch_short, "add up"),
    (exercises_clas.check_error_reduction, lambda b, n: 100 * (b - n) / b, "not a percentage"),
    (exercises_clas.check_error_reduction, lambda b, n: (b - n) / n, "BASELINE"),
    (exercises_clas.check_best_threshold, always_half, "rarely best"),
    (exercises_clas.check_split_table, split_without_stratifying, "groupby"),
]


@pytest.mark.parametrize("check, wrong, phrase", WRONG)
def test_typical_mistakes_get_their_hint(check, wrong, phrase):
    result = check(wrong, quiet=True)
    assert result.passed is False
    assert phrase in result.message


def test_hint_and_solution(capsys):
    assert "groupby" in exercises_clas.hint("split_table")
    assert "def concat_pool" in exercises_clas.show_solution("concat_pool")
    with pytest.raises(ValueError, match="no exercise"):
        exercises_clas.hint("nope")


def test_split_reference_keeps_every_label():
    df = pd.DataFrame({"text": list("abcdefghij"), "label": ["x"] * 8 + ["y"] * 2})
    train, valid = exercises_clas.split_table(df, 0.2, 0)
    assert set(valid.label) == {"x", "y"} and set(train.label) == {"x", "y"}
