"""Classifier batches: chunk padding, sorted and sortish order, labels and input positions."""

import numpy as np
import pytest
import torch

from ulmfit_lesson.clas_loader import (
    ClasLoader,
    pad_chunks,
    sorted_batches,
    sortish_batches,
)


def test_pad_chunks_docstring_example():
    docs = [[10] * 10, [11] * 5, [12] * 2]
    x, mask = pad_chunks(docs, bptt=4)
    P = 1
    expected = torch.tensor(
        [
            [10] * 10,
            [P] * 4 + [11] * 5 + [P],
            [P] * 8 + [12] * 2,
        ]
    )
    assert torch.equal(x, expected)
    assert torch.equal(mask, x != P)


def test_every_document_starts_on_a_chunk_and_ends_in_the_last():
    rng = np.random.default_rng(0)
    bptt = 7
    for _ in range(20):
        lengths = rng.integers(1, 60, size=rng.integers(1, 9)).tolist()
        docs = [list(range(2, 2 + n)) for n in lengths]
        x, mask = pad_chunks(docs, bptt=bptt)
        width = x.size(1)
        last_chunk = bptt * (-(-max(lengths) // bptt) - 1)  # where the last chunk starts
        assert last_chunk < width <= last_chunk + bptt
        for row, n in enumerate(lengths):
            real = mask[row].nonzero().flatten()
            start, end = int(real[0]), int(real[-1]) + 1
            assert start % bptt == 0, "document does not start on a chunk boundary"
            assert end > last_chunk, "document does not end in the last chunk"
            assert end - start == n == len(real)  # contiguous, nothing lost
            assert x[row, start:end].tolist() == docs[row]


def test_pad_chunks_refuses_empty_documents():
    with pytest.raises(ValueError, match=r"documents \[1\] are empty"):
        pad_chunks([[3, 4], []], bptt=4)


def test_sorted_batches_longest_first_ties_in_input_order():
    assert sorted_batches([3, 9, 3, 1, 9], bs=2) == [[1, 4], [0, 2], [3]]


def test_sortish_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=1001).tolist()
    batches = sortish_batches(lengths, bs=8, rng=np.random.default_rng(1), chunk_mult=10)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1001))  # every document exactly once
    assert max(lengths) in [lengths[i] for i in batches[0]]  # the longest batch first
    for b in batches:
        assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)
    assert all(len(b) >= 2 for b in batches)  # 1001 = 125 * 8 + 1: the lone one joined a batch
    # similar lengths inside a batch: far less padding than random batches
    spread = np.mean([lengths[b[0]] - lengths[b[-1]] for b in batches])
    assert spread < 100
    again = sortish_batches(lengths, bs=8, rng=np.random.default_rng(1), chunk_mult=10)
    other = sortish_batches(lengths, bs=8, rng=np.random.default_rng(2), chunk_mult=10)
    assert again == batches and other != batches


def test_loader_batches_carry_labels_and_positions():
    docs = [[2] * n for n in (5, 12, 3, 9, 1)]
    labels = [0, 1, 2, 1, 0]
    loader = ClasLoader(docs, labels, bs=2, bptt=4)
    seen = []
    for batch in loader:
        assert batch.x.shape == batch.mask.shape
        assert batch.y.tolist() == [labels[i] for i in batch.idx.tolist()]
        assert batch.mask.sum(1).tolist() == [len(docs[i]) for i in batch.idx.tolist()]
        seen += batch.idx.tolist()
    assert seen == [1, 3, 0, 2, 4] and len(loader) == 3


def test_shuffled_loader_changes_order_each_epoch_and_keeps_all():
    docs = [[2] * n for n in range(1, 42)]
    loader = ClasLoader(docs, list(range(41)), bs=4, bptt=4, shuffle=True, seed=0)
    epochs = [[i for b in loader for i in b.idx.tolist()] for _ in range(3)]
    assert all(sorted(e) == list(range(41)) for e in epochs)
    assert epochs[0] != epochs[1]
    assert len(loader) == sum(1 for _ in loader) == 10  # 41 = 10 * 4 + 1: the last one joins


def test_multi_label_targets_are_float_rows():
    loader = ClasLoader([[2, 3], [4]], [[1, 0, 1], [0, 1, 0]], bs=2, bptt=4)
    batch = next(iter(loader))
    assert batch.y.dtype == torch.float32 and batch.y.shape == (2, 3)


def test_label_count_must_match():
    with pytest.raises(ValueError, match="3 documents but 2 labels"):
        ClasLoader([[2], [3], [4]], [0, 1])
