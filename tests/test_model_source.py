"""model_source.py: every way to name a language model gives the same encoder, each file read once."""

import pytest
import torch

from ulmfit_lesson import clas_recipes, model_source
from ulmfit_lesson.checkpoint import save_checkpoint
from ulmfit_lesson.classifier import build_classifier
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_recipes import LMResult
from ulmfit_lesson.model_source import ModelSource, resolve
from ulmfit_lesson.pretrained import save_fastai_lm
from ulmfit_lesson.vocab import ReversedVocab, Vocab

ITOS = ["xxunk", "xxpad", "xxbos"] + [f"w{i}" for i in range(9)]


def tiny_lm(seed=0):
    torch.manual_seed(seed)
    return build_language_model(len(ITOS), emb_size=8, hidden_size=12, n_layers=2)


def assert_same_encoder(source: ModelSource, lm) -> None:
    expected = lm.encoder.state_dict()
    assert sorted(source.encoder_state) == sorted(expected)
    for key, value in expected.items():
        torch.testing.assert_close(source.encoder_state[key], value)


def test_every_form_gives_the_encoder_weights_and_vocabulary(tmp_path):
    lm = tiny_lm()
    lm_file = save_checkpoint(tmp_path / "run" / "lm.pt", lm, ITOS)
    save_fastai_lm(lm, ITOS, tmp_path / "fastai")
    forms = {
        "model": (lm, None),
        "tuple": ((lm, ITOS), ITOS),
        "LMResult": (LMResult(lm, Vocab(ITOS)), ITOS),
        "lm state dict": (lm.state_dict(), None),
        "encoder state dict": (lm.encoder.state_dict(), None),
        "encoder": (lm.encoder, None),
        "checkpoint": (lm_file, ITOS),
        "run folder": (tmp_path / "run", ITOS),
        "fastai folder": (str(tmp_path / "fastai"), ITOS),
    }
    for name, (form, itos) in forms.items():
        source = resolve(form)
        assert_same_encoder(source, lm)
        assert source.itos == itos, name
    assert resolve(lm_file).name == str(lm_file)
    assert resolve(lm_file).config["emb_size"] == 8
    assert resolve(lm).name == "the language model"


def test_a_run_folder_offers_its_encoder_first(tmp_path):
    lm, other = tiny_lm(0), tiny_lm(1)
    save_checkpoint(tmp_path / "lm.pt", other, ITOS)
    save_checkpoint(tmp_path / "encoder.pt", lm.encoder, ITOS, lm.config, extra={"kind": "encoder"})
    source = resolve(tmp_path)
    assert source.name == str(tmp_path / "encoder.pt")
    assert_same_encoder(source, lm)


def test_a_recipe_vocab_object_is_kept():
    vocab = ReversedVocab(ITOS)
    source = resolve(LMResult(tiny_lm(), vocab))
    assert source.vocab is vocab and source.itos == ITOS


def test_the_checkpoint_is_read_once_for_vocabulary_and_weights(tmp_path, monkeypatch):
    lm = tiny_lm()
    path = save_checkpoint(tmp_path / "lm.pt", lm, ITOS)
    reads = []
    real = model_source.load_checkpoint
    monkeypatch.setattr(model_source, "load_checkpoint", lambda p: reads.append(p) or real(p))
    source, vocab = clas_recipes._resolve_lm(path, None)
    assert vocab.itos == ITOS
    clf = build_classifier(source, 2, vocab)
    assert reads == [path]
    torch.testing.assert_close(clf.encoder.encoder.weight, lm.encoder.encoder.weight)


def test_unusable_sources_are_named():
    with pytest.raises(TypeError, match="got int"):
        resolve(3)
    with pytest.raises(TypeError, match="Linear has no AWD-LSTM encoder"):
        resolve(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="the language model holds no vocabulary; pass vocab="):
        clas_recipes._resolve_lm(tiny_lm(), None)


def test_an_encoder_file_without_its_kind_still_gives_the_encoder(tmp_path):
    lm = tiny_lm()
    path = save_checkpoint(tmp_path / "mine.pt", lm.encoder, ITOS, lm.config)  # no extra["kind"]
    assert_same_encoder(resolve(path), lm)
    assert_same_encoder(resolve(tmp_path / "mine.pt"), lm)
