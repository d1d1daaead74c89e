"""Tokens <-> ids: the vocabulary of a ULMFiT language model.

In: token lists from ``tokenizer.tokenize``. Out: lists of integer ids for the embedding layer,
and back (ids -> tokens -> readable text).

The rules are fastai v2's (``fastai/text/data.py``: ``make_vocab`` and ``Numericalize``), so a
vocabulary built here matches one built by fastai on the same tokens, id for id:

- the special tokens come first, in ``tokenizer.SPECIAL_TOKENS`` order (``xxunk`` = 0, ``xxpad`` = 1);
- then every token seen at least ``min_freq`` (3) times, most frequent first, at most
  ``max_vocab`` (60,000) in all; ties keep the order in which the tokens were first seen;
- then ``xxfake`` fillers so the size is a multiple of 8 (GPUs multiply such matrices faster);
- any token not in the vocabulary becomes ``xxunk`` (id 0).

ULMFiT §3.2: fine-tuning the language model on the target task reuses the pretrained vocabulary;
``Vocab.extend`` adds the target text's new words after the pretrained ones, so every pretrained
word keeps its id (and its embedding row; ``pretrained.match_embeddings`` gives new rows the mean).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from .tokenizer import SPECIAL_TOKENS, UNK, decode_tokens, tokenize_texts

FAKE = (
    "xxfake"  # filler that pads the vocabulary to a multiple of 8; never produced by numericalize
)
MIN_FREQ = 3
MAX_VOCAB = 60_000
_FORMAT = "ulmfit_lesson.vocab"


class Vocab:
    """A list of tokens (``itos``: id -> string) and its inverse (``stoi``: string -> id).

    ``Vocab(itos)`` wraps an existing list, e.g. a pretrained fastai vocabulary;
    ``Vocab.build(token_lists)`` makes one from tokenized texts.
    """

    def __init__(self, itos: Sequence[str]):
        self.itos: list[str] = list(itos)
        if not self.itos or self.itos[0] != UNK:
            raise ValueError(
                f"a vocabulary must start with {UNK!r} (id 0, used for unknown tokens); "
                f"this one starts with {self.itos[:1]}"
            )
        # As fastai's Numericalize: fillers are not real tokens, so "xxfake" maps to xxunk; if a
        # token were listed twice, its last id would win.
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos) if s != FAKE}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    __hash__ = None  # mutable list inside: not hashable

    def __repr__(self) -> str:
        preview = ", ".join(self.itos[9:14])
        return f"Vocab({len(self)} tokens: {len(SPECIAL_TOKENS)} special, then {preview}, ...)"

    # ----------------------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = MIN_FREQ,
        max_vocab: int = MAX_VOCAB,
        special_tokens: Sequence[str] = SPECIAL_TOKENS,
    ) -> Vocab:
        """Build a vocabulary from tokenized documents, exactly as fastai's ``make_vocab``.

        Args:
            token_lists: one list of tokens per document.
            min_freq: keep tokens seen at least this many times.
            max_vocab: at most this many tokens (special tokens included, fillers not).
            special_tokens: always included first, in this order.
        Returns:
            a ``Vocab`` whose length is a multiple of 8.
        Deviation (fastai's, kept for identical ids): when the size is already a multiple of 8,
        fastai still adds 8 ``xxfake`` fillers; so do we.
        """
        counts = Counter(tok for tokens in token_lists for tok in tokens)
        # most_common sorts by count; equal counts keep first-seen order (a stable sort).
        itos = [tok for tok, c in counts.most_common(max_vocab) if c >= min_freq]
        for tok in reversed(special_tokens):  # move/put the special tokens at the front
            if tok in itos:
                itos.remove(tok)
            itos.insert(0, tok)
        itos = itos[:max_vocab]
        itos += [FAKE] * (8 - len(itos) % 8)
        return cls(itos)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], min_freq: int = MIN_FREQ, max_vocab: int = MAX_VOCAB
    ) -> Vocab:
        """Tokenize ``texts`` (``tokenizer.tokenize_texts``) and build a vocabulary from them."""
        return cls.build(tokenize_texts(texts), min_freq=min_freq, max_vocab=max_vocab)

    def extend(
        self, new_tokens: Iterable[str] | Iterable[Sequence[str]], min_freq: int = 1
    ) -> Vocab:
        """A new vocabulary: every existing token keeps its id; new tokens are appended.

        Args:
            new_tokens: tokens (e.g. another vocabulary's ``itos``) or token lists (tokenized
                documents).
            min_freq: append only tokens seen at least this many times in ``new_tokens``.
        Returns:
            a ``Vocab``: ``self.itos``, then the tokens not in it, most frequent first (ties:
            first seen, so a list of distinct tokens keeps its order), without ``xxfake``.
        Why: to fine-tune a pretrained LM on target text (ULMFiT §3.2), the vocabulary keeps every
        pretrained word (its embedding row is reused) and adds the target text's new words.
        Deviation: fastai instead builds the target vocabulary from scratch and copies embedding
        rows by token; extending keeps the pretrained ids, so the pretrained weights load as they
        are. No fillers are added.
        """
        items = list(new_tokens)
        if items and not isinstance(items[0], str):  # token lists: flatten
            items = [tok for tokens in items for tok in tokens]
        itos = list(self.itos)
        known = set(itos) | {FAKE}
        counts = Counter(tok for tok in items if tok not in known)
        itos += [tok for tok, c in counts.most_common() if c >= min_freq]
        return Vocab(itos)

    # ----------------------------------------------------------------------------- using
    def numericalize(self, tokens: Iterable[str]) -> list[int]:
        """Tokens -> ids; a token not in the vocabulary becomes 0 (``xxunk``)."""
        get = self.stoi.get
        return [get(tok, 0) for tok in tokens]

    def textify(self, ids: Iterable[int]) -> list[str]:
        """Ids -> tokens (accepts ints or a 1-D tensor). Raises ``ValueError`` naming a bad id."""
        itos, n = self.itos, len(self.itos)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(
                    f"token id {i} is out of range for this vocabulary of {n} tokens "
                    f"(ids 0 to {n - 1}); was the model trained with another vocabulary?"
                )
            out.append(itos[i])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> readable text (markers such as ``xxmaj`` undone by ``tokenizer.decode_tokens``)."""
        return decode_tokens(self.textify(ids))

    def unk_rate(self, token_lists: Iterable[Sequence[str]] | Sequence[str]) -> float:
        """Fraction of tokens that map to ``xxunk`` (0.0 for no tokens).

        Accepts one token list or a list of them. A literal ``xxunk`` in the text (WikiText's
        ``<unk>``) counts as unknown; the other special tokens are known.
        """
        token_lists = list(token_lists)
        if token_lists and isinstance(token_lists[0], str):
            token_lists = [token_lists]
        stoi = self.stoi
        n = unknown = 0
        for tokens in token_lists:
            n += len(tokens)
            unknown += sum(1 for tok in tokens if stoi.get(tok, 0) == 0)
        return unknown / n if n else 0.0

    # ----------------------------------------------------------------------------- files
    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (``{"format": ..., "itos": [...]}``), never a pickle."""
        data = {"format": _FORMAT, "version": 1, "itos": self.itos}
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by ``save`` (or a plain JSON list of tokens)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no vocabulary file at {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not a JSON vocabulary file: {e}") from e
        itos = data.get("itos") if isinstance(data, dict) else data
        if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
            raise ValueError(f"{path} does not hold a list of token strings under 'itos'")
        return cls(itos)


def unk_rate(docs: Sequence[Sequence[str]], vocab: Vocab | Sequence[str]) -> float:
    """Share of the tokens of ``docs`` that the vocabulary does not know (they become ``xxunk``).

    ``vocab``: a ``Vocab`` or its ``itos`` list (e.g. a pretrained model's). Counted over every
    token the model would read, markers (``xxbos``, ``xxmaj``) included (``Vocab.unk_rate``).
    """
    vocab = vocab if isinstance(vocab, Vocab) else Vocab(list(vocab))
    return vocab.unk_rate(list(docs))


class ReversedVocab(Vocab):
    """The vocabulary of a backwards LM (ULMFiT §3.3): ``numericalize`` returns the ids reversed.

    fastai's backwards models read each document's ids reversed (``xxbos`` last), so the classifier
    built on one must number its texts the same way, in training and in prediction alike.
    """

    def numericalize(self, tokens) -> list[int]:
        return super().numericalize(tokens)[::-1]
