"""LMLoader: the bs-stream layout, variable-length BPTT (AWD-LSTM §4.1) and the LR rescale."""

import numpy as np
import pytest
import torch

from ulmfit_lesson.lm_loader import (
    BPTT_SD,
    MIN_SEQ_LEN,
    LMBatch,
    LMLoader,
    expected_bptt_length,
    sample_bptt_lengths,
    stream_table,
)

BOS = 2


def make_docs(n_docs=23, seed=0, min_len=5, max_len=60):
    """Documents whose ids are unique across the corpus (after a leading xxbos), so order is visible."""
    g = torch.Generator().manual_seed(seed)
    docs, next_id = [], 10
    for _ in range(n_docs):
        n = int(torch.randint(min_len, max_len, (), generator=g))
        docs.append(torch.tensor([BOS] + list(range(next_id, next_id + n - 1))))
        next_id += n - 1
    return docs


def epoch_batches(loader):
    return list(loader)


def rows_of(batches, which):
    """Concatenate, per stream, the x (which=0) or y (which=1) windows of one epoch: (bs, L)."""
    return torch.cat([b[which] for b in batches], dim=1)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("bs", [1, 4, 7])
def test_every_token_is_an_input_exactly_once(seed, bs):
    docs = make_docs()
    loader = LMLoader(docs, bs=bs, bptt=12, seed=seed)
    stream = loader.stream()  # the stream the next epoch will use
    batches = epoch_batches(loader)
    n_per_stream = (loader.n_tokens - 1) // bs
    assert loader.n_tokens_per_stream == n_per_stream
    xs, ys = rows_of(batches, 0), rows_of(batches, 1)
    assert xs.shape == ys.shape == (bs, n_per_stream)
    # Row i of x is stream[i*L:(i+1)*L]; y is the same slice shifted by one token.
    for i in range(bs):
        assert torch.equal(xs[i], stream[i * n_per_stream : (i + 1) * n_per_stream])
        assert torch.equal(ys[i], stream[i * n_per_stream + 1 : (i + 1) * n_per_stream + 1])
    # Every one of the first bs*L tokens of the stream is an input exactly once.
    assert torch.equal(xs.reshape(-1), stream[: bs * n_per_stream])


def test_targets_are_next_tokens_and_batches_are_contiguous():
    docs = make_docs()
    loader = LMLoader(docs, bs=3, bptt=10, seed=5)
    stream = loader.stream()
    position = {int(t): k for k, t in enumerate(stream)}  # ids are unique except xxbos
    prev = None
    for b in loader:
        assert b.x.shape == b.y.shape == (3, b.seq_len)
        for row_x, row_y in zip(b.x, b.y):
            for a, c in zip(row_x.tolist(), row_y.tolist()):
                if a != BOS:
                    assert stream[position[a] + 1] == c  # y is the token after x in the stream
        if prev is not None:
            # the first input of this batch is the last target of the previous one, per stream
            assert torch.equal(b.x[:, 0], prev.y[:, -1])
        prev = b


def test_batch_fields_and_lr_scale():
    loader = LMLoader(make_docs(), bs=2, bptt=20, seed=0)
    for b in loader:
        assert isinstance(b, LMBatch)
        assert b.seq_len == b.x.shape[1]
        assert b.lr_scale == b.seq_len / 20
        assert b.x.dtype == b.y.dtype == torch.long
    assert [b.seq_len for b in LMLoader(make_docs(), bs=2, bptt=20, seed=0)] == loader.last_seq_lens


def test_document_order_is_shuffled_per_epoch_and_reproducible():
    docs = make_docs(n_docs=30)
    a, b = LMLoader(docs, bs=2, bptt=8, seed=42), LMLoader(docs, bs=2, bptt=8, seed=42)
    a_epochs, a_lens = [], []
    for _ in range(3):
        a_epochs.append(rows_of(epoch_batches(a), 0))
        a_lens.append(a.last_seq_lens)
    b_epochs = [rows_of(epoch_batches(b), 0) for _ in range(3)]
    for ea, eb in zip(a_epochs, b_epochs):
        assert torch.equal(ea, eb)  # same seed: same epochs
    assert not torch.equal(a_epochs[0], a_epochs[1])  # but each epoch differs...
    assert a_lens[0] != a_lens[1]  # ...in document order and in window lengths
    # Shuffling moves whole documents: each doc appears intact, starting with xxbos.
    stream = LMLoader(docs, bs=2, bptt=8, seed=42).stream()
    starts = (stream == BOS).nonzero().flatten().tolist()
    pieces = [stream[s:e] for s, e in zip(starts, starts[1:] + [len(stream)])]
    assert sorted(p[1].item() for p in pieces) == sorted(d[1].item() for d in docs)
    for p in pieces:
        d = next(d for d in docs if d[1] == p[1])
        assert torch.equal(p, d)
    assert [p[1].item() for p in pieces] != [d[1].item() for d in docs]
    # Another seed gives another order.
    assert not torch.equal(stream, LMLoader(docs, bs=2, bptt=8, seed=43).stream())


def test_no_shuffle_keeps_order():
    docs = make_docs()
    loader = LMLoader(docs, bs=2, bptt=8, shuffle=False, seed=1)
    assert torch.equal(loader.stream(), torch.cat(docs))
    assert torch.equal(loader.stream(epoch=5), torch.cat(docs))


