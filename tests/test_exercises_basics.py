"""The exercises of notebooks 01-03 (exercises_basics) fail typical wrong answers with the hint
that names the mistake; their reference solutions agree with the package. (That each passes its
reference solution and reports an untouched exercise as not attempted is tested with the other
modules' exercises in test_exercises.py.)"""

from __future__ import annotations

import pytest
import torch

from ulmfit_lesson import tokenizer
from ulmfit_lesson.course import exercises_basics

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
