"""Language-model batches: numericalized documents -> ``(x, y)`` windows with variable-length BPTT.

Stage 1 and 2 of ULMFiT (LM pretraining and LM fine-tuning, ULMFiT §3.1-3.2) train on one long token
stream. Each epoch this loader

1. shuffles the *order* of the documents (never the tokens inside one),
2. optionally reverses every document (the backwards LM of ULMFiT §3.3, "bidirectional language model"),
3. concatenates them into one stream of ``n`` ids and cuts it into ``bs`` contiguous streams, and
4. walks along the streams in windows whose length is resampled at every step (AWD-LSTM §4.1,
   variable-length backpropagation through time), yielding ``LMBatch(x, y, seq_len, lr_scale)``.

The layout (``batchify`` in pytorch/examples and salesforce/awd-lstm-lm, batch-first as in fastai v2's
``LMDataLoader``), for the 26-token stream ``a..z`` with ``bs=4`` and fixed windows of 4:
``L = (26 - 1) // 4 = 6`` input tokens per stream, and ``z`` is dropped (the targets stop at ``y``)::

                batch 1   batch 2             batch 1   batch 2
    stream 0:   a b c d | e f       targets:  b c d e | f g
    stream 1:   g h i j | k l                 h i j k | l m
    stream 2:   m n o p | q r                 n o p q | r s
    stream 3:   s t u v | w x                 t u v w | x y

Batch 1 is the first window of every stream, batch 2 the next window, and so on: row ``i`` of batch
``k+1`` starts exactly where row ``i`` of batch ``k`` ended, so the training loop can carry (and
detach) the hidden state from one batch to the next, and the model sees a longer context than one
window. The ``bs`` rows are independent of each other; that is what makes them a batch.

Paper: ULMFiT §3.3, BPT3C paragraph ("In practice, we use variable length backpropagation sequences
(Merity et al., 2017a)"); AWD-LSTM §4.1 (variable-length BPTT and the learning-rate rescale).
Reference: salesforce/awd-lstm-lm ``main.py`` (sampling + rescale) and ``finetune.py`` (the cap);
fastai v2 ``LMDataLoader`` (the stream arithmetic). Deviation: fastai v1/v2 use a fixed ``seq_len``
and never rescale the LR; fastai v0.7 samples lengths but doesn't rescale either.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from .config import BPTT, BS

# AWD-LSTM §4.1 / salesforce main.py: the base length is bptt with probability 0.95, else bptt/2,
# then perturbed by N(0, 5) and floored at 5 tokens.
BPTT_FULL_PROB = 0.95
BPTT_SD = 5.0
MIN_SEQ_LEN = 5

T = TypeVar("T")


class LMBatch(NamedTuple):
    """One language-model batch.

    Attributes:
        x: ``(bs, seq_len)`` input ids.
        y: ``(bs, seq_len)`` target ids: ``y[:, j]`` is the token that follows ``x[:, j]`` in the stream.
        seq_len: the window length of this batch (``x.shape[1]``).
        lr_scale: ``seq_len / bptt``. The training loop multiplies every group's learning rate by it
            for this step (AWD-LSTM §4.1). Why: the loss is averaged over the window, so with a fixed
            LR a 5-token window would get as big an update as a 70-token one, and short sequences
            would be over-weighted.
    """

    x: Tensor
    y: Tensor
    seq_len: int
    lr_scale: float


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_bptt_lengths(
    n_tokens_per_stream: int,
    bptt: int,
    rng: np.random.Generator | int | None = None,
    *,
    variable: bool = True,
    max_len_cap: int | None = None,
    p_full: float = BPTT_FULL_PROB,
    sd: float = BPTT_SD,
) -> list[int]:
    """The window lengths of one epoch over streams of ``n_tokens_per_stream`` input tokens.

    Args:
        n_tokens_per_stream: ``L``, the number of input positions in each of the ``bs`` streams.
        bptt: the base length (70 in ULMFiT §4.1).
        rng: a ``numpy.random.Generator`` or a seed (``None``: fresh entropy).
        variable: sample the lengths (training) or use fixed ``bptt`` windows (evaluation).
        max_len_cap: optional upper bound on each length (salesforce ``finetune.py`` uses ``bptt + 10``
            to keep memory bounded).
        p_full: the probability of a full-length base (``bptt``; otherwise ``bptt / 2``).
        sd: the standard deviation of the normal noise added to the base length.

    Returns:
        Lengths summing exactly to ``n_tokens_per_stream``; the last one is whatever remains.

    Paper: AWD-LSTM §4.1, exactly as salesforce ``main.py``: ``base = bptt`` with probability 0.95
    else ``bptt / 2``; ``seq_len = max(5, int(N(base, 5)))``.
    Why: with fixed windows the same tokens start a window every epoch, so their loss never
    backpropagates into an earlier token of the window, and the same tokens always sit at its end.
    Random lengths shift the window boundaries, so across epochs every token gets to be at every
    position of a window.
    """
    if n_tokens_per_stream < 0 or bptt < 1:
        raise ValueError(
            f"need n_tokens_per_stream >= 0 and bptt >= 1, got {n_tokens_per_stream}, {bptt}"
        )
    if max_len_cap is not None and max_len_cap < 1:
        raise ValueError(f"max_len_cap must be >= 1 (or None), got {max_len_cap}")
    rng = _as_rng(rng)
    lengths, i = [], 0
    while i < n_tokens_per_stream:
        if variable:
            base = bptt if rng.random() < p_full else bptt / 2
            seq_len = max(MIN_SEQ_LEN, int(rng.normal(base, sd)))
            if max_len_cap is not None:
                seq_len = min(seq_len, max_len_cap)
        else:
            seq_len = bptt
        seq_len = min(seq_len, n_tokens_per_stream - i)  # the last window takes what remains
        lengths.append(seq_len)
        i += seq_len
    return lengths


def expected_bptt_length(bptt: int) -> float:
    """Mean of the sampled base length: ``0.95 * bptt + 0.05 * bptt / 2`` (66.5 + 1.75 for bptt=70).

    Approximate mean of :func:`sample_bptt_lengths`: ``int()`` truncation lowers it by about 0.5 and a
    ``max_len_cap`` lowers it a little more.
    """
    return BPTT_FULL_PROB * bptt + (1 - BPTT_FULL_PROB) * bptt / 2


def _stream_layout(n_tokens: int, bs: int) -> int:
    """``L``, the input tokens per stream: ``(n - 1) // bs``, so every input has a target."""
    n_per_stream = (n_tokens - 1) // bs
    if n_per_stream < 1:
        raise ValueError(
            f"{n_tokens} tokens are too few for bs={bs} streams: need at least bs + 1 = {bs + 1}"
        )
    return n_per_stream


