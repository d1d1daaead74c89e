"""Text generation with a language model: sample the next token, feed it back, repeat.

A language model gives ``P(next token | text so far)``. To write, we

1. tokenize the prompt and run it through the model once, which leaves the LSTMs' hidden state
   holding a summary of the whole prompt;
2. turn the last position's logits into probabilities (``softmax(logits / temperature)``), optionally
   keep only the ``top_k`` most likely tokens, and draw one token;
3. feed *only that token* with the carried hidden state, and go back to 2.

Step 3 is what the recurrent state is for: the model never re-reads the text it has already seen,
so each new token costs one step of the LSTM, not a pass over the whole text (fastai's
``LMLearner.predict`` re-feeds the growing sequence; the result is the same in eval mode).

Temperature: below 1 sharpens the distribution (safer, more repetitive text), above 1 flattens it
(more surprising, less coherent); 0 means always the most likely token (greedy).

Reference: fastai v2 ``LMLearner.predict`` (``no_unk``, ``temperature``, ``decode_spec_tokens``),
pytorch/examples ``word_language_model/generate.py``. Paper: ULMFiT §3.1 (the LM objective).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .tokenizer import PAD, TK_MAJ, TK_REP, TK_UP, TK_WREP, UNK, decode_tokens, tokenize


def _itos(vocab: Any) -> list[str]:
    """A vocabulary as its ``itos`` list (a ``Vocab`` or a plain list of tokens)."""
    return list(getattr(vocab, "itos", vocab))


def _prompt_ids(prompt: str | Sequence[str], itos: list[str]) -> list[int]:
    """Token ids of the prompt: a string is tokenized (it starts with ``xxbos``), a list is used as is."""
    tokens = tokenize(prompt) if isinstance(prompt, str) else list(prompt)
    stoi = {t: i for i, t in enumerate(itos)}
    unk = stoi.get(UNK, 0)
    return [stoi.get(t, unk) for t in tokens]


def _next_token_logits(logits: Tensor, temperature: float, banned: Sequence[int]) -> Tensor:
    """Last-position logits, float32, divided by the temperature, with ``banned`` ids at -inf."""
    logits = logits.float().clone()  # (vocab,)
    if banned:
        logits[list(banned)] = -float("inf")
    return logits / temperature if temperature > 0 else logits


def _banned_ids(itos: list[str], no_unk: bool) -> list[int]:
    """Ids never to sample: ``xxpad`` (never a real next token) and, with ``no_unk``, ``xxunk``."""
    banned = [i for i, t in enumerate(itos) if t == PAD or (no_unk and t == UNK)]
    return banned


def _drop_dangling_markers(tokens: list[str]) -> list[str]:
    """Drop a marker left without its word at the very end (``... xxmaj``, ``... xxrep 4``): the
    sampling stopped before the token it applies to, and it would show up literally in the text."""
    tokens = list(tokens)
    while tokens and (
        tokens[-1] in (TK_MAJ, TK_UP, TK_REP, TK_WREP)
        or (len(tokens) > 1 and tokens[-2] in (TK_REP, TK_WREP))
    ):
        tokens.pop()
    return tokens


@torch.no_grad()
def sample_ids(
    model: nn.Module,
    prompt_ids: Sequence[int],
    n_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    banned: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> list[int]:
    """Sample ``n_tokens`` ids after ``prompt_ids`` (not included in the result).

    The prompt is run once; then each sampled id is fed alone with the carried hidden state.
    The model is used in eval mode (no dropout) and its mode restored afterwards.
    """
    if n_tokens < 0:
        raise ValueError(f"the number of tokens to generate must be >= 0, got {n_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 (or None), got {top_k}")
    if not prompt_ids:
        raise ValueError("the prompt has no tokens; give at least one word (or 'xxbos')")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        x = torch.tensor([list(prompt_ids)], device=device)  # (1, prompt_len)
        out = model(x)
        logits, hidden = out.logits[0, -1], out.hidden  # (vocab,)
        result = []
        for _ in range(n_tokens):
            if not bool(torch.isfinite(logits).all()):  # sampling NaNs would print nonsense
                raise ValueError(
                    "the language model gave NaN or infinite scores; its weights are damaged or "
                    "diverged: load an earlier checkpoint"
                )
            scores = _next_token_logits(logits, temperature, banned)
            if temperature == 0:
                next_id = int(scores.argmax())
            else:
                if top_k is not None:  # keep the k best, the rest can never be drawn
                    kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
                    scores = scores.masked_fill(scores < kth, -float("inf"))
                probs = torch.softmax(scores, dim=-1).cpu()
                next_id = int(torch.multinomial(probs, 1, generator=generator))
            result.append(next_id)
            out = model(torch.tensor([[next_id]], device=device), hidden)  # one step, (1, 1)
            logits, hidden = out.logits[0, -1], out.hidden
    finally:
        model.train(was_training)
    return result


def generate(
    model: nn.Module,
    vocab: Any,
    prompt: str,
    n_words: int = 30,
    temperature: float = 1.0,
    top_k: int | None = None,
    no_unk: bool = True,
    seed: int | None = None,
) -> str:
    """Continue ``prompt`` with ``n_words`` sampled tokens; return prompt + continuation as text.

    Args:
        model: a ``LanguageModel``. vocab: its ``Vocab`` (or ``itos`` list).
        prompt: the start of the text, tokenized like the training texts.
        n_words: how many tokens to sample (as fastai, markers such as ``xxmaj`` count as tokens).
        temperature: 1 samples from the model's distribution, < 1 sharpens, 0 is greedy.
        top_k: sample only among the ``k`` most likely tokens.
        no_unk: never produce ``xxunk`` (``xxpad`` is never produced either).
        seed: the same seed gives the same text.
    Returns: readable text (``xxbos`` dropped, ``xxmaj``/``xxup``/``xxrep`` applied).
    """
    itos = _itos(vocab)
    ids = _prompt_ids(prompt, itos)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    new = sample_ids(model, ids, n_words, temperature, top_k, _banned_ids(itos, no_unk), generator)
    return decode_tokens(_drop_dangling_markers([itos[i] for i in ids + new]))


@torch.no_grad()
def next_word_probs(
    model: nn.Module, vocab: Any, prompt: str, temperature: float = 1.0, k: int = 10
) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``prompt`` with their probabilities, most likely first.

    For a notebook's next-word explorer. ``temperature`` reshapes the distribution as in
    :func:`generate` (0 is treated as a tiny temperature: the best token gets probability ~1).
    """
    itos = _itos(vocab)
    ids = _prompt_ids(prompt, itos)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logits = model(torch.tensor([ids], device=device)).logits[0, -1].float()  # (vocab,)
    finally:
        model.train(was_training)
    probs = torch.softmax(logits / max(temperature, 1e-6), dim=-1)
    top = torch.topk(probs, min(k, probs.numel()))
    return [(itos[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


__all__ = ["generate", "next_word_probs", "sample_ids"]
