"""The checkers of notebooks 00, 04 and 05 pass their reference solutions, report untouched
exercises as not attempted (pointing at exercises_lm.show_solution), and fail typical mistakes
with the hint that names them."""

from __future__ import annotations

import math

import pytest
import torch

from ulmfit_lesson import schedules
from ulmfit_lesson.course import exercises_lm


def not_attempted(*args):
    raise NotImplementedError


# How each checker is called with the reference solution, and with an untouched exercise.
SOLVED = {
    "ulmfit_stages": lambda q: exercises_lm.check_ulmfit_stages(exercises_lm.ulmfit_stages(), q),
    "perplexity": lambda q: exercises_lm.check_perplexity(exercises_lm.perplexity, q),
    "temperature_softmax": lambda q: exercises_lm.check_temperature_softmax(
        exercises_lm.temperature_softmax, q
    ),
    "stlr_by_hand": lambda q: exercises_lm.check_stlr_by_hand(*exercises_lm.stlr_by_hand(), q),
    "discriminative_lrs": lambda q: exercises_lm.check_discriminative_lrs(
        exercises_lm.discriminative_lrs, q
    ),
}
UNTOUCHED = {
    "ulmfit_stages": lambda: exercises_lm.check_ulmfit_stages(
        dict.fromkeys(exercises_lm.STAGE_QUIZ), quiet=True
    ),
    "perplexity": lambda: exercises_lm.check_perplexity(not_attempted, quiet=True),
    "temperature_softmax": lambda: exercises_lm.check_temperature_softmax(
        not_attempted, quiet=True
    ),
    "stlr_by_hand": lambda: exercises_lm.check_stlr_by_hand(None, None, quiet=True),
    "discriminative_lrs": lambda: exercises_lm.check_discriminative_lrs(not_attempted, quiet=True),
}


def test_every_exercise_is_covered():
    assert set(SOLVED) == set(UNTOUCHED) == set(exercises_lm.EXERCISES)


@pytest.mark.parametrize("name", sorted(SOLVED))
def test_reference_solution_passes(name, capsys):
    result = SOLVED[name](False)
    assert result.passed is True and bool(result)
    assert "[passed]" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(UNTOUCHED))
def test_untouched_exercise_is_not_attempted(name):
    result = UNTOUCHED[name]()
    assert result.passed is None and not result
    assert "not attempted yet" in result.message
    assert f"exercises_lm.show_solution({name!r})" in result.message
    assert "exercises.show_solution" not in result.message.replace("exercises_lm.", "")


def test_stlr_reference_values_are_the_package_schedule():
    lr_50, lr_400 = exercises_lm.stlr_by_hand()
    assert lr_50 == pytest.approx(0.00515625)
    assert lr_400 == pytest.approx(schedules.slanted_triangular(400, **exercises_lm.STLR_EXAMPLE))


def test_quiz_accepts_sets_and_ints_and_names_the_multi_stage_trick():
    answers = {
        s: next(iter(st)) if len(st) == 1 else st for s, st in exercises_lm.STAGE_QUIZ.items()
    }
    assert exercises_lm.check_ulmfit_stages(answers, quiet=True).passed
    wrong = {s: 3 for s in exercises_lm.STAGE_QUIZ}
    result = exercises_lm.check_ulmfit_stages(wrong, quiet=True)
    assert result.passed is False
    partial = dict(answers)
    partial[next(iter(partial))] = None
    assert "no answer yet" in exercises_lm.check_ulmfit_stages(partial, quiet=True).message
    only_three = {s: (3 if st == {2, 3} else st) for s, st in exercises_lm.STAGE_QUIZ.items()}
    assert "{2, 3}" in exercises_lm.check_ulmfit_stages(only_three, quiet=True).message


def nll(logits, targets):
    return torch.nn.functional.cross_entropy(logits, targets, reduction="none")


# (checker call with a wrong answer, a phrase of the expected hint)
WRONG = [
    (
        lambda: exercises_lm.check_perplexity(
            lambda lg, y: torch.nn.functional.cross_entropy(lg, y).item(), quiet=True
        ),
        "exp of it",
    ),
    (
        lambda: exercises_lm.check_perplexity(
            lambda lg, y: nll(lg, y).exp().mean().item(), quiet=True
        ),
        "not the mean of exps",
    ),
    (
        lambda: exercises_lm.check_temperature_softmax(
            lambda lg, t: torch.softmax(lg * t, -1), quiet=True
        ),
        "Upside down",
    ),
    (
        lambda: exercises_lm.check_temperature_softmax(lambda lg, t: lg / t, quiet=True),
        "sum to 1",
    ),
    (lambda: exercises_lm.check_stlr_by_hand(0.005, 0.0067708, quiet=True), "lr_max * p"),
    (
        lambda: exercises_lm.check_stlr_by_hand(0.00515625, 0.01 * (1 + 0.7 * 31) / 32, quiet=True),
        "900 steps",
    ),
    (lambda: exercises_lm.check_stlr_by_hand(0.00515625, None, quiet=True), "both steps"),
    (
        lambda: exercises_lm.check_discriminative_lrs(
            lambda lr, n, f=2.6: [lr / f**i for i in range(n)], quiet=True
        ),
        "Reversed",
    ),
    (
        lambda: exercises_lm.check_discriminative_lrs(
            lambda lr, n, f=2.6: [lr / f ** (n - i) for i in range(n)], quiet=True
        ),
        "Off by one",
    ),
]


@pytest.mark.parametrize("call, phrase", WRONG)
def test_typical_mistake_gets_its_hint(call, phrase):
    result = call()
    assert result.passed is False
    assert phrase in result.message, result.message


def test_hint_and_solution(capsys):
    assert "lr_top" in exercises_lm.hint("discriminative_lrs")
    with pytest.raises(ValueError, match="no exercise"):
        exercises_lm.hint("replace_all_caps")
    assert math.isclose(
        exercises_lm.perplexity(torch.zeros(3, 7), torch.tensor([0, 1, 2])), 7.0, rel_tol=1e-6
    )
