"""Exercises for notebooks 01-03, checked automatically, with hints and hidden reference solutions.

A notebook asks the learner to write a small function, then calls a checker::

    def locked_mask(x, p):
        raise NotImplementedError  # your code here

    exercises_basics.check_locked_mask(locked_mask)

Each checker prints ``[passed]``, ``[not yet]`` with a hint that points at the idea (not the code),
or ``[not attempted yet]`` (the machinery: ``exercises.py``). ``show_solution(name)`` displays the
reference solution, which lives here, out of sight of the notebook; ``hint(name)`` prints the hint.

Exercises: ``replace_all_caps`` and ``unk_rate`` (notebook 01), ``stream_layout`` and
``lr_scales`` (02), ``locked_mask`` and ``ar_tar`` (03).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ulmfit_lesson import lm_loader, losses, tokenizer
from ulmfit_lesson.course.exercises import CheckResult, Exercise, ExerciseFailed, ExerciseSet

_SET = ExerciseSet(__name__.rsplit(".", 1)[-1])  # this module's exercises, added at the end


# =============================================================================== notebook 01


def replace_all_caps(text: str) -> str:
    """Reference solution: lowercase ALL-CAPS words and mark the ones of 2+ characters with xxup.

    A word (separated by spaces) is ALL CAPS when it starts with a capital A-Z and has no lowercase
    letter ("STORM", "U.S.", "MACBETH,"). Single letters ("I", "A") are lowercased without a marker.
    """
    words = []
    for word in text.split(" "):
        is_caps = word[:1].isascii() and word[:1].isupper() and not any(c.islower() for c in word)
        if is_caps and len(word) > 1:
            words.append(f"{tokenizer.TK_UP} {word.lower()}")
        elif is_caps:
            words.append(word.lower())
        else:
            words.append(word)
    return " ".join(words)


# (input, hint shown when the learner's output differs from the package's rule on it)
_CAPS_CASES = [
    ("the STORM is coming", "Put 'xxup' before an ALL-CAPS word of 2+ characters."),
    ("calm sea , quiet shore", "Text without capitals must come back unchanged (same words)."),
    (
        "Storm and Thunder",
        "Capitalised words ('Storm') are not ALL CAPS: leave them for replace_maj.",
    ),
    ("I saw A ship", "One-letter capitals ('I', 'A') are lowercased but get no xxup marker."),
    ("NASA's rocket", "A word containing any lowercase letter ('NASA's') is not ALL CAPS."),
    (
        "the U.S. ARMY, MARCHING!",
        "Punctuation inside or after the word does not stop it being ALL CAPS.",
    ),
]


def check_replace_all_caps(fn: Callable[[str], str], quiet: bool = False) -> CheckResult:
    """Check a learner's ``replace_all_caps(text) -> text`` against ``tokenizer.replace_all_caps``.

    Outputs are compared word by word (``.split()``), so spacing does not matter.
    """

    def checks(fn):
        for text, hint in _CAPS_CASES:
            got = fn(text)
            if not isinstance(got, str):
                raise ExerciseFailed(f"it returned a {type(got).__name__}, not a string", hint)
            want = tokenizer.replace_all_caps(text)
            if got.split() != want.split():
                if tokenizer.TK_UP in got.split() and any(
                    w.isupper() and w.lower() in want.split() for w in got.split()
                ):
                    hint = (
                        "Lowercase the ALL-CAPS word too: 'storm' and 'STORM' share one embedding."
                    )
                raise ExerciseFailed(
                    f"on {text!r} it returned {got!r}; expected {want.strip()!r}", hint
                )
        return f"all {len(_CAPS_CASES)} cases match the package's rule."

    return _SET.run("replace_all_caps", fn, checks, quiet)


def unk_rate(token_lists: Sequence[Sequence[str]], itos: Sequence[str]) -> float:
    """Reference solution: the fraction of all token occurrences that are not in the vocabulary."""
    known = set(itos)
    n_tokens = sum(len(tokens) for tokens in token_lists)
    n_unknown = sum(1 for tokens in token_lists for t in tokens if t not in known)
    return n_unknown / n_tokens if n_tokens else 0.0


def check_unk_rate(fn: Callable, quiet: bool = False) -> CheckResult:
    """Check ``unk_rate(token_lists, itos) -> float`` on hand-made documents."""
    itos = tokenizer.SPECIAL_TOKENS + ["the", "sea", "is", "calm", "."]
    cases = [
        # one document: 2 unknown of 6
        (
            [["xxbos", "the", "sea", "is", "wild", "tonight"]],
            2 / 6,
            "Count unknown occurrences and divide by the number of tokens.",
        ),
        # two documents of different lengths: 1 of 2 and 0 of 6 -> 1/8 overall, not mean(1/2, 0)
        (
            [["xxbos", "storm"], ["xxbos", "the", "sea", "is", "calm", "."]],
            1 / 8,
            "Pool all documents: divide the unknown tokens of all documents by all their tokens "
            "(averaging per-document rates over-weights short documents).",
        ),
        # a repeated unknown word counts every time it occurs
        (
            [["xxbos", "gull", "gull", "gull", "the", "sea"]],
            3 / 6,
            "Count every occurrence ('gull' three times is three unknown tokens), not distinct words.",
        ),
        (
            [["xxbos", "the", "sea"]],
            0.0,
            "A text whose words are all in the vocabulary has rate 0.",
        ),
    ]

    def checks(fn):
        for docs, want, hint in cases:
            got = fn(docs, itos)
            if not isinstance(got, (int, float)) or not math.isclose(
                float(got), want, abs_tol=1e-9
            ):
                raise ExerciseFailed(
                    f"for documents {docs} it returned {got!r}; expected {want:.4f}", hint
                )
        return f"all {len(cases)} cases right."

    return _SET.run("unk_rate", fn, checks, quiet)


# =============================================================================== notebook 02


def stream_layout(tokens: Sequence[Any], bs: int) -> list[list[Any]]:
    """Reference solution: cut a token stream into ``bs`` contiguous rows of ``(n - 1) // bs``."""
    n_per_row = (len(tokens) - 1) // bs  # -1: the last input token still needs a target
    return [list(tokens[i * n_per_row : (i + 1) * n_per_row]) for i in range(bs)]


