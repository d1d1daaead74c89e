"""The AWD-LSTM dropouts (Merity et al. 2018, §4): each test states the paper's claim."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ulmfit_lesson.dropout import EmbeddingDropout, RNNDropout, WeightDropout, dropout_mask

# ----------------------------------------------------------------------------- dropout_mask


def test_dropout_mask_values_dtype_and_rate():
    torch.manual_seed(0)
    x = torch.zeros(3, dtype=torch.float64)
    mask = dropout_mask(x, (200, 300), p=0.25)
    assert mask.shape == (200, 300) and mask.dtype == torch.float64
    assert set(mask.unique().tolist()) == {0.0, 1 / 0.75}  # inverted dropout: kept = 1/(1-p)
    assert abs((mask == 0).double().mean().item() - 0.25) < 0.01
    assert abs(mask.mean().item() - 1.0) < 0.02  # expectation unchanged


def test_dropout_mask_rounds_p_to_16_bits_and_keeps_the_expectation_exact():
    torch.manual_seed(0)
    mask = dropout_mask(torch.zeros(1), (400_001,), p=0.15)  # not a multiple of 4 units
    k = round(0.15 * 65536)  # 9,830: p becomes 9,830 / 65,536 = 0.1499939
    assert set(mask.unique().tolist()) == pytest.approx([0.0, 1 / (1 - k / 65536)])
    assert mask.max().item() != pytest.approx(1 / 0.85, abs=1e-7)  # scaled by the rounded p
    # Four units share one 64-bit draw: each of the four 16-bit slots must be a fair coin (a
    # biased slot, e.g. a sign bit that is always 0, would drop at a different rate).
    for slot in range(4):
        rate = (mask[slot::4] == 0).float().mean().item()
        assert abs(rate - 0.15) < 0.005, (slot, rate)
    assert torch.equal(dropout_mask(torch.zeros(1), (5,), p=0.0), torch.ones(5))
    assert (dropout_mask(torch.zeros(1), (10_000,), p=0.999999) == 0).float().mean() > 0.999


# ----------------------------------------------------------------------------- RNNDropout


def test_rnn_dropout_mask_is_constant_over_time():
    torch.manual_seed(0)
    x = torch.randn(4, 50, 30)  # (bs, seq_len, features)
    out = RNNDropout(0.5).train()(x)
    ratio = out / x  # the mask, (bs, seq_len, features)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio))  # same at every time step
    assert set(ratio.round(decimals=4).unique().tolist()) == {0.0, 2.0}  # 0 or 1/(1-p)
    dropped = ratio[:, 0] == 0  # (bs, features): differs between sequences and features
    assert 0.35 < dropped.float().mean() < 0.65
    assert not torch.equal(dropped[0], dropped[1])


def test_rnn_dropout_new_mask_each_call_and_identity_in_eval():
    torch.manual_seed(0)
    layer, x = RNNDropout(0.3), torch.randn(2, 5, 40)
    assert not torch.equal(layer(x), layer(x))
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(RNNDropout(0.0).train()(x), x)


def test_rnn_dropout_keeps_the_expected_value():
    torch.manual_seed(0)
    x = torch.ones(64, 3, 500)
    out = RNNDropout(0.4)(x)
    # 0 or 1/(1-p), p to the nearest 1/65,536 (dropout_mask)
    assert sorted(out.unique().tolist()) == pytest.approx([0.0, 1 / 0.6], rel=1e-4)
    assert abs(out.mean().item() - 1.0) < 0.02


# ----------------------------------------------------------------------------- EmbeddingDropout


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(0)
    emb = nn.Embedding(20, 5, padding_idx=1)
    layer = EmbeddingDropout(emb, embed_p=0.5)
    words = torch.arange(20).repeat(3, 2)[:, torch.randperm(40)]  # (3, 40): each word 6 times
    out = layer(words)  # (3, 40, 5)
    dropped, kept = set(), set()
    for w in range(20):
        rows = out[words == w]  # (6, 5): every occurrence of word w in the batch
        if (rows == 0).all():
            dropped.add(w)
        else:  # kept: all occurrences are the embedding scaled by 1/(1-p)
            assert torch.allclose(rows, (emb.weight[w] / 0.5).expand_as(rows)), w
            kept.add(w)
    assert dropped and kept and len(dropped | kept) == 20
    torch.manual_seed(1)
    again = layer(words)
    assert {w for w in range(20) if (again[words == w] == 0).all()} != dropped  # new mask per call


def test_embedding_dropout_equals_looking_up_in_the_masked_matrix_values_and_gradients():
    # The package masks only the looked-up rows; fastai masks the whole matrix, then looks up.
    # With the same mask (the same seed) both give the same vectors and the same gradient.
    emb = nn.Embedding(50, 6, padding_idx=1)
    layer = EmbeddingDropout(emb, embed_p=0.4).train()
    words = torch.randint(0, 50, (4, 30))
    grad_out = torch.randn(4, 30, 6)
    torch.manual_seed(7)
    ours = layer(words)
    (g_ours,) = torch.autograd.grad(ours, emb.weight, grad_out)
    torch.manual_seed(7)
    weight = emb.weight * dropout_mask(emb.weight, (50, 1), 0.4)
    whole = F.embedding(words, weight, padding_idx=1)
    (g_whole,) = torch.autograd.grad(whole, emb.weight, grad_out)
    assert torch.equal(ours, whole)  # the same products, taken in another order of operations
    torch.testing.assert_close(g_ours, g_whole)  # sums of the same terms: equal to rounding
    assert (g_ours[1] == 0).all()  # padding_idx: no gradient into the pad row


def test_embedding_dropout_is_a_plain_lookup_in_eval_and_leaves_the_weight_alone():
    torch.manual_seed(0)
    emb = nn.Embedding(10, 4, padding_idx=1)
    before = emb.weight.detach().clone()
    layer = EmbeddingDropout(emb, embed_p=0.5)
    words = torch.tensor([[1, 2, 3], [3, 9, 0]])
    layer(words)
    assert torch.equal(emb.weight, before)  # masks a copy, never the parameter in place
    assert torch.equal(layer.eval()(words), emb(words))
    params = list(layer.parameters())
    assert len(params) == 1 and params[0] is emb.weight  # the encoder's own weight, not a copy


# ----------------------------------------------------------------------------- WeightDropout


def hand_lstm(x, w_ih, w_hh, b_ih, b_hh):
    """A one-layer LSTM written out (batch-first, h0 = c0 = 0): gates i, f, g, o as in PyTorch."""
    bs, n_hid = x.size(0), w_hh.size(1)
    h, c = x.new_zeros(bs, n_hid), x.new_zeros(bs, n_hid)
    outputs = []
    for t in range(x.size(1)):
        gates = x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (bs, 4 * n_hid)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)  # (bs, seq_len, n_hid)


def make_weight_dropout(p=0.5, n_in=3, n_hid=4, seed=0):
    torch.manual_seed(seed)
    return WeightDropout(nn.LSTM(n_in, n_hid, 1, batch_first=True), weight_p=p)


def test_weight_dropout_trains_with_one_dropped_w_hh():
    layer = make_weight_dropout().train()
    m = layer.module
    x = torch.randn(2, 6, 3)
    torch.manual_seed(7)
    out, (h, c) = layer(x)
    torch.manual_seed(7)  # the same RNG state: the same mask
    w_hh = layer.dropped_weight()
    assert (w_hh == 0).any() and not torch.equal(w_hh, layer.weight_hh_l0_raw)
    # the whole sequence ran with that one dropped matrix: the mask is drawn once per forward
    ref, (ref_h, ref_c) = hand_lstm(x, m.weight_ih_l0, w_hh, m.bias_ih_l0, m.bias_hh_l0)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h[0], ref_h)
    torch.testing.assert_close(c[0], ref_c)
    out_eval, _ = layer.eval()(x)
    assert not torch.allclose(out, out_eval)


def test_weight_dropout_first_step_unaffected_later_steps_affected():
    """salesforce's check: with h0 = 0, W_hh cannot act at t = 0, so only later steps change."""
    layer = make_weight_dropout(p=0.9)
    x = torch.randn(2, 5, 3)
    out_eval, _ = layer.eval()(x)
    torch.manual_seed(3)
    out_train, _ = layer.train()(x)
    torch.testing.assert_close(out_train[:, 0], out_eval[:, 0], rtol=0, atol=1e-7)
    assert not torch.allclose(out_train[:, 1:], out_eval[:, 1:])
    assert not torch.equal(layer(x)[0], out_train)  # a new mask at the next forward


