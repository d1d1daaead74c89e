"""The checking machinery (ulmfit_lesson.course.exercises): how a checker's outcome is reported,
on a toy exercise set; then the contract every exercise module keeps with it (each reference
solution passes, an untouched exercise is not attempted, a crash shows the hint). The mistakes of
each module's exercises are tested in its own file (test_exercises_basics, _lm, _clas)."""

from __future__ import annotations

import pytest

from ulmfit_lesson.course import exercises_basics, exercises_clas, exercises_lm
from ulmfit_lesson.course.exercises import Exercise, ExerciseFailed, ExerciseSet


def not_attempted(*args):
    raise NotImplementedError


def double(x: int) -> int:
    """Reference solution of the toy exercise."""
    return 2 * x


TOY = ExerciseSet("toy_module")


def check_double(fn, quiet: bool = False):
    def checks(fn):
        for x in (0, 3):
            if fn(x) != 2 * x:
                raise ExerciseFailed(f"double({x}) gave {fn(x)}", "Add the number to itself.")
        return "both cases right."

    return TOY.run("double", fn, checks, quiet)


TOY.exercises = {"double": Exercise("double", "00", double, check_double, "Multiply by two.")}


def test_run_reports_pass_failure_and_not_attempted(capsys):
    passed = check_double(double)
    assert passed.passed is True and bool(passed) and passed.name == "double"
    assert capsys.readouterr().out == "[passed] double: both cases right.\n"
    failed = check_double(lambda x: x + 1, quiet=True)
    assert failed.passed is False and not failed
    assert failed.message.startswith("[not yet] double: double(0) gave 1")
    assert "Hint: Add the number to itself." in failed.message
    assert "toy_module.show_solution('double') shows one solution" in failed.message
    untouched = check_double(not_attempted, quiet=True)
    assert untouched.passed is None and "[not attempted yet] double" in untouched.message
    assert capsys.readouterr().out == ""  # quiet


def test_a_crash_shows_the_exercises_hint():
    result = check_double(lambda x: [][x], quiet=True)
    assert result.passed is False
    assert "your function raised IndexError" in result.message
    assert "Hint: Multiply by two." in result.message


def test_values_mode_speaks_of_answers():
    def checks(answer):
        if answer is None:
            raise NotImplementedError
        return "right."

    result = TOY.run("double", None, checks, quiet=True, values=True)
    assert result.passed is None and "the answers are still None" in result.message
    assert "shows them" in result.message


def test_hint_and_show_solution(capsys):
    assert TOY.hint("double") == "Multiply by two."
    assert capsys.readouterr().out == "Hint for double: Multiply by two.\n"
    assert "return 2 * x" in TOY.show_solution("double")
    with pytest.raises(ValueError, match="no exercise 'triple' in toy_module"):
        TOY.hint("triple")


def test_a_check_result_displays_nothing_more():
    result = check_double(double, quiet=True)
    assert result._ipython_display_() is None  # Jupyter: the checker printed it already


# The modules whose exercises are all functions, checked as check_x(fn, quiet). (exercises_lm also
# asks for values, so tests/test_exercises_lm.py calls each of its checkers by hand.)
FUNCTION_EXERCISES = [
    pytest.param(module, name, id=f"{module.__name__.split('.')[-1]}.{name}")
    for module in (exercises_basics, exercises_clas)
    for name in module.EXERCISES
]


@pytest.mark.parametrize("module, name", FUNCTION_EXERCISES)
def test_reference_solution_passes(module, name, capsys):
    ex = module.EXERCISES[name]
    result = ex.check(ex.solution)
    assert result.passed is True and bool(result)
    assert "[passed]" in capsys.readouterr().out


@pytest.mark.parametrize("module, name", FUNCTION_EXERCISES)
def test_untouched_exercise_is_not_attempted(module, name):
    result = module.EXERCISES[name].check(not_attempted, quiet=True)
    assert result.passed is None and not result
    assert "not attempted yet" in result.message
    # The tip names the module that holds the solution, not always `exercises`.
    assert f"{module.__name__.split('.')[-1]}.show_solution({name!r})" in result.message


# (module, checker, a function that crashes) in each of the three exercise modules
CRASHES = [
    (exercises_basics, exercises_basics.check_unk_rate, lambda docs, itos: 1 / 0),
    (exercises_clas, exercises_clas.check_error_reduction, lambda a, b: 1 / 0),
    (exercises_lm, exercises_lm.check_perplexity, lambda logits, y: 1 / 0),
]


@pytest.mark.parametrize("module, check, crashing", CRASHES)
def test_crash_is_reported_with_its_modules_hint(module, check, crashing):
    result = check(crashing, quiet=True)
    assert result.passed is False
    assert "ZeroDivisionError" in result.message
    assert module.EXERCISES[result.name].hint in result.message