def check_stream_layout(fn: Callable, quiet: bool = False) -> CheckResult:
    """Check ``stream_layout(tokens, bs) -> rows`` against the ``LMLoader``'s layout."""
    cases = [(list("abcdefghijklmnopqrstuvwxyz"), 4), (list(range(24)), 4), (list(range(100)), 6)]

    def checks(fn):
        for tokens, bs in cases:
            got = [list(r) for r in fn(tokens, bs)]
            want = _loader_rows(tokens, bs)
            if len(got) != bs:
                raise ExerciseFailed(
                    f"for bs={bs} it returned {len(got)} rows", "Return exactly bs rows."
                )
            if got == want:
                continue
            shown = f"for tokens {_short(tokens)} and bs={bs} it returned {_short(got)}; expected {_short(want)}"
            if len(got[0]) == len(tokens) // bs and len(tokens) // bs != len(want[0]):
                raise ExerciseFailed(
                    shown,
                    "Each row holds (n - 1) // bs tokens: the target of a row's last token is the "
                    "next token of the stream, so the stream's very last token can only be a target.",
                )
            if got[0][:2] == [tokens[0], tokens[bs]]:
                raise ExerciseFailed(
                    shown,
                    "Rows are contiguous pieces of the text (row 0 = the first tokens, row 1 the "
                    "next piece...), not every bs-th token: the hidden state carried along a row "
                    "must be the memory of the text that came just before.",
                )
            raise ExerciseFailed(shown, EXERCISES["stream_layout"].hint)
        return f"all {len(cases)} layouts match the LMLoader's."

    return _SET.run("stream_layout", fn, checks, quiet)


def _short(seq: Any) -> str:
    text = repr(seq)
    return text if len(text) <= 80 else text[:77] + "..."


def _loader_rows(tokens: Sequence[Any], bs: int) -> list[list[Any]]:
    """The rows an ``LMLoader`` (no shuffling, fixed windows) walks along, as tokens."""
    loader = lm_loader.LMLoader(
        [list(range(len(tokens)))], bs=bs, bptt=5, shuffle=False, variable_bptt=False
    )
    rows = torch.cat([batch.x for batch in loader], dim=1)  # (bs, L): the windows side by side
    return [[tokens[i] for i in row] for row in rows.tolist()]


def lr_scales(seq_lens: Sequence[int], bptt: int, lr: float) -> list[float]:
    """Reference solution: the learning rate of each step, rescaled by its window length."""
    return [lr * seq_len / bptt for seq_len in seq_lens]