def test_weight_dropout_uses_the_raw_weight_in_eval():
    layer = make_weight_dropout().eval()
    ref = nn.LSTM(3, 4, 1, batch_first=True)
    state = {k.replace("module.", ""): v for k, v in layer.state_dict().items()}
    state["weight_hh_l0"] = state.pop("weight_hh_l0_raw")
    ref.load_state_dict(state)
    x, hidden = torch.randn(2, 6, 3), (torch.randn(1, 2, 4), torch.randn(1, 2, 4))
    out, (h, c) = layer(x, hidden)
    ref_out, (ref_h, ref_c) = ref(x, hidden)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    torch.testing.assert_close((h, c), (ref_h, ref_c), rtol=0, atol=0)


def test_weight_dropout_drops_about_p_of_w_hh_and_rescales_the_rest():
    layer = make_weight_dropout(p=0.3, n_in=8, n_hid=64)
    raw = layer.weight_hh_l0_raw
    torch.manual_seed(0)
    w = layer.dropped_weight()  # (256, 64)
    assert abs((w == 0).float().mean().item() - 0.3) < 0.02
    torch.testing.assert_close(w[w != 0], raw[w != 0] / 0.7)
    assert torch.equal(layer.eval().dropped_weight(), raw)


@pytest.mark.parametrize("training, p", [(True, 0.5), (False, 0.5), (True, 0.0)])
def test_weight_dropout_raw_weight_is_the_only_w_hh_and_gets_gradients(training, p):
    layer = make_weight_dropout(p=p).train(training)
    names = {"weight_hh_l0_raw", "module.weight_ih_l0", "module.bias_ih_l0", "module.bias_hh_l0"}
    assert {n for n, _ in layer.named_parameters()} == names
    x = torch.randn(2, 6, 3)
    torch.manual_seed(5)
    out, _ = layer(x)
    out.pow(2).sum().backward()
    # still no W_hh of the LSTM's own after a forward (functional_call must not leave one behind)
    assert {n for n, _ in layer.named_parameters()} == names
    assert set(layer.state_dict()) == names
    grad = layer.weight_hh_l0_raw.grad
    assert grad is not None and grad.abs().sum() > 0
    if training and p > 0:  # a dropped entry did not take part, so it gets no gradient
        torch.manual_seed(5)
        assert (grad[layer.dropped_weight() == 0] == 0).all()


def test_weight_dropout_emits_no_warnings():
    layer = make_weight_dropout()
    x = torch.randn(2, 4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = layer.train()(x)
        out.sum().backward()
        layer.eval()(x)
