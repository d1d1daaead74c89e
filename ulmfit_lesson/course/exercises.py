"""The checking machinery of the course's exercises: run a learner's answer, print what it means.

A notebook asks the learner to write a small function (or fill in values), then calls a checker::

    def locked_mask(x, p):
        raise NotImplementedError  # your code here

    exercises_basics.check_locked_mask(locked_mask)

The checker runs the function on cases chosen so that each typical mistake fails in its own way
(``raise ExerciseFailed(what, hint)``), and prints either a pass, or what went wrong with a hint
that points at the idea (not the code). A function that still raises ``NotImplementedError`` is
reported as "not attempted yet", so a notebook with untouched exercises still runs top to bottom.
``show_solution(name)`` displays the reference solution, which lives in the exercise module, out of
sight of the notebook.

The exercises themselves, by the notebooks' split: ``exercises_basics`` (01-03), ``exercises_lm``
(00, 04, 05), ``exercises_clas`` (06-09). Each builds one ``ExerciseSet``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ulmfit_lesson.course import explain


@dataclass
class CheckResult:
    """The outcome of a check. ``passed`` is ``None`` when the exercise was not attempted yet.

    Truthy only when passed. It has already been printed, so Jupyter shows nothing more for it.
    """

    name: str
    passed: bool | None
    message: str

    def __bool__(self) -> bool:
        return bool(self.passed)

    def _ipython_display_(self) -> None:  # the checker printed the message already
        pass


class ExerciseFailed(Exception):
    """A failed check: ``what`` happened, and a ``hint`` about the idea behind it."""

    def __init__(self, what: str, hint: str):
        super().__init__(what)
        self.what, self.hint = what, hint


@dataclass(frozen=True)
class Exercise:
    """One exercise: the notebook that asks it, its hidden reference solution, checker and hint."""

    name: str
    notebook: str
    solution: Callable
    check: Callable[..., CheckResult]
    hint: str


class ExerciseSet:
    """The exercises of one module, and the machinery all their checkers share.

    ``exercises_basics``, ``exercises_lm`` and ``exercises_clas`` each hold one set; its ``run``
    turns a checker's outcome into the printed ``[passed]`` / ``[not yet]`` / ``[not attempted
    yet]`` message, and its ``hint`` and ``show_solution`` are the modules' ``hint`` and
    ``show_solution``.
    """

    def __init__(self, module: str):
        self.module = module  # named in the messages: "exercises_lm.show_solution('perplexity')"
        # {name: Exercise}; each module sets it to its EXERCISES at the end, after its checkers.
        self.exercises: dict[str, Exercise] = {}

    def run(
        self,
        name: str,
        answer: Any,
        checks: Callable[[Any], str],
        quiet: bool,
        values: bool = False,
    ) -> CheckResult:
        """Run ``checks(answer)``; turn NotImplementedError, failures and crashes into messages.

        ``answer`` is the learner's function, or with ``values=True`` the values they filled in
        (a checker raises ``NotImplementedError`` while those are still ``None``).
        """
        call = f"{self.module}.show_solution({name!r})"
        tip = f"(Stuck? {call} shows {'them' if values else 'one solution'}.)"
        passed: bool | None = False
        try:
            summary = checks(answer)
        except NotImplementedError:
            passed = None
            if values:
                todo = "the answers are still None. Replace them with yours"
            else:
                todo = "the function still raises NotImplementedError. "
                todo += "Replace that line with your code"
            message = f"[not attempted yet] {name}: {todo} and run the cell again. {tip}"
        except ExerciseFailed as fail:
            message = f"[not yet] {name}: {fail.what}\n  Hint: {fail.hint}\n  {tip}"
        except Exception as err:  # the learner's code crashed: show the error, not a traceback
            culprit = "checking your answers" if values else "your function"
            message = (
                f"[not yet] {name}: {culprit} raised {type(err).__name__}: {err}\n"
                f"  Hint: {self.exercises[name].hint}\n  {tip}"
            )
        else:
            passed, message = True, f"[passed] {name}: {summary}"
        if not quiet:
            print(message)
        return CheckResult(name, passed, message)

    def show_solution(self, name: str) -> str:
        """Display (and return) the reference solution of exercise ``name``."""
        return explain.show_source(self._get(name).solution)

    def hint(self, name: str) -> str:
        """Print (and return) a hint for exercise ``name``."""
        hint = self._get(name).hint
        print(f"Hint for {name}: {hint}")
        return hint

    def _get(self, name: str) -> Exercise:
        if name not in self.exercises:
            raise ValueError(
                f"no exercise {name!r} in {self.module}; "
                f"the exercises are {', '.join(self.exercises)}"
            )
        return self.exercises[name]


__all__ = ["CheckResult", "Exercise", "ExerciseFailed", "ExerciseSet"]
