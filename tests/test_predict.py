"""Inference: input order, alone == batched, save/load, contributions."""

import pytest
import torch

from ulmfit_lesson.checkpoint import CheckpointError, save_checkpoint
from ulmfit_lesson.clas_loader import pad_chunks
from ulmfit_lesson.classifier import bpt3c_encode, build_classifier
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.predict import TextClassifier
from ulmfit_lesson.tokenizer import tokenize, tokenize_texts
from ulmfit_lesson.vocab import Vocab

TEXTS = [
    "A short one.",
    "This is a much longer text, with many more words than the others, so that it needs "
    "several chunks of the document to be read and padded in front of the shorter ones.",
    "Good.",
    "The movie was good and the plot was fine.",
    "Bad bad bad, it was really very bad indeed!",
    "ok",
    "The movie was good and the plot was fine.",
]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def make_classifier(labels=("neg", "neutral", "pos"), multi_label=False, bptt=5, seed=0):
    vocab = Vocab.build(tokenize_texts(TEXTS), min_freq=1)
    torch.manual_seed(seed)
    lm = build_language_model(len(vocab), emb_size=16, hidden_size=32)
    model = build_classifier(lm, len(labels), vocab, bptt=bptt)
    # BatchNorm's running statistics of a fresh head are 0/1; give them values as after training.
    for bn in (model.head.layers[0][0], model.head.layers[1][0]):
        bn.running_mean.uniform_(-0.01, 0.01)
        bn.running_var.uniform_(1e-4, 1e-3)
    return TextClassifier(model, vocab, list(labels), multi_label=multi_label)


def test_predictions_come_back_in_input_order_and_match_single_predictions():
    clf = make_classifier()
    batched = clf.predict(TEXTS, bs=3)  # 3 batches, sorted by length inside
    assert len(batched) == len(TEXTS)
    for text, (label, probs) in zip(TEXTS, batched):
        alone_label, alone_probs = clf.predict(text)[0]
        assert label == alone_label
        for name in clf.label_names:
            assert probs[name] == pytest.approx(alone_probs[name], abs=1e-5)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert label == max(probs, key=probs.get)
    # the probabilities differ between texts: order really matters for this check
    assert batched[0][1] != batched[1][1]
    assert batched[3][1] == pytest.approx(batched[6][1], abs=1e-6)  # the same text twice


def test_predict_proba_independent_of_batch_size():
    clf = make_classifier()
    p1 = clf.predict_proba(TEXTS, bs=1)
    p7 = clf.predict_proba(TEXTS, bs=7)
    torch.testing.assert_close(p1, p7, atol=1e-5, rtol=0)


def test_predict_as_frame():
    clf = make_classifier()
    df = clf.predict(TEXTS[:3], as_frame=True)
    assert list(df.columns) == ["text", "label", "neg", "neutral", "pos"]
    assert df["text"].tolist() == TEXTS[:3]
    assert df[["neg", "neutral", "pos"]].sum(axis=1).round(6).tolist() == [1.0] * 3


def test_multi_label_uses_thresholds():
    clf = make_classifier(labels=("a", "b", "c"), multi_label=True)
    probs = clf.predict_proba(TEXTS[:2])
    clf.thresholds = [0.0, 1.01, float(probs[:, 2].mean())]  # a always, b never, c: by its prob
    (labels0, p0), (labels1, _) = clf.predict(TEXTS[:2])
    for labels, row in zip((labels0, labels1), probs.tolist()):
        expected = ["a"] + (["c"] if row[2] >= clf.thresholds[2] else [])
        assert labels == expected
    assert p0["c"] == pytest.approx(float(probs[0, 2]))


def test_save_and_load_round_trip(tmp_path):
    clf = make_classifier()
    clf.settings = {"epochs": 3, "path": tmp_path}  # a Path is stored as a str
    path = clf.save(tmp_path / "model")
    assert path.name == "classifier.pt"
    assert [p.name for p in path.parent.iterdir()] == ["classifier.pt"]  # no temporary file left
    torch.load(path, weights_only=True)  # plain data only
    loaded = TextClassifier.load(tmp_path / "model")
    assert loaded.label_names == clf.label_names and loaded.vocab == clf.vocab
    assert loaded.settings["path"] == str(tmp_path)
    torch.testing.assert_close(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    assert loaded.model.hparams() == clf.model.hparams()


def test_loading_something_else_is_a_clear_error(tmp_path):
    lm = build_language_model(16, emb_size=8, hidden_size=8)
    save_checkpoint(tmp_path / "classifier.pt", lm, [f"w{i}" for i in range(16)])
    with pytest.raises(CheckpointError, match="not a saved classifier"):
        TextClassifier.load(tmp_path)


def test_vocabulary_must_fit_the_model():
    clf = make_classifier()
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        TextClassifier(clf.model, clf.vocab.itos[:-8], clf.label_names)


def test_contributions_are_gradient_times_input():
    clf = make_classifier(bptt=4)
    text = TEXTS[3]
    c = clf.contributions(text, label="pos")
    assert c.tokens == tokenize(text)
    assert len(c.scores) == len(c.tokens) == len(c.maxpool_wins)
    assert sum(c.maxpool_wins) == 16  # every pooled feature is won by exactly one position
    assert c.label == "pos" and c.probs == pytest.approx(dict(clf.predict(text)[0][1]), abs=1e-5)

    # First-order check: scaling every embedding by (1 + eps) moves the logit by eps * sum(scores).
    model, eps = clf.model, 1e-3
    ids = torch.tensor(clf.vocab.numericalize(c.tokens))
    index = clf.label_names.index("pos")
    with torch.no_grad():
        base = model(ids[None]).logits[0, index].item()
        model.encoder.encoder.weight.mul_(1 + eps)
        moved = model(ids[None]).logits[0, index].item()
        model.encoder.encoder.weight.div_(1 + eps)
    assert (moved - base) / eps == pytest.approx(sum(c.scores), rel=0.05, abs=1e-4)

    # Max-pool winners, computed independently.
    x, mask = pad_chunks([ids], 4)
    with torch.no_grad():
        out, kept = bpt3c_encode(model.encoder, x, mask, 4, 1000)
    winners = out[0][kept[0]].argmax(0)  # (16,)
    assert c.maxpool_wins == torch.bincount(winners, minlength=len(c.tokens)).tolist()


def test_contributions_default_to_the_predicted_label():
    clf = make_classifier()
    c = clf.contributions(TEXTS[1])  # a long text: 7 chunks of 5
    assert c.label == clf.predict(TEXTS[1])[0][0]
    assert any(s != 0 for s in c.scores[:5])  # gradient reaches the first chunk too