class LMLoader:
    """Iterate over a corpus as language-model batches, one epoch per ``iter()``.

    Args:
        docs: numericalized documents (1-D LongTensors or lists of ints), each starting with ``xxbos``.
        bs: number of parallel streams (64 in ULMFiT §4.1).
        bptt: base window length (70 in ULMFiT §4.1); also the denominator of ``lr_scale``.
        shuffle: shuffle the document order each epoch (training) or keep it (evaluation).
        backwards: reverse each document's ids (so ``xxbos`` comes last) to train the backwards LM.
        variable_bptt: sample window lengths (training) or use a fixed ``bptt`` stride (evaluation).
        max_len_cap: optional cap on sampled lengths (salesforce ``finetune.py``: ``bptt + 10``).
        seed: makes every epoch reproducible; epoch ``k`` draws from ``default_rng((seed, k))``, so
            epochs differ from each other but a new loader with the same seed replays them.

    Yields:
        :class:`LMBatch` ``(x, y, seq_len, lr_scale)``, ``x`` and ``y`` of shape ``(bs, seq_len)``.

    Attributes:
        epoch: index of the next epoch (incremented by each ``iter()``; set it to replay an epoch).
        last_seq_lens: the window lengths of the most recent epoch (set by ``iter()``).

    Why ``bs`` streams: a batch needs ``bs`` rows to process in parallel, but the hidden state carried
    from one batch to the next is only meaningful if each row continues the same text. Cutting the
    stream into ``bs`` long contiguous pieces gives both.
    """

    def __init__(
        self,
        docs: Sequence[Tensor | Sequence[int]],
        bs: int = BS,
        bptt: int = BPTT,
        shuffle: bool = True,
        backwards: bool = False,
        variable_bptt: bool = True,
        max_len_cap: int | None = None,
        seed: int | None = None,
    ):
        if len(docs) == 0:
            raise ValueError("LMLoader needs at least one document, got an empty list")
        if bs < 1 or bptt < 1:
            raise ValueError(f"bs and bptt must be >= 1, got bs={bs}, bptt={bptt}")
        self.docs = [torch.as_tensor(d, dtype=torch.long).reshape(-1) for d in docs]
        self.bs, self.bptt = bs, bptt
        self.shuffle, self.backwards = shuffle, backwards
        self.variable_bptt, self.max_len_cap = variable_bptt, max_len_cap
        # No seed: take one from torch's global generator, so torch.manual_seed still controls it.
        self.seed = int(torch.randint(2**31 - 1, ()).item()) if seed is None else seed
        self.epoch = 0
        self.last_seq_lens: list[int] = []
        self.n_tokens_per_stream = _stream_layout(self.n_tokens, bs)

    @property
    def n_tokens(self) -> int:
        """Total number of tokens in the corpus (the stream length ``n``)."""
        return sum(len(d) for d in self.docs)

    def words(self) -> Tensor:
        """The token ids the corpus contains, sorted: every target a batch can hold is one of them."""
        return torch.unique(torch.cat(self.docs))

    def __len__(self) -> int:
        """Number of batches per epoch: exact with fixed windows, an estimate with variable BPTT.

        With ``variable_bptt`` it is ``ceil(L / expected_bptt_length(bptt))``; a real epoch has a few
        batches more or fewer, since the lengths are random. For the exact count of a given epoch (e.g.
        the ``T`` of a schedule), use ``len(loader.seq_lens(epoch))``.
        """
        mean_len = expected_bptt_length(self.bptt) if self.variable_bptt else self.bptt
        return math.ceil(self.n_tokens_per_stream / mean_len)

    def _plan(self, epoch: int) -> tuple[list[int], list[int]]:
        """Document order and window lengths of ``epoch``: a pure function of ``(seed, epoch)``."""
        rng = np.random.default_rng((self.seed, epoch))
        n_docs = len(self.docs)
        order = rng.permutation(n_docs).tolist() if self.shuffle else list(range(n_docs))
        seq_lens = sample_bptt_lengths(
            self.n_tokens_per_stream,
            self.bptt,
            rng,
            variable=self.variable_bptt,
            max_len_cap=self.max_len_cap,
        )
        return order, seq_lens

    def seq_lens(self, epoch: int | None = None) -> list[int]:
        """The window lengths ``epoch`` (default: the next one) will use, without iterating."""
        return self._plan(self.epoch if epoch is None else epoch)[1]

    def stream(self, epoch: int | None = None) -> Tensor:
        """The concatenated 1-D stream of ``epoch`` (default: the next one): shuffled, maybe reversed."""
        return self._stream(self._plan(self.epoch if epoch is None else epoch)[0])

    def _stream(self, order: list[int]) -> Tensor:
        docs = [self.docs[i] for i in order]
        if self.backwards:
            docs = [d.flip(0) for d in docs]  # each document reversed: xxbos becomes its last token
        return torch.cat(docs)  # (n,)

    def __iter__(self) -> Iterator[LMBatch]:
        # The epoch is fixed here, when iter() is called, not lazily at the first batch.
        order, self.last_seq_lens = self._plan(self.epoch)
        self.epoch += 1
        return self._batches(self._stream(order), self.last_seq_lens)

    def _batches(self, stream: Tensor, seq_lens: list[int]) -> Iterator[LMBatch]:
        bs, n_per_stream = self.bs, self.n_tokens_per_stream
        # Row i is stream[i*L : (i+1)*L]; its targets are the same slice shifted by one token.
        xs = stream[: bs * n_per_stream].view(bs, n_per_stream)  # (bs, L)
        ys = stream[1 : bs * n_per_stream + 1].view(bs, n_per_stream)  # (bs, L)
        i = 0
        for seq_len in seq_lens:
            x = xs[:, i : i + seq_len].contiguous()  # (bs, seq_len)
            y = ys[:, i : i + seq_len].contiguous()  # (bs, seq_len)
            yield LMBatch(x, y, seq_len, seq_len / self.bptt)
            i += seq_len

    def __repr__(self) -> str:
        return (
            f"LMLoader({len(self.docs)} docs, {self.n_tokens} tokens, bs={self.bs}, bptt={self.bptt}, "
            f"shuffle={self.shuffle}, backwards={self.backwards}, variable_bptt={self.variable_bptt}, "
            f"max_len_cap={self.max_len_cap})"
        )


def stream_table(tokens: Sequence[T], bs: int, seq_len: int) -> list[list[list[T]]]:
    """The loader's layout for teaching: ``tables[k][i]`` is row ``i`` of batch ``k``'s ``x``.

    Pure Python on any tokens (strings or ids), with fixed windows. Each ``tables[k]`` is a ``bs`` x
    ``seq_len`` table (the last one may be narrower); putting them side by side gives the ``bs``
    streams, one per row, which a notebook can colour by batch (fastbook ch. 10 style)::

        tables = stream_table("the cat sat on the mat".split(), bs=2, seq_len=2)
        # [[['the', 'cat'], ['on', 'the']]]      L = (6 - 1) // 2 = 2: one batch of 2 x 2

    The same arithmetic as :class:`LMLoader` with ``shuffle=False, variable_bptt=False``.
    """
    n_per_stream = _stream_layout(len(tokens), bs)
    rows = [list(tokens[i * n_per_stream : (i + 1) * n_per_stream]) for i in range(bs)]
    tables, start = [], 0
    for length in sample_bptt_lengths(n_per_stream, seq_len, variable=False):
        tables.append([row[start : start + length] for row in rows])
        start += length
    return tables
