"""Classifier batches: numericalized documents (+ labels) -> padded, length-sorted batches.

Stage 3 of ULMFiT (§3.3) trains on whole documents of very different lengths. Two things make that
efficient without changing the answer:

1. **Sorting by length**, so a batch holds documents of similar length and little padding. Training
   uses *sortish* order (fastai ``SortedDL``): a random permutation, cut into mega-batches of
   ``bs * 50`` documents, each sorted longest-first and cut into batches, then the batches shuffled
   with the one holding the longest document first (if it runs out of memory, it does so at once).
   Inference uses plain longest-first order.
2. **Padding in whole chunks** (``pad_chunks``), so each document starts on a ``bptt`` boundary and
   ends in the batch's last chunk, which BPT3C needs (``classifier.py`` draws the layout).

Sorting scrambles the order; every batch carries ``idx``, the positions of its documents in the input,
and ``predict.predict_logits`` writes each prediction back to its own row. Predictions therefore
come back in the input order (fastai issues #975, #1277, #2182 were about forgetting that).

Reference: fastai v2 ``SortedDL`` and ``pad_input_chunk`` (``fastai/text/data.py``); fastai v1
``SortishSampler``. Deviation: ``pad_input_chunk`` pads to the batch's longest document, so a
document can start after a partial chunk of padding (fastai issue #3379); here the front padding is
always whole chunks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .config import BPTT, BS

PAD_ID = 1  # xxpad, as fastai
SORTISH_CHUNKS = 50  # fastai SortedDL: mega-batches of bs * 50 documents


class ClasBatch(NamedTuple):
    """One classifier batch.

    x:    (bs, width) token ids, padded by ``pad_chunks``
    mask: (bs, width) bool, True at real tokens
    y:    (bs,) class ids, (bs, n_labels) 0/1 floats for multi-label, or None (no labels)
    idx:  (bs,) position of each row's document in the loader's input (to restore the order)
    """

    x: Tensor
    mask: Tensor
    y: Tensor | None
    idx: Tensor


def pad_chunks(
    docs: Sequence[Sequence[int] | Tensor], bptt: int = BPTT, pad_id: int = PAD_ID
) -> tuple[Tensor, Tensor]:
    """Pad documents into one batch: whole chunks of padding in front, the remainder at the end.

    Args:
        docs: token-id sequences (each at least one token).
        bptt: the chunk length BPT3C reads.
    Returns:
        ``(x, mask)``, both (bs, width); ``mask`` True at real tokens. A document of ``n`` tokens
        fills ``ceil(n / bptt)`` chunks, preceded by as many whole chunks of padding as it is short of
        the longest, so all end in the last chunk; the last chunk is only as long as the longest
        document part in it (``width = bptt * (max_chunks - 1) + that``), and shorter rows get the
        rest as end padding::

            bptt = 4, docs of 10, 5 and 2 tokens -> width 4 + 4 + 2 = 10
            a a a a a a a a a a
            . . . . b b b b b .
            . . . . . . . . c c

    Why: a document must start on a chunk boundary (its hidden state starts fresh there) and end in
    the last chunk (whose outputs are always kept by ``max_len``). Why not pad the last chunk to a
    full ``bptt``: a batch of 12-token verses would be read as 70 tokens, almost 6 times the work.
    """
    if not docs:
        raise ValueError("pad_chunks needs at least one document")
    lengths = [len(d) for d in docs]
    empty = [i for i, n in enumerate(lengths) if n == 0]
    if empty:
        raise ValueError(f"documents {empty[:10]} are empty (every document needs a token)")
    chunks = [math.ceil(n / bptt) for n in lengths]
    n_chunks = max(chunks)
    # Each document's part in the last chunk: n - (c - 1) * bptt tokens (1 to bptt).
    last = max(n - (c - 1) * bptt for n, c in zip(lengths, chunks))
    width = (n_chunks - 1) * bptt + last
    x = torch.full((len(docs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(docs), width), dtype=torch.bool)
    for row, (doc, n, c) in enumerate(zip(docs, lengths, chunks)):
        start = (n_chunks - c) * bptt  # whole chunks of front padding
        x[row, start : start + n] = torch.as_tensor(doc, dtype=torch.long)
        mask[row, start : start + n] = True
    return x, mask


def sorted_batches(lengths: Sequence[int], bs: int) -> list[list[int]]:
    """Inference order: indices sorted longest-first, cut into batches of ``bs``."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable: ties keep input order
    return [order[i : i + bs] for i in range(0, len(order), bs)]


