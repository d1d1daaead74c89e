"""Feature extraction (ULMFiT §1-2: CoVe/ELMo-style frozen features + a linear classifier)."""

from __future__ import annotations

import pytest
import torch

from ulmfit_lesson import feature_extraction as fx
from ulmfit_lesson.classifier import build_classifier
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.vocab import Vocab

TEXTS = [
    "the sun is bright and the birds sing",
    "dark",
    "o death , where is thy sting ? the night is long and cold and grey",
    "bright morning",
    "the cold grave",
]


def tiny_lm(texts, seed=0, emb_size=8, hidden_size=16):
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    torch.manual_seed(seed)
    lm = build_language_model(len(vocab), emb_size=emb_size, hidden_size=hidden_size, n_layers=2)
    return lm, vocab


def test_features_have_three_pooled_parts_per_text_and_ignore_the_dropouts():
    lm, vocab = tiny_lm(TEXTS)
    lm.train()
    x = fx.encode_features(lm, vocab, TEXTS, bptt=4)
    assert x.shape == (len(TEXTS), 3 * 8) and x.dtype == torch.float32
    assert lm.training  # the model's mode is restored
    # eval mode inside: two calls give the same numbers although the LM is in training mode
    torch.testing.assert_close(fx.encode_features(lm, vocab, TEXTS, bptt=4), x)
    # the max-pool part is the largest output, the mean part lies between min and max
    h_last, h_max, h_mean = x.split(8, dim=1)
    assert (h_max >= h_last - 1e-6).all() and (h_max >= h_mean - 1e-6).all()


def test_features_of_a_padded_batch_equal_those_of_each_text_alone():
    lm, vocab = tiny_lm(TEXTS)
    together = fx.encode_features(lm, vocab, TEXTS, bs=len(TEXTS), bptt=4)  # lengths 2 to 19
    alone = torch.cat([fx.encode_features(lm, vocab, [t], bptt=4) for t in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_the_encoder_can_be_given_as_a_classifier_or_an_awd_lstm():
    lm, vocab = tiny_lm(TEXTS)
    x = fx.encode_features(lm, vocab.itos, TEXTS, bptt=4)
    clf = build_classifier(lm, n_classes=2, vocab=vocab)
    torch.testing.assert_close(fx.encode_features(clf, vocab, TEXTS, bptt=4), x)
    torch.testing.assert_close(fx.encode_features(lm.encoder, vocab, TEXTS, bptt=4), x)
    with pytest.raises(TypeError, match="no AWD-LSTM"):
        fx.encode_features(torch.nn.Linear(2, 2), vocab, TEXTS)
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        fx.encode_features(lm, vocab.itos[:-8], TEXTS)


def separable(n, seed):
    """Verses of 'joy' words (label happy) or 'grief' words (label sad), shuffled filler around."""
    g = torch.Generator().manual_seed(seed)
    happy, sad, filler = ["joy", "sun", "song"], ["grief", "tomb", "tears"], ["the", "of", "and"]
    texts, labels = [], []
    for i in range(n):
        words = happy if i % 2 == 0 else sad
        pick = [words[int(j)] for j in torch.randint(0, 3, (3,), generator=g)]
        pick += [filler[int(j)] for j in torch.randint(0, 3, (2,), generator=g)]
        order = torch.randperm(len(pick), generator=g)
        texts.append(" ".join(pick[int(j)] for j in order))
        labels.append("happy" if i % 2 == 0 else "sad")
    return texts, labels


def test_a_separable_problem_is_learned_from_frozen_random_features():
    train_texts, train_labels = separable(40, seed=0)
    test_texts, test_labels = separable(40, seed=1)
    lm, vocab = tiny_lm(train_texts, emb_size=16, hidden_size=32)
    before = [p.clone() for p in lm.parameters()]
    result = fx.feature_extraction_baseline(
        lm, vocab, train_texts, train_labels, test_texts, test_labels, C=10.0
    )
    # random frozen features, yet a linear layer separates the words' classes (chance: 0.5)
    assert result["accuracy"] >= 0.95 and result["macro_f1"] >= 0.95
    assert result["n_features"] == 3 * 16
    clf = result["classifier"]
    assert clf.label_names == ["happy", "sad"]
    probs = clf.predict_proba(test_texts)
    assert probs.shape == (40, 2)
    assert clf.predict(test_texts) == [clf.label_names[i] for i in probs.argmax(1)]
    torch.testing.assert_close(torch.as_tensor(probs.sum(1)), torch.ones(40, dtype=torch.float64))
    # the encoder stays frozen: feature extraction trains only the linear layer
    assert all(torch.equal(a, b) for a, b in zip(before, lm.parameters()))
    # score: the same numbers as the baseline reported, from texts or from precomputed features
    assert clf.score(test_texts, test_labels) == {
        "accuracy": result["accuracy"],
        "macro_f1": result["macro_f1"],
    }
    # precomputed features give the same probabilities as the texts
    features = fx.encode_features(lm, vocab, test_texts)
    assert clf.predict_proba(None, features=features) == pytest.approx(probs)
    assert clf.score(None, test_labels, features=features)["accuracy"] == result["accuracy"]


def test_features_are_standardised_with_the_training_statistics():
    train_texts, train_labels = separable(30, seed=2)
    lm, vocab = tiny_lm(train_texts)
    clf = fx.FeatureExtractionClassifier(lm, vocab).fit(train_texts, train_labels)
    z = torch.as_tensor(clf.features(train_texts))
    torch.testing.assert_close(z.mean(0), torch.zeros(24, dtype=torch.float64), atol=1e-4, rtol=0)
    # std 1, except a feature constant over the training texts (e.g. a max-pool that always wins at
    # xxbos, the same first token everywhere): divided by a floor instead of 0, it stays 0
    std = z.std(0)
    assert (((std - 1).abs() < 1e-4) | (std < 1e-6)).all() and (std > 0.5).sum() >= 20


def test_unfitted_and_unknown_test_labels_are_refused():
    lm, vocab = tiny_lm(TEXTS)
    with pytest.raises(ValueError, match="call fit before predicting"):
        fx.FeatureExtractionClassifier(lm, vocab).predict(TEXTS)
    with pytest.raises(ValueError, match="test labels hold classes"):
        fx.feature_extraction_baseline(lm, vocab, TEXTS[:2], ["a", "b"], TEXTS[2:3], ["c"])
