"""The language model: the decoder tied to the embedding (ULMFiT §3.1), its dropouts, its layer
groups and a full training step, on tiny configurations."""

import warnings

import pytest
import torch
from test_awd_lstm import TINY, VOCAB, ids, tiny_lm

from ulmfit_lesson.config import LM_DROPOUTS
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.losses import ar_tar_penalty, lm_loss

# ----------------------------------------------------------------------------- dropouts


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


# ----------------------------------------------------------------------------- tied decoder


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


# ----------------------------------------------------------------------------- training


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


def test_scoring_some_words_gives_their_columns_and_trains_only_their_output_rows():
    """``words``: the decoder scores only those ids (the fine-tuning softmax, lm_recipes); their
    scores are exactly the full logits' columns, and the output gradient reaches only their rows."""
    model = tiny_lm().eval()
    with torch.no_grad():
        model.decoder.decoder.bias.normal_()
    x = torch.tensor([[3, 4, 5]])
    words = torch.tensor([4, 7, 12, 20])
    full, part = model(x).logits, model(x, words=words).logits
    assert part.shape == (1, 3, 4)
    torch.testing.assert_close(part, full[..., words], rtol=0, atol=0)
    part.sum().backward()
    grad = model.encoder.encoder.weight.grad
    assert all(grad[w].abs().sum() > 0 for w in (7, 12, 20))  # scored: through the decoder
    assert grad[3].abs().sum() > 0  # an input: through the embedding lookup
    assert grad[25].abs().sum() == 0 and grad[8].abs().sum() == 0  # neither: untouched
    assert model.decoder.decoder.bias.grad[25] == 0 and model.decoder.decoder.bias.grad[7] == 3
