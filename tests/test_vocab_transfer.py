"""vocab_transfer.py: match_embeddings, ULMFiT §3.2's move of a pretrained LM to a new vocabulary."""

import pytest
import torch

from ulmfit_lesson.language_model import LanguageModel, build_language_model
from ulmfit_lesson.vocab_transfer import match_embeddings


def tiny_lm(vocab_size=7, seed=0) -> LanguageModel:
    torch.manual_seed(seed)
    model = build_language_model(vocab_size, emb_size=4, hidden_size=6, n_layers=2)
    with torch.no_grad():
        model.decoder.decoder.bias.normal_()  # zero by default: make it visible
    return model


def tiny_itos(n=7) -> list[str]:
    return ["xxunk", "xxpad"] + [f"w{i}" for i in range(n - 2)]


def hand_built_state():
    """Old vocab of 4 words, emb size 2, round numbers so that the means are easy by hand."""
    old_itos = ["xxunk", "xxpad", "cat", "dog"]
    weight = torch.tensor([[0.0, 4.0], [2.0, 0.0], [4.0, 8.0], [6.0, 4.0]])  # mean row [3, 4]
    bias = torch.tensor([1.0, -1.0, 2.0, 6.0])  # mean 2
    state = {
        "encoder.encoder.weight": weight,
        "encoder.encoder_dp.emb.weight": weight,
        "decoder.decoder.weight": weight,
        "decoder.decoder.bias": bias,
        "encoder.rnns.0.weight_hh_l0_raw": torch.ones(8, 2),
    }
    return state, old_itos


def test_match_embeddings_by_hand():
    state, old_itos = hand_built_state()
    new_itos = ["xxunk", "xxpad", "dog", "bird", "cat", "fish"]
    new = match_embeddings(state, old_itos, new_itos)
    expected = torch.tensor(
        [[0.0, 4.0], [2.0, 0.0], [6.0, 4.0], [3.0, 4.0], [4.0, 8.0], [3.0, 4.0]]
    )
    for key in (
        "encoder.encoder.weight",
        "encoder.encoder_dp.emb.weight",
        "decoder.decoder.weight",
    ):
        assert torch.equal(new[key], expected), key
    assert new["encoder.encoder.weight"] is new["decoder.decoder.weight"]  # still one tensor
    assert torch.equal(new["decoder.decoder.bias"], torch.tensor([1.0, -1.0, 6.0, 2.0, 2.0, 2.0]))
    assert new["encoder.rnns.0.weight_hh_l0_raw"] is state["encoder.rnns.0.weight_hh_l0_raw"]
    assert state["encoder.encoder.weight"].shape == (4, 2)  # the input is untouched


def test_match_embeddings_on_a_model_keeps_the_tie_and_the_encoder():
    old = tiny_lm(vocab_size=7)
    old_itos = tiny_itos(7)  # xxunk xxpad w0..w4
    new_itos = ["xxunk", "xxpad", "w4", "new", "w0"]
    new = match_embeddings(old, old_itos, new_itos)
    assert isinstance(new, LanguageModel) and new.config.vocab_size == 5
    assert new.decoder.decoder.weight is new.encoder.encoder.weight
    assert len(list(new.parameters())) == len(list(old.parameters()))
    w_old, w_new = old.encoder.encoder.weight, new.encoder.encoder.weight
    assert torch.equal(w_new[[0, 1, 2, 4]], w_old[[0, 1, 6, 2]])
    assert torch.allclose(w_new[3], w_old.mean(0))
    b_old, b_new = old.decoder.decoder.bias, new.decoder.decoder.bias
    assert torch.equal(b_new[[0, 1, 2, 4]], b_old[[0, 1, 6, 2]])
    assert torch.allclose(b_new[3], b_old.mean())
    raw = "encoder.rnns.1.weight_hh_l0_raw"
    assert torch.equal(new.state_dict()[raw], old.state_dict()[raw])
    assert old.config.vocab_size == 7 and old.encoder.encoder.weight.shape == (7, 4)
    assert new.training == old.training


def test_match_embeddings_checks_the_old_vocabulary():
    state, old_itos = hand_built_state()
    with pytest.raises(ValueError, match="old_itos has 3 tokens, the embedding 4 rows"):
        match_embeddings(state, old_itos[:3], ["xxunk"])
    with pytest.raises(ValueError, match="fastai_to_ours"):
        match_embeddings({"0.encoder.weight": torch.zeros(4, 2)}, old_itos, ["xxunk"])
