"""Each exercise checker passes its reference solution, reports an untouched exercise as not
attempted, and fails typical wrong answers with the hint that names the mistake."""

from __future__ import annotations

import pytest
import torch

from ulmfit_lesson import exercises, tokenizer


def not_attempted(*args):
    raise NotImplementedError


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_reference_solution_passes(name, capsys):
    ex = exercises.EXERCISES[name]
    result = ex.check(ex.solution)
    assert result.passed is True and bool(result)
    assert "[passed]" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_untouched_exercise_is_not_attempted(name):
    result = exercises.EXERCISES[name].check(not_attempted, quiet=True)
    assert result.passed is None and not result
    assert "not attempted yet" in result.message
    assert f"show_solution({name!r})" in result.message


def test_crash_is_reported_not_raised():
    result = exercises.check_unk_rate(lambda docs, itos: 1 / 0, quiet=True)
    assert result.passed is False
    assert "ZeroDivisionError" in result.message


# (checker, wrong answer, a phrase of the expected hint)
WRONG = [
    (exercises.check_replace_all_caps, lambda t: t, "Put 'xxup' before"),
    (
        exercises.check_replace_all_caps,
        lambda t: " ".join("xxup " + w if w.isupper() else w for w in t.split()),
        "Lowercase the ALL-CAPS word",
    ),
    (
        exercises.check_replace_all_caps,
        lambda t: " ".join("xxup " + w.lower() if w.isupper() else w for w in t.split()),
        "One-letter capitals",
    ),
    (
        exercises.check_unk_rate,
        lambda docs, itos: sum(sum(t not in itos for t in d) / len(d) for d in docs) / len(docs),
        "Pool all documents",
    ),
    (
        exercises.check_unk_rate,
        lambda docs, itos: (
            len({t for d in docs for t in d} - set(itos)) / sum(len(d) for d in docs)
        ),
        "Count every occurrence",
    ),
    (
        exercises.check_stream_layout,
        lambda tokens, bs: [tokens[i::bs] for i in range(bs)],
        "contiguous pieces",
    ),
    (
        exercises.check_stream_layout,
        lambda t, bs: [t[i * (len(t) // bs) : (i + 1) * (len(t) // bs)] for i in range(bs)],
        "(n - 1) // bs",
    ),
    (
        exercises.check_lr_scales,
        lambda seq_lens, bptt, lr: [lr * bptt / s for s in seq_lens],
        "upside down",
    ),
    (
        exercises.check_locked_mask,
        lambda x, p: torch.nn.functional.dropout(torch.ones_like(x), p),
        "reuses it at every step",
    ),
    (
        exercises.check_locked_mask,
        lambda x, p: torch.bernoulli(torch.full((x.shape[0], 1, x.shape[2]), 1 - p)),
        "1/(1-p)",
    ),
    (
        exercises.check_locked_mask,
        lambda x, p: torch.bernoulli(torch.full((x.shape[0], 1, x.shape[2]), p)) / (1 - p),
        "probability to DROP",
    ),
    (
        exercises.check_locked_mask,
        lambda x, p: torch.bernoulli(torch.full((1, 1, x.shape[2]), 1 - p)) / (1 - p),
        "Each of the bs sequences",
    ),
    (
        exercises.check_ar_tar,
        lambda r, d, a, b: a * r.pow(2).mean() + b * (r[:, 1:] - r[:, :-1]).pow(2).mean(),
        "*dropped* output",
    ),
    (
        exercises.check_ar_tar,
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
        assert exercises.replace_all_caps(text).split() == tokenizer.replace_all_caps(text).split()


def test_show_solution_and_hint(capsys):
    src = exercises.show_solution("locked_mask")
    assert "def locked_mask" in src and "bernoulli" in src
    assert "bernoulli" in exercises.hint("locked_mask")
    with pytest.raises(ValueError, match="no exercise"):
        exercises.show_solution("nope")
