"""The questionnaire at the end of every notebook: questions to answer from memory, in the manner of
fastbook's end-of-chapter questionnaires, with the factual ones checked on the spot.

A notebook's questions live in ``ulmfit_lesson/data/questionnaires/<notebook>.toml`` (shipped with
the package, so a learner on Colab has them too), one ``[[question]]`` table each::

    [[question]]
    kind = "number"            # number | choice | word | open
    text = "Going one layer group down, by what factor is the learning rate divided?"
    answer = 2.6
    source = "ulmfit_lesson.schedules:DISCRIMINATIVE_FACTOR"   # the constant it must equal
    section = "Discriminative fine-tuning"                      # the heading that teaches it
    explain = "§3.2: the lower, more general layers change least."

``number``, ``choice`` and ``word`` questions are *factual*: ``check`` marks a learner's answer
right or wrong. ``open`` questions (why? what would happen if?) have a model answer to compare with
after trying. The tests hold every factual answer to the code: an answer with a ``source`` must
equal that constant, and every ``section`` must be a heading of the notebook.

In a notebook, one call shows it all::

    from ulmfit_lesson.course import questionnaire
    questionnaire.show("05_lm_finetuning")

It displays the questions as text (which a static page of the notebook keeps) and, below them, an
answer sheet: a box and a *Check* button per factual question, an *Our answer* button per open one.
"""

from __future__ import annotations

import importlib
import importlib.resources
import math
import re
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

KINDS = ("number", "choice", "word", "open")
CHECKED = ("number", "choice", "word")  # the factual kinds, marked right or wrong
QUESTION_KEYS = {"kind", "text", "answer", "choices", "tolerance", "source", "section", "explain"}


class QuestionnaireError(ValueError):
    """A questionnaire file that does not follow the format; the message names file and question."""


@dataclass(frozen=True)
class Question:
    number: int  # 1-based, as the learner sees it
    kind: str
    text: str
    answer: Any  # number: float; choice: one of ``choices``; word: accepted spellings; open: prose
    section: str
    explain: str = ""
    choices: tuple[str, ...] = ()
    tolerance: float = 0.0
    source: str | None = None

    @property
    def checked(self) -> bool:
        return self.kind in CHECKED


@dataclass(frozen=True)
class Questionnaire:
    notebook: str
    title: str
    questions: tuple[Question, ...]

    def __getitem__(self, number: int) -> Question:
        if not 1 <= number <= len(self.questions):
            raise KeyError(f"{self.notebook}: no question {number} (1-{len(self.questions)})")
        return self.questions[number - 1]


@dataclass(frozen=True)
class Verdict:
    """What ``check`` says: ``correct`` is ``None`` for an open question (nothing to mark)."""

    correct: bool | None
    message: str

    def __bool__(self) -> bool:
        return bool(self.correct)


# ----------------------------------------------------------------------------- reading the files


def questionnaire_file(notebook: str):
    """The packaged file of ``notebook`` (a ``Traversable``; ``read_text()`` reads it)."""
    return (
        importlib.resources.files("ulmfit_lesson") / "data" / "questionnaires" / f"{notebook}.toml"
    )


def available() -> list[str]:
    """The notebooks that have a questionnaire, by name."""
    folder = importlib.resources.files("ulmfit_lesson") / "data" / "questionnaires"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load(notebook: str) -> Questionnaire:
    """Read and validate ``notebook``'s questionnaire; a malformed one raises ``QuestionnaireError``."""
    path = questionnaire_file(notebook)
    if not path.is_file():
        raise QuestionnaireError(f"no questionnaire for {notebook!r}; there are: {available()}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise QuestionnaireError(f"{path.name}: not valid TOML ({e})") from e
    if data.get("notebook") != notebook:
        raise QuestionnaireError(
            f"{path.name}: notebook = {data.get('notebook')!r}, expected {notebook!r}"
        )
    raw = data.get("question", [])
    if not raw:
        raise QuestionnaireError(f"{path.name}: no [[question]] tables")
    questions = tuple(_question(path.name, i, q) for i, q in enumerate(raw, start=1))
    return Questionnaire(notebook, data.get("title", notebook), questions)


def _question(file: str, number: int, q: dict) -> Question:
    where = f"{file}, question {number}"
    unknown = set(q) - QUESTION_KEYS
    if unknown:
        raise QuestionnaireError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(QUESTION_KEYS)}"
        )
    kind = q.get("kind")
    if kind not in KINDS:
        raise QuestionnaireError(f"{where}: kind = {kind!r}, expected one of {KINDS}")
    for key in ("text", "answer", "section"):
        if key not in q:
            raise QuestionnaireError(f"{where}: missing {key!r}")
    answer, choices = q["answer"], tuple(q.get("choices", ()))
    if kind == "number" and (isinstance(answer, bool) or not isinstance(answer, int | float)):
        raise QuestionnaireError(
            f"{where}: a number question needs a number answer, got {answer!r}"
        )
    if kind == "choice" and answer not in choices:
        raise QuestionnaireError(
            f"{where}: answer {answer!r} is not one of choices {list(choices)}"
        )
    if kind == "word":
        answer = tuple([answer] if isinstance(answer, str) else answer)
        if not answer or not all(isinstance(a, str) and a.strip() for a in answer):
            raise QuestionnaireError(
                f"{where}: a word question needs accepted spellings, got {answer!r}"
            )
    return Question(
        number=number,
        kind=kind,
        text=q["text"].strip(),
        answer=float(answer) if kind == "number" else answer,
        section=q["section"],
        explain=q.get("explain", "").strip(),
        choices=choices,
        tolerance=float(q.get("tolerance", 0.0)),
        source=q.get("source"),
    )