def check_lr_scales(fn: Callable, quiet: bool = False) -> CheckResult:
    """Check ``lr_scales(seq_lens, bptt, lr) -> [lr per step]`` against ``LMBatch.lr_scale``."""

    def checks(fn):
        docs = [torch.arange(2_000)]
        loader = lm_loader.LMLoader(docs, bs=4, bptt=70, shuffle=False, seed=0)
        batches = list(loader)
        seq_lens = [b.seq_len for b in batches]
        want = [1e-3 * b.lr_scale for b in batches]
        got = [float(v) for v in fn(seq_lens, 70, 1e-3)]
        if len(got) != len(want):
            raise ExerciseFailed(
                f"it returned {len(got)} rates for {len(want)} steps", "One rate per window."
            )
        for s, g, w in zip(seq_lens, got, want):
            if not math.isclose(g, w, rel_tol=1e-9):
                hint = "Longer windows average the loss over more tokens, so they get a larger step: lr x seq_len / bptt."
                if math.isclose(g, 1e-3 * 70 / s, rel_tol=1e-9):
                    hint = "The ratio is upside down: a 35-token window should get half the LR, not double."
                raise ExerciseFailed(
                    f"for seq_len={s} (bptt=70, lr=1e-3) it gave {g:.3g}; expected {w:.3g}", hint
                )
        return f"all {len(want)} rates match the loader's lr_scale."

    return _SET.run("lr_scales", fn, checks, quiet)


# =============================================================================== notebook 03


def locked_mask(x: Tensor, p: float) -> Tensor:
    """Reference solution: one inverted-dropout mask per sequence, shared by all time steps.

    ``x`` is ``(bs, seq_len, features)``; the mask is ``(bs, 1, features)`` and broadcasts over time.
    """
    bs, _, features = x.shape
    keep = torch.bernoulli(torch.full((bs, 1, features), 1 - p, dtype=x.dtype, device=x.device))
    return keep / (1 - p)  # kept units are scaled up so the expected value is unchanged


def check_locked_mask(fn: Callable[[Tensor, float], Tensor], quiet: bool = False) -> CheckResult:
    """Check ``locked_mask(x, p) -> mask`` against ``RNNDropout``'s behaviour.

    ``x * mask`` must keep x's shape, be constant along time, zero about ``p`` of the features,
    scale the rest by ``1/(1-p)``, differ between sequences of the batch and between calls.
    """

    def checks(fn):
        bs, seq_len, features, p = 64, 12, 100, 0.3
        x = torch.ones(bs, seq_len, features)
        mask = torch.as_tensor(fn(x, p))
        try:
            out = x * mask
        except RuntimeError as err:
            raise ExerciseFailed(
                f"a mask of shape {tuple(mask.shape)} cannot multiply x of shape {tuple(x.shape)} ({err})",
                "Give the mask shape (bs, 1, features): it broadcasts over the time dimension.",
            ) from err
        if out.shape != x.shape:
            raise ExerciseFailed(
                f"x * mask has shape {tuple(out.shape)}, not x's {tuple(x.shape)}",
                "Use shape (bs, 1, features): one number per sequence and feature.",
            )
        if not torch.all(out == out[:, :1]):
            raise ExerciseFailed(
                "the mask changes from one time step to the next",
                "Locked dropout draws one mask per sequence and reuses it at every step: draw it "
                "with a time dimension of size 1 and let broadcasting repeat it.",
            )
        values = set(torch.unique(out).tolist())
        scale = 1 / (1 - p)
        if values - {0.0} and not all(math.isclose(v, scale, rel_tol=1e-5) for v in values - {0.0}):
            raise ExerciseFailed(
                f"kept values are {sorted(values - {0.0})}, expected 1/(1-p) = {scale:.4f}",
                "Inverted dropout scales what it keeps by 1/(1-p), so the expected activation is the "
                "same in training and evaluation.",
            )
        if torch.all(out[:, 0] == out[:1, 0]):
            raise ExerciseFailed(
                "every sequence of the batch got the same mask",
                "Each of the bs sequences gets its own mask: shape (bs, 1, features), not (1, 1, features).",
            )
        dropped = float((out[:, 0] == 0).float().mean())
        if abs(dropped - p) > 0.05:
            raise ExerciseFailed(
                f"with p={p} it zeroed {dropped:.0%} of the units",
                "p is the probability to DROP: keep a unit with probability 1 - p (bernoulli(1 - p)).",
            )
        again = x * torch.as_tensor(fn(x, p))
        if torch.equal(again, out):
            raise ExerciseFailed(
                "two calls returned the same mask",
                "Draw a new random mask at every call (every batch).",
            )
        zero = x * torch.as_tensor(fn(x, 0.0))
        if not torch.equal(zero, x):
            raise ExerciseFailed(
                "with p=0 the mask changed x", "p=0 means drop nothing: the mask is all ones."
            )
        return "constant over time, right drop rate, right scale, one mask per sequence."

    return _SET.run("locked_mask", fn, checks, quiet)