def sortish_batches(
    lengths: Sequence[int], bs: int, rng: np.random.Generator, chunk_mult: int = SORTISH_CHUNKS
) -> list[list[int]]:
    """Training order (fastai ``SortedDL``): random, but batches of similar lengths.

    A random permutation is cut into mega-batches of ``bs * chunk_mult`` documents; each is sorted
    longest-first and cut into batches of ``bs``; the batches are shuffled, then the batch holding the
    longest document is moved to the front. A final batch of a single document (BatchNorm cannot
    train on one example) joins the batch before it.
    """
    n = len(lengths)
    perm = rng.permutation(n)
    mega = bs * chunk_mult
    batches: list[list[int]] = []
    for start in range(0, n, mega):
        chunk = sorted(perm[start : start + mega].tolist(), key=lambda i: -lengths[i])
        batches += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        lone = batches.pop()
        batches[-1] += lone
    order = rng.permutation(len(batches))
    batches = [batches[i] for i in order]
    longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
    batches.insert(0, batches.pop(longest))
    return batches


class ClasLoader:
    """Iterate over ``ClasBatch`` es of numericalized documents.

    Args:
        docs: token-id sequences (lists or 1-d LongTensors).
        labels: optional; class ids (ints) or, for multi-label, 0/1 rows (one per document).
        bs: batch size.
        bptt: chunk length for ``pad_chunks``.
        shuffle: sortish order, reshuffled every epoch (training); else longest-first (inference).
        seed: seeds the shuffling (epoch ``k`` of a run always gets the same order).
    """

    def __init__(
        self,
        docs: Sequence[Sequence[int] | Tensor],
        labels: Sequence | Tensor | None = None,
        bs: int = BS,
        bptt: int = BPTT,
        shuffle: bool = False,
        seed: int | None = None,
        pad_id: int = PAD_ID,
    ):
        if bs < 1:
            raise ValueError(f"bs must be >= 1, got {bs}")
        if labels is not None and len(labels) != len(docs):
            raise ValueError(f"{len(docs)} documents but {len(labels)} labels")
        self.docs, self.bs, self.bptt, self.shuffle, self.pad_id = docs, bs, bptt, shuffle, pad_id
        self.lengths = [len(d) for d in docs]
        self.labels = None
        if labels is not None:
            y = torch.as_tensor(np.asarray(labels))
            self.labels = y.float() if y.dim() == 2 else y.long()
        self.rng = np.random.default_rng(seed)

    def batch_indices(self) -> list[list[int]]:
        """The batches of the next epoch, as lists of document indices."""
        if self.shuffle:
            return sortish_batches(self.lengths, self.bs, self.rng)
        return sorted_batches(self.lengths, self.bs)

    def __len__(self) -> int:
        n_batches = math.ceil(len(self.docs) / self.bs)
        if self.shuffle and len(self.docs) > 1 and len(self.docs) % self.bs == 1:
            n_batches -= 1  # the single left-over document joins another batch
        return n_batches

    def collate(self, indices: Sequence[int]) -> ClasBatch:
        x, mask = pad_chunks([self.docs[i] for i in indices], self.bptt, self.pad_id)
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        y = self.labels[idx] if self.labels is not None else None
        return ClasBatch(x, mask, y, idx)

    def __iter__(self) -> Iterator[ClasBatch]:
        for indices in self.batch_indices():
            yield self.collate(indices)


__all__ = [
    "PAD_ID",
    "ClasBatch",
    "pad_chunks",
    "sorted_batches",
    "sortish_batches",
    "ClasLoader",
]
