"""The notebooks' questionnaires: the files follow the format, their factual answers agree with the
package, every question points at a heading that teaches it, and the answer sheet marks answers."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from ulmfit_lesson.course import questionnaire as qn

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def headings(stem: str) -> set[str]:
    """The markdown headings of a notebook's jupytext source (``# ## Heading`` lines)."""
    text = (ROOT / "notebooks" / "src" / f"{stem}.py").read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^# #{1,6} (.+)$", text, re.M)}


def test_every_lesson_has_a_questionnaire_of_15_to_30_questions():
    assert LESSONS and set(LESSONS) == set(qn.available())
    for stem in LESSONS:
        quiz = qn.load(stem)
        n_checked = sum(q.checked for q in quiz.questions)
        assert 15 <= len(quiz.questions) <= 30, (stem, len(quiz.questions))
        assert n_checked >= 8, f"{stem}: only {n_checked} factual (auto-checked) questions"


@pytest.mark.parametrize("stem", LESSONS)
def test_each_question_points_at_a_heading_of_its_notebook(stem):
    have = headings(stem)
    missing = [(q.number, q.section) for q in qn.load(stem).questions if q.section not in have]
    assert not missing, f"{stem}: sections that are not headings: {missing}"


@pytest.mark.parametrize("stem", LESSONS)
def test_factual_answers_equal_the_package_constants_they_name(stem):
    for q in qn.load(stem).questions:
        if q.source is None:
            continue
        value = qn.resolve_source(q.source)
        if q.kind == "number":
            assert float(value) == pytest.approx(q.answer), (stem, q.number, q.source, value)
        elif q.kind == "word":
            assert qn.normalise_word(str(value)) in {qn.normalise_word(a) for a in q.answer}
        else:
            assert str(value) == q.answer, (stem, q.number, q.source, value)
        # and the sheet accepts the constant itself as the answer
        assert qn.check(stem, q.number, str(value) if q.kind != "number" else value)


@pytest.mark.parametrize("stem", LESSONS)
def test_each_notebook_ends_with_its_questionnaire(stem):
    src = (ROOT / "notebooks" / "src" / f"{stem}.py").read_text(encoding="utf-8")
    assert f'questionnaire.show("{stem}")' in src
    assert "## Review questions" not in src, f"{stem}: the old review questions are still there"


def test_numbers_are_read_the_way_learners_write_them():
    assert qn.parse_number("1,152") == 1152
    assert qn.parse_number(" 1_152 ") == 1152
    assert qn.parse_number("1/32") == pytest.approx(0.03125)
    assert qn.parse_number("1e-3") == 0.001
    with pytest.raises(ValueError, match="not a number"):
        qn.parse_number("two point six")


QUIZ = textwrap.dedent(
    """\
    notebook = "99_test"
    title = "A test"

    [[question]]
    kind = "number"
    text = "Factor?"
    answer = 2.6
    section = "S"
    explain = "Because."

    [[question]]
    kind = "choice"
    text = "Which?"
    choices = ["red", "green", "blue"]
    answer = "green"
    section = "S"

    [[question]]
    kind = "word"
    text = "Token?"
    answer = ["xxmaj", "xx maj"]
    section = "S"

    [[question]]
    kind = "open"
    text = "Why?"
    answer = "Since so."
    section = "S"
    """
)


@pytest.fixture
def quiz(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "questionnaires"
    folder.mkdir(parents=True)
    (folder / "99_test.toml").write_text(QUIZ, encoding="utf-8")
    monkeypatch.setattr(qn.importlib.resources, "files", lambda _pkg: tmp_path)
    return qn.load("99_test")


def test_check_marks_each_kind(quiz):
    assert qn.check(quiz, 1, "2.6") and qn.check(quiz, 1, 2.6)
    wrong = qn.check(quiz, 1, "2.5")
    assert wrong.correct is False and "2.6" in wrong.message and "Because." in wrong.message
    assert qn.check(quiz, 1, "abc").correct is False
    assert qn.check(quiz, 2, "green") and qn.check(quiz, 2, "b") and qn.check(quiz, 2, "(B)")
    assert not qn.check(quiz, 2, "a")
    assert (
        qn.check(quiz, 3, "`XXMAJ`")
        and qn.check(quiz, 3, "xx maj")
        and not qn.check(quiz, 3, "xxup")
    )
    open_ = qn.check(quiz, 4, "")
    assert open_.correct is None and "Since so." in open_.message
    with pytest.raises(KeyError, match="no question 5"):
        qn.check(quiz, 5, "x")


def test_markdown_lists_every_question_with_its_choices(quiz):
    text = qn.markdown(quiz)
    assert "**4 questions**" in text
    assert "1. Factor? ✔" in text and "4. Why?" in text and "4. Why? ✔" not in text
    assert "(a) red &nbsp; (b) green &nbsp; (c) blue" in text


def test_the_answer_sheet_marks_what_is_typed(quiz):
    sheet = qn.answer_sheet(quiz)
    assert set(sheet.inputs) == {1, 2, 3, 4} and sheet.inputs[4] is None
    sheet.inputs[1].value = "2.6"
    sheet.buttons[1].click()
    assert sheet.outputs[1].value.startswith("✔ Right.")
    sheet.inputs[2].value = "red"
    sheet.buttons[2].click()
    assert sheet.outputs[2].value.startswith("✘ Not quite: the answer is green")
    sheet.buttons[4].click()
    assert "Since so." in sheet.outputs[4].value


@pytest.mark.parametrize(
    "edit, message",
    [
        (('kind = "open"', 'kind = "essay"'), "kind = 'essay'"),
        (('answer = "green"', 'answer = "pink"'), "not one of choices"),
        (("answer = 2.6", 'answer = "2.6"'), "needs a number answer"),
        (('section = "S"\nexplain', 'sectio = "S"\nexplain'), "unknown keys"),
        (('notebook = "99_test"', 'notebook = "98_other"'), "expected '99_test'"),
        (("[[question]]", "[[question]"), "not valid TOML"),
    ],
)
def test_a_malformed_file_names_the_file_and_question(tmp_path, monkeypatch, edit, message):
    folder = tmp_path / "data" / "questionnaires"
    folder.mkdir(parents=True)
    (folder / "99_test.toml").write_text(QUIZ.replace(*edit, 1), encoding="utf-8")
    monkeypatch.setattr(qn.importlib.resources, "files", lambda _pkg: tmp_path)
    with pytest.raises(qn.QuestionnaireError, match=re.escape(message)) as e:
        qn.load("99_test")
    assert "99_test.toml" in str(e.value)


def test_an_unknown_notebook_lists_the_ones_there_are():
    with pytest.raises(qn.QuestionnaireError, match="no questionnaire for '42_nothing'"):
        qn.load("42_nothing")


def test_resolve_source_reads_constants_attributes_and_keys():
    assert qn.resolve_source("ulmfit_lesson.config:BPTT") == 70
    assert qn.resolve_source("ulmfit_lesson.config:LM_DROPOUTS[input_p]") == 0.25
    assert qn.resolve_source("ulmfit_lesson.config:ADAM_BETAS[0]") == 0.7
