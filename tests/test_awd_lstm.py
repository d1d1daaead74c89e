"""The AWD-LSTM encoder, the tied language model and the losses (AR/TAR), on tiny configurations."""

import math
import warnings

import pytest
import torch

from ulmfit_lesson.awd_lstm import AWDLSTM, detach_hidden
from ulmfit_lesson.config import LM_DROPOUTS, AWDLSTMConfig
from ulmfit_lesson.language_model import LanguageModel, build_language_model
from ulmfit_lesson.losses import ar_tar_penalty, lm_loss

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


def test_dropouts_are_used_in_training_only():
    model = tiny_lm()
    x = ids()
    torch.manual_seed(0)
    a = model.train()(x).logits
    b = model(x).logits
    assert not torch.allclose(a, b)  # fresh masks at each training forward
    e1, e2 = model.eval()(x), model(x)
    torch.testing.assert_close(e1.logits, e2.logits, rtol=0, atol=0)
    torch.testing.assert_close(e1.dropped_output, e1.raw_output, rtol=0, atol=0)


def test_build_language_model_scales_all_dropouts():
    config = build_language_model(VOCAB, drop_mult=0.5, **TINY).config
    for key, value in LM_DROPOUTS.items():
        assert getattr(config, key) == pytest.approx(value * 0.5), key
    encoder = build_language_model(VOCAB, drop_mult=0.5, **TINY).encoder
    assert encoder.rnns[0].weight_p == pytest.approx(0.1) and encoder.input_dp.p == pytest.approx(
        0.125
    )


# ----------------------------------------------------------------------------- tied language model


def test_decoder_is_tied_to_the_embedding():
    model = tiny_lm()
    emb, dec = model.encoder.encoder.weight, model.decoder.decoder.weight
    assert dec is emb
    assert sum(p is emb for p in model.parameters()) == 1  # one entry: tied, not copied
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in model.encoder.parameters()) + VOCAB  # + decoder bias
    keys = {"encoder.encoder.weight", "encoder.encoder_dp.emb.weight", "decoder.decoder.weight"}
    assert keys <= set(model.state_dict())


def test_logits_are_the_tied_projection_of_the_dropped_output():
    model = tiny_lm()
    with torch.no_grad():
        model.decoder.decoder.bias.normal_()
    out = model.train()(ids())
    expected = out.dropped_output @ model.encoder.encoder.weight.T + model.decoder.decoder.bias
    torch.testing.assert_close(out.logits, expected)
    assert out.logits.shape == (2, 9, VOCAB) and out.raw_output.shape == (2, 9, 6)


def test_tied_weight_gets_gradients_from_input_and_output():
    model = tiny_lm().eval()
    x = torch.tensor([[3, 4, 5]])
    out = model(x)
    out.logits[0, -1, 7].backward()  # word 7 only ever appears as an output
    grad = model.encoder.encoder.weight.grad
    assert grad[7].abs().sum() > 0  # through the decoder
    assert grad[3].abs().sum() > 0  # through the embedding lookup (and the decoder)
    assert grad[1].abs().sum() == 0  # the pad row: padding_idx blocks its input gradient only...
    model.zero_grad()
    model(x).logits[0, -1, 1].backward()
    assert model.encoder.encoder.weight.grad[1].abs().sum() > 0  # ...as an output it still learns


def test_layer_groups_cover_every_parameter_once():
    model = tiny_lm()
    groups = model.groups
    assert len(groups) == 4  # three LSTMs, then embedding + decoder last (fastai awd_lstm_lm_split)
    assert model.encoder.encoder in groups[-1] and model.decoder in groups[-1]
    ids_by_group = [{id(p) for m in g for p in m.parameters()} for g in groups]
    all_ids = [i for g in ids_by_group for i in g]
    assert len(all_ids) == len(set(all_ids)) == len(list(model.parameters()))


def test_full_training_step_gives_every_parameter_a_gradient_without_warnings():
    model = tiny_lm().train()
    x = ids(seq_len=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model(x[:, :-1])
        loss = lm_loss(out.logits, x[:, 1:]) + ar_tar_penalty(out.raw_output, out.dropped_output)
        loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


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


# ----------------------------------------------------------------------------- losses


def test_ar_tar_by_hand():
    raw = torch.tensor([[[1.0, 2.0], [3.0, 2.0], [3.0, 5.0]]])  # (bs=1, seq_len=3, 2)
    dropped = torch.tensor([[[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]]])
    ar = (4 + 0 + 0 + 16 + 1 + 1) / 6  # mean of dropped**2
    tar = (2**2 + 0**2 + 0**2 + 3**2) / 4  # mean of (raw[t] - raw[t-1])**2
    assert ar_tar_penalty(raw, dropped).item() == pytest.approx(2 * ar + 1 * tar)
    assert ar_tar_penalty(raw, dropped, alpha=0.5, beta=3.0).item() == pytest.approx(
        0.5 * ar + 3 * tar
    )
    assert ar_tar_penalty(raw[:, :1], dropped[:, :1]).item() == pytest.approx(2 * (4 + 0) / 2)


def test_ar_on_dropped_tar_on_raw_and_float32_under_half():
    raw, dropped = torch.zeros(2, 4, 3), torch.ones(2, 4, 3)
    assert ar_tar_penalty(raw, dropped, alpha=1, beta=0).item() == 1.0  # AR sees the dropped output
    assert ar_tar_penalty(raw, dropped, alpha=0, beta=1).item() == 0.0  # TAR the raw one
    big = torch.full((1, 2, 2), 300.0, dtype=torch.float16)  # 300**2 overflows float16
    penalty = ar_tar_penalty(big, big)
    assert penalty.dtype == torch.float32 and penalty.item() == pytest.approx(2 * 90000)


def test_lm_loss_by_hand():
    logits = torch.tensor([[[0.0, 0.0, math.log(2.0)], [1.0, 1.0, 1.0]]])  # (1, 2, 3)
    y = torch.tensor([[2, 0]])
    expected = (-math.log(2 / 4) - math.log(1 / 3)) / 2
    assert lm_loss(logits, y).item() == pytest.approx(expected)
    assert lm_loss(logits.half(), y).dtype == torch.float32