def resolve_source(source: str) -> Any:
    """The value a ``source`` names: ``"module:NAME"``, ``"module:NAME.attr"`` or ``"module:NAME[key]"``.

    The tests use it to hold factual answers to the package's constants, so a changed default
    cannot leave a questionnaire teaching the old one.
    """
    module, _, path = source.partition(":")
    value: Any = importlib.import_module(module)
    for name, key in re.findall(r"\.?([A-Za-z_]\w*)|\[([^\]]+)\]", path):
        if name:
            value = getattr(value, name)
        else:
            value = value[int(key) if key.lstrip("-").isdigit() else key.strip("'\"")]
    return value


# ----------------------------------------------------------------------------- checking an answer


def parse_number(text: str | float) -> float:
    """A learner's number: ``2.6``, ``1,152``, ``1_152``, ``1/32``, ``1e-3``, ``-0.5``."""
    if isinstance(text, int | float):
        return float(text)
    cleaned = re.sub(r"[\s,_]", "", str(text))
    try:
        return float(Fraction(cleaned)) if "/" in cleaned else float(cleaned)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a number (try 2.6, 1152 or 1/32)") from None


def normalise_word(text: str) -> str:
    """Compare words the way a reader would: case, spaces, quotes and backticks do not matter."""
    return re.sub(r"[\s`'\"]", "", str(text)).lower()


def check(notebook: str | Questionnaire, number: int, response: Any) -> Verdict:
    """Mark ``response`` to question ``number``: right or wrong, with the explanation either way.

    A choice may be answered by its text or its letter (``"b"``); an open question returns its
    model answer (``correct`` is ``None``).
    """
    q = (load(notebook) if isinstance(notebook, str) else notebook)[number]
    if q.kind == "open":
        return Verdict(None, f"One answer: {q.answer}")
    if q.kind == "number":
        try:
            given = parse_number(response)
        except ValueError as e:
            return Verdict(False, str(e))
        correct = abs(given - q.answer) <= q.tolerance or math.isclose(
            given, q.answer, rel_tol=1e-9
        )
    elif q.kind == "choice":
        text = str(response).strip()
        letters = {chr(ord("a") + i): c for i, c in enumerate(q.choices)}
        chosen = letters.get(text.lower().strip("()."), text)
        correct = normalise_word(chosen) == normalise_word(q.answer)
    else:
        correct = normalise_word(response) in {normalise_word(a) for a in q.answer}
    head = "Right." if correct else f"Not quite: the answer is {expected(q)}."
    return Verdict(correct, f"{head} {q.explain}".strip())


def expected(q: Question) -> str:
    """The answer as a learner would write it."""
    if q.kind == "number":
        return f"{q.answer:g}"
    if q.kind == "word":
        return f"`{q.answer[0]}`"
    return str(q.answer)


# ----------------------------------------------------------------------------- showing it


def markdown(quiz: Questionnaire) -> str:
    """The questions as a numbered Markdown list (choices as (a), (b), ...); factual ones marked."""
    lines = [
        f"**{len(quiz.questions)} questions** on *{quiz.title}* (✔ = checked by the answer sheet):",
        "",
    ]
    for q in quiz.questions:
        mark = " ✔" if q.checked else ""
        options = " &nbsp; ".join(f"({chr(ord('a') + i)}) {c}" for i, c in enumerate(q.choices))
        lines.append(f"{q.number}. {q.text}{mark}" + (f"<br>{options}" if options else ""))
    return "\n".join(lines)


def answer_sheet(quiz: Questionnaire):
    """The interactive part: per factual question an input and a *Check* button, per open question
    an *Our answer* button. Returns the box, with ``box.inputs`` / ``box.buttons`` / ``box.outputs``
    (question number -> widget) for tests and curious learners."""
    import ipywidgets as W

    rows, inputs, buttons, outputs = [], {}, {}, {}
    for q in quiz.questions:
        out = W.HTMLMath()
        label = W.HTML(f"<b>{q.number}.</b>", layout=W.Layout(width="2.5em"))
        if q.kind == "choice":
            box = W.Dropdown(options=["—", *q.choices], layout=W.Layout(width="28em"))
        elif q.checked:
            box = W.Text(placeholder="your answer", layout=W.Layout(width="12em"))
        else:
            box = None
        button = W.Button(description="Check" if box is not None else "Our answer")

        def on_click(_, q=q, box=box, out=out):
            response = "" if box is None else box.value
            if q.kind == "choice" and response == "—":
                out.value = "Pick one first."
                return
            verdict = check(quiz, q.number, response)
            icon = {True: "✔ ", False: "✘ ", None: ""}[verdict.correct]
            out.value = icon + verdict.message

        button.on_click(on_click)
        rows.append(W.HBox([label, *([box] if box is not None else []), button, out]))
        inputs[q.number], buttons[q.number], outputs[q.number] = box, button, out
    sheet = W.VBox(rows)
    sheet.inputs, sheet.buttons, sheet.outputs = inputs, buttons, outputs
    return sheet


def show(notebook: str):
    """Display ``notebook``'s questionnaire: the questions as text, then the answer sheet."""
    from IPython.display import Markdown, display

    quiz = load(notebook)
    display(Markdown(markdown(quiz)))
    sheet = answer_sheet(quiz)
    display(sheet)
    return None


__all__ = [
    "Question",
    "Questionnaire",
    "QuestionnaireError",
    "Verdict",
    "answer_sheet",
    "available",
    "check",
    "load",
    "markdown",
    "parse_number",
    "resolve_source",
    "show",
]
