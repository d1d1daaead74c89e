"""Stages 2 + 3 on DataFrames; without stage 2 the same vocabulary and embeddings, no training."""

import pytest
import torch

from tests.test_clas_recipes import good_bad_texts
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.pipeline import ulmfit_pipeline
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.vocab import Vocab

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def test_pipeline_without_lm_finetuning_extends_the_vocabulary():
    import pandas as pd

    texts, labels = good_bad_texts(16)
    old_vocab = Vocab.build(tokenize_texts(texts[:4]), min_freq=1)  # knows only some words
    torch.manual_seed(0)
    lm = build_language_model(len(old_vocab), emb_size=16, hidden_size=32)
    df = pd.DataFrame({"text": texts, "label": labels})
    out = ulmfit_pipeline(
        df,
        None,
        (lm, old_vocab.itos),
        finetune_lm=False,
        min_freq=1,
        stages=[(-1, 1)],
        bs=8,
        progress=False,
    )
    vocab, model = out.classifier.vocab, out.classifier.model
    assert out.lm is None and len(vocab) == model.config.vocab_size
    assert vocab.itos[: len(old_vocab)] == old_vocab.itos  # pretrained ids kept
    assert len(vocab) > len(old_vocab) and "good" in vocab and "bad" in vocab
    # only the head trained: known words keep their rows, new words got the mean row
    old, new = lm.encoder.encoder.weight, model.encoder.encoder.weight
    real = [i for i, w in enumerate(old_vocab.itos) if w != "xxfake"]  # fillers: never read
    torch.testing.assert_close(new[real], old[real])
    torch.testing.assert_close(
        new[len(old_vocab) :], old.mean(0).expand(len(vocab) - len(old_vocab), -1)
    )


def test_pipeline_without_lm_finetuning_never_trains_the_lm(monkeypatch):
    import pandas as pd

    from ulmfit_lesson import lm_recipes

    def no_training(*args, **kwargs):
        raise AssertionError("finetune_lm=False must not train the LM")

    monkeypatch.setattr(lm_recipes, "fit_lm", no_training)
    texts, labels = good_bad_texts(12)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    torch.manual_seed(0)
    lm = build_language_model(len(vocab), emb_size=16, hidden_size=32)
    df = pd.DataFrame({"text": texts, "label": labels})
    out = ulmfit_pipeline(
        df,
        None,
        (lm, vocab.itos),
        finetune_lm=False,
        min_freq=1,
        stages=[(-1, 1)],
        bs=8,
        progress=False,
    )
    assert len(out.classifier.history) == 1 and out.lm is None