def ar_tar(raw: Tensor, dropped: Tensor, alpha: float = 2.0, beta: float = 1.0) -> Tensor:
    """Reference solution: AR on the dropped output, TAR on the raw output (batch-first)."""
    ar = alpha * dropped.pow(2).mean()  # large activations cost
    tar = beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()  # fast changes between steps cost
    return ar + tar


def check_ar_tar(fn: Callable, quiet: bool = False) -> CheckResult:
    """Check ``ar_tar(raw, dropped, alpha, beta) -> scalar`` against ``losses.ar_tar_penalty``."""

    def checks(fn):
        gen = torch.Generator().manual_seed(0)
        raw = torch.randn(3, 7, 5, generator=gen)  # (bs, seq_len, features)
        dropped = raw * (torch.rand(3, 7, 5, generator=gen) > 0.3) / 0.7
        for alpha, beta in [(2.0, 0.0), (0.0, 1.0), (2.0, 1.0)]:
            got = float(fn(raw, dropped, alpha, beta))
            want = float(losses.ar_tar_penalty(raw, dropped, alpha, beta))
            if math.isclose(got, want, rel_tol=1e-5):
                continue
            what = f"with alpha={alpha}, beta={beta} it gave {got:.5f}; expected {want:.5f}"
            if beta == 0.0:
                hint = "AR is alpha x the mean of the squared *dropped* output (the one the decoder sees)."
            elif alpha == 0.0:
                swapped = float(beta * (raw[1:] - raw[:-1]).pow(2).mean())
                hint = "TAR is beta x the mean squared difference between consecutive time steps of the *raw* output."
                if math.isclose(got, swapped, rel_tol=1e-5):
                    hint = "Tensors are batch-first (bs, seq_len, features): time is dimension 1, so compare raw[:, 1:] with raw[:, :-1]."
            else:
                hint = "Add the two penalties: alpha x AR + beta x TAR."
            raise ExerciseFailed(what, hint)
        return "AR and TAR match losses.ar_tar_penalty."

    return _SET.run("ar_tar", fn, checks, quiet)


# =============================================================================== registry

EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in [
        Exercise(
            "replace_all_caps",
            "01",
            replace_all_caps,
            check_replace_all_caps,
            "Split on spaces; a word is ALL CAPS when it starts with A-Z and has no lowercase letter.",
        ),
        Exercise(
            "unk_rate",
            "01",
            unk_rate,
            check_unk_rate,
            "Make a set of the vocabulary, count the tokens not in it, divide by all tokens.",
        ),
        Exercise(
            "stream_layout",
            "02",
            stream_layout,
            check_stream_layout,
            "L = (n - 1) // bs tokens per row; row i is tokens[i*L : (i+1)*L].",
        ),
        Exercise(
            "lr_scales",
            "02",
            lr_scales,
            check_lr_scales,
            "Each step's learning rate is lr x seq_len / bptt.",
        ),
        Exercise(
            "locked_mask",
            "03",
            locked_mask,
            check_locked_mask,
            "Draw bernoulli(1 - p) of shape (bs, 1, features) and divide by (1 - p).",
        ),
        Exercise(
            "ar_tar",
            "03",
            ar_tar,
            check_ar_tar,
            "AR: alpha * mean(dropped**2). TAR: beta * mean((raw[:, 1:] - raw[:, :-1])**2).",
        ),
    ]
}
_SET.exercises = EXERCISES  # now that the checkers exist


# The notebooks call exercises_basics.show_solution(name) and exercises_basics.hint(name).
show_solution = _SET.show_solution
hint = _SET.hint


__all__ = [
    "EXERCISES",
    "show_solution",
    "hint",
    "check_replace_all_caps",
    "check_unk_rate",
    "check_stream_layout",
    "check_lr_scales",
    "check_locked_mask",
    "check_ar_tar",
]