def test_backwards_reverses_each_document():
    docs = [torch.tensor([BOS, 10, 11, 12]), torch.tensor([BOS, 20, 21]), [BOS, 30, 31, 32, 33]]
    loader = LMLoader(docs, bs=1, bptt=4, shuffle=False, backwards=True, variable_bptt=False)
    expected = [12, 11, 10, BOS, 21, 20, BOS, 33, 32, 31, 30, BOS]
    assert loader.stream().tolist() == expected
    xs = rows_of(list(loader), 0)
    ys = rows_of(list(loader), 1)
    assert xs.tolist() == [expected[:-1]]
    assert ys.tolist() == [expected[1:]]


def test_fixed_windows_with_shorter_last():
    docs = [torch.arange(100)]  # n = 100, bs = 3 -> L = 33
    loader = LMLoader(docs, bs=3, bptt=10, shuffle=False, variable_bptt=False)
    lens = [b.seq_len for b in loader]
    assert lens == [10, 10, 10, 3]
    assert len(loader) == 4
    assert loader.n_tokens == 100
    batches = list(loader)
    assert batches[0].x.tolist() == [list(range(0, 10)), list(range(33, 43)), list(range(66, 76))]
    assert batches[-1].y.tolist() == [[31, 32, 33], [64, 65, 66], [97, 98, 99]]


def test_sampled_lengths_distribution():
    bptt = 70
    lens = np.array(sample_bptt_lengths(1_500_000, bptt, rng=0))[:-1]  # drop the truncated last
    assert len(lens) > 20_000
    assert lens.min() >= MIN_SEQ_LEN
    # mean of the base length is 0.95*70 + 0.05*35; int() truncation takes off about 0.5
    expected = 0.95 * bptt + 0.05 * bptt / 2
    assert expected_bptt_length(bptt) == pytest.approx(expected)
    assert abs(lens.mean() - (expected - 0.5)) < 0.3
    # about 5% of windows come from the bptt/2 mode
    assert abs((lens < bptt / 2 + 4 * BPTT_SD).mean() - 0.05) < 0.01
    assert sum(sample_bptt_lengths(1000, bptt, rng=1)) == 1000


def test_lengths_floor_cap_and_reproducibility():
    # bptt=4: N(4, 5) is often below 5, so the floor matters
    lens = sample_bptt_lengths(5000, 4, rng=3)
    assert min(lens[:-1]) == MIN_SEQ_LEN
    capped = sample_bptt_lengths(20_000, 70, rng=3, max_len_cap=80)
    assert max(capped) <= 80 and sum(capped) == 20_000
    assert max(sample_bptt_lengths(20_000, 70, rng=3)) > 80  # the cap did something
    assert sample_bptt_lengths(3000, 70, rng=7) == sample_bptt_lengths(3000, 70, rng=7)
    assert sample_bptt_lengths(3000, 70, rng=7) != sample_bptt_lengths(3000, 70, rng=8)
    assert sample_bptt_lengths(25, 10, variable=False) == [10, 10, 5]
    loader = LMLoader([torch.arange(5000)], bs=2, bptt=70, max_len_cap=72, seed=0)
    assert max(b.seq_len for b in loader) <= 72


def test_len_is_close_to_the_real_number_of_batches():
    loader = LMLoader([torch.arange(40_001)], bs=4, bptt=70, seed=0)  # L = 10000
    counts = [len(list(loader)) for _ in range(5)]
    assert all(abs(c - len(loader)) <= 5 for c in counts)
    assert len(loader) == int(np.ceil(10_000 / expected_bptt_length(70)))


def test_too_few_tokens_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        LMLoader([torch.arange(4)], bs=4)
    with pytest.raises(ValueError, match="empty"):
        LMLoader([])


def test_stream_table_matches_loader():
    tokens = list("abcdefghijklmnopqrstuvwxyz")
    tables = stream_table(tokens, bs=4, seq_len=4)
    assert tables == [
        [list("abcd"), list("ghij"), list("mnop"), list("stuv")],
        [list("ef"), list("kl"), list("qr"), list("wx")],
    ]
    ids = torch.arange(101)
    loader = LMLoader([ids], bs=5, bptt=7, shuffle=False, variable_bptt=False)
    assert [b.x.tolist() for b in loader] == stream_table(ids.tolist(), bs=5, seq_len=7)


def test_seq_lens_predicts_each_epoch_exactly():
    loader = LMLoader(make_docs(), bs=3, bptt=9, seed=11)
    planned = [loader.seq_lens(e) for e in range(3)]
    assert planned[0] == loader.seq_lens()  # default: the next epoch
    for e in range(3):
        assert [b.seq_len for b in loader] == planned[e] == loader.last_seq_lens
    # the exact number of steps of a run, e.g. the T of a schedule
    assert sum(len(loader.seq_lens(e)) for e in range(3)) == sum(map(len, planned))
    # iter() fixes the epoch when called; setting `epoch` replays one
    it1, it2 = iter(loader), iter(loader)
    assert loader.epoch == 5
    assert [b.seq_len for b in it1] == loader.seq_lens(3)
    assert [b.seq_len for b in it2] == loader.seq_lens(4)
    loader.epoch = 1
    assert torch.equal(rows_of(list(loader), 0)[0], loader.stream(1)[: loader.n_tokens_per_stream])


def test_words_are_the_sorted_ids_the_corpus_holds():
    loader = LMLoader([torch.tensor([2, 9, 5, 9]), torch.tensor([2, 7])], bs=1, bptt=2)
    assert loader.words().tolist() == [2, 5, 7, 9]
