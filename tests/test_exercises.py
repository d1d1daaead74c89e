"""Each exercise checker passes its reference solution, reports an untouched exercise as not
attempted, and fails typical wrong answers with the hint that names the mistake.

The first tests cover the contract shared by the three exercise modules (``exercises``,
``exercises_clas``, ``exercises_lm``); the mistakes of each module's exercises are tested in its
own file."""

from __future__ import annotations

import pytest
import torch

from ulmfit_lesson import tokenizer
from ulmfit_lesson.course import exercises_basics, exercises_clas, exercises_lm


def not_attempted(*args):
    raise NotImplementedError


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


# (checker, wrong answer, a phrase of the expected hint)
WRONG = [
    (exercises_basics.check_replace_all_caps, lambda t: t, "Put 'xxup' before"),
    (
        exercises_basics.check_replace_all_caps,
        lambda t: " ".join("xxup " + w if w.isupper() else w for w in t.split()),
        "Lowercase the ALL-CAPS word",
    ),
    (
        exercises_basics.check_replace_all_caps,
        lambda t: " ".join("xxup " + w.lower() if w.isupper() else w for w in t.split()),
        "One-letter capitals",
    ),
    (
        exercises_basics.check_unk_rate,
        lambda docs, itos: sum(sum(t not in itos for t in d) / len(d) for d in docs) / len(docs),
        "Pool all documents",
    ),
    (
        exercises_basics.check_unk_rate,
        lambda docs, itos: (
            len({t for d in docs for t in d} - set(itos)) / sum(len(d) for d in docs)
        ),
        "Count every occurrence",
    ),
    (
        exercises_basics.check_stream_layout,
        lambda tokens, bs: [tokens[i::bs] for i in range(bs)],
        "contiguous pieces",
    ),
    (
        exercises_basics.check_stream_layout,
        lambda t, bs: [t[i * (len(t) // bs) : (i + 1) * (len(t) // bs)] for i in range(bs)],
        "(n - 1) // bs",
    ),
    (
        exercises_basics.check_lr_scales,
        lambda seq_lens, bptt, lr: [lr * bptt / s for s in seq_lens],
        "upside down",
    ),
    (
        exercises_basics.check_locked_mask,
        lambda x, p: torch.nn.functional.dropout(torch.ones_like(x), p),
        "reuses it at every step",
    ),
    (
        exercises_basics.check_locked_mask,
        lambda x, p: torch.bernoulli(torch.full((x.shape[0], 1, x.shape[2]), 1 - p)),
        "1/(1-p)",
    ),
    (
        exercises_basics.check_locked_mask,
        lambda x, p: torch.bernoulli(torch.full((x.shape[0], 1, x.shape[2]), p)) / (1 - p),
        "probability to DROP",
    ),
    (
        exercises_basics.check_locked_mask,
        lambda x, p: torch.bernoulli(torch.full((1, 1, x.shape[2]), 1 - p)) / (1 - p),
        "Each of the bs sequences",
    ),
    (
        exercises_basics.check_ar_tar,
        lambda r, d, a, b: a * r.pow(2).mean() + b * (r[:, 1:] - r[:, :-1]).pow(2).mean(),
        "*dropped* output",
    ),
    (
        exercises_basics.check_ar_tar,
        lambda r, d, a, b: a * d.pow(2).mean() + b * (r[1:] - r[:-1]).pow(2).mean(),
        "time is dimension 1",
    ),
]


@pytest.mark.parametrize(
    "check, wrong, hint", WRONG, ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(WRONG)]
)
def test_wrong_answer_fails_with_its_hint(check, wrong, hint):
    result = check(wrong, quiet=True)
    assert result.passed is False
    assert hint in result.message, result.message


def test_reference_caps_rule_agrees_with_tokenizer():
    for text in ["HELLO WORLD", "A B CD", "the U.S.A. is BIG!", "MiXeD CASE", "x Y ZZ"]:
        assert (
            exercises_basics.replace_all_caps(text).split()
            == tokenizer.replace_all_caps(text).split()
        )


def test_show_solution_and_hint(capsys):
    src = exercises_basics.show_solution("locked_mask")
    assert "def locked_mask" in src and "bernoulli" in src
    assert "bernoulli" in exercises_basics.hint("locked_mask")
    with pytest.raises(ValueError, match="no exercise"):
        exercises_basics.show_solution("nope")
