"""The AWD-LSTM encoder (Merity et al. 2017): shapes, layer sizes, and the hidden state carried or
cut between calls, on tiny configurations. The tied language model around it is tested in
test_language_model.py."""

import pytest
import torch

from ulmfit_lesson.awd_lstm import AWDLSTM, detach_hidden
from ulmfit_lesson.config import AWDLSTMConfig
from ulmfit_lesson.language_model import LanguageModel, build_language_model

TINY = dict(emb_size=6, hidden_size=10, n_layers=3)
VOCAB = 30


def tiny_lm(seed=0, **kwargs) -> LanguageModel:
    torch.manual_seed(seed)
    return build_language_model(VOCAB, **{**TINY, **kwargs})


def ids(bs=2, seq_len=9, seed=1):
    return torch.randint(0, VOCAB, (bs, seq_len), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- encoder


def test_encoder_shapes_and_zero_initial_hidden():
    encoder = AWDLSTM(AWDLSTMConfig(VOCAB, **TINY)).eval()
    x = ids(bs=3, seq_len=7)
    out, hidden = encoder(x)
    assert out.shape == (3, 7, 6)  # last layer maps back to emb_size, for the tied decoder
    assert [tuple(h.shape) for h, _ in hidden] == [(1, 3, 10), (1, 3, 10), (1, 3, 6)]
    assert [tuple(c.shape) for _, c in hidden] == [(1, 3, 10), (1, 3, 10), (1, 3, 6)]
    zeros = encoder.init_hidden(3)
    assert all((h == 0).all() and (c == 0).all() for h, c in zeros)
    torch.testing.assert_close(encoder(x, zeros)[0], out, rtol=0, atol=0)
    assert [type(layer).__name__ for layer in encoder.rnns] == ["WeightDropout"] * 3
    assert encoder.encoder_dp.emb is encoder.encoder


def test_encoder_layer_sizes_follow_the_config():
    encoder = AWDLSTM(AWDLSTMConfig(VOCAB, emb_size=6, hidden_size=10, n_layers=4))
    sizes = [(rnn.module.input_size, rnn.module.hidden_size) for rnn in encoder.rnns]
    assert sizes == [(6, 10), (10, 10), (10, 10), (10, 6)]
    assert encoder.encoder.padding_idx == 1
    assert encoder.encoder.weight.abs().max() <= AWDLSTM.init_range


# ----------------------------------------------------------------------------- hidden state


@pytest.mark.parametrize("split", [1, 4, 8])
def test_carrying_the_hidden_state_equals_one_long_call(split):
    model = tiny_lm().eval()
    x = ids(seq_len=9)
    with torch.no_grad():
        full = model(x)
        first = model(x[:, :split])
        second = model(x[:, split:], first.hidden)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), full.logits)
    torch.testing.assert_close(torch.cat([first.raw_output, second.raw_output], 1), full.raw_output)
    for (h, c), (fh, fc) in zip(second.hidden, full.hidden):
        torch.testing.assert_close(h, fh)
        torch.testing.assert_close(c, fc)


def test_detach_hidden_keeps_the_values_and_cuts_the_graph():
    model = tiny_lm().train()
    x = ids(seq_len=10)
    # a leaf at the very start of call 1: gradient reaching it has gone through all of call 1
    start = [(h.requires_grad_(), c.requires_grad_()) for h, c in model.encoder.init_hidden(2)]
    leaves = [t for pair in start for t in pair]
    first = model(x[:, :5], start)

    attached = model(x[:, 5:], first.hidden).logits.sum()
    grads = torch.autograd.grad(attached, leaves, allow_unused=True)
    assert all(g is not None for g in grads)  # without detaching, backprop runs into call 1
    assert (
        model(x[:, 5:], first.hidden).hidden[0][0].grad_fn is not None
    )  # the model never detaches

    cut = detach_hidden(first.hidden)
    for (h, c), (h0, c0) in zip(cut, first.hidden):
        assert torch.equal(h, h0) and torch.equal(c, c0)  # the memory is kept...
        assert not h.requires_grad and not c.requires_grad  # ...the graph is not
    detached = model(x[:, 5:], cut).logits.sum()
    assert torch.autograd.grad(detached, leaves, allow_unused=True) == (None,) * len(leaves)
