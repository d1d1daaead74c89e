"""Scoring a classifier: probabilities, the per-epoch validation scores, test-set evaluation."""

import numpy as np
import pytest
import torch
from test_predict import TEXTS, make_classifier

from ulmfit_lesson.clas_eval import evaluate_classifier, probabilities, validation_scores
from ulmfit_lesson.clas_loader import ClasLoader
from ulmfit_lesson.labels import LabelWarning
from ulmfit_lesson.metrics import metrics_from_probs
from ulmfit_lesson.predict import predict_logits
from ulmfit_lesson.tokenizer import tokenize_texts

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def test_probabilities_softmax_or_sigmoid():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    single = probabilities(logits, multi_label=False)
    assert single.sum().item() == pytest.approx(1.0) and single.argmax().item() == 0
    multi = probabilities(logits, multi_label=True)
    assert multi.tolist()[0] == pytest.approx(torch.sigmoid(logits)[0].tolist())


def test_validation_scores_equal_evaluate_classifier_on_the_same_texts():
    clf = make_classifier()
    labels = ["neg", "neutral", "pos", "neg", "pos"][: len(TEXTS)]
    texts = TEXTS[: len(labels)]
    y = np.array([clf.label_names.index(lab) for lab in labels])
    ids = [
        torch.as_tensor(clf.vocab.numericalize(t), dtype=torch.long) for t in tokenize_texts(texts)
    ]
    loader = ClasLoader(ids, y, bs=2, bptt=5)
    scores = validation_scores(clf.model, loader, y, False)
    logits = predict_logits(clf.model, loader)  # input order, as the labels
    expected = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).item()
    assert scores["valid_loss"] == pytest.approx(expected, rel=1e-5)
    probs = clf.predict_proba(texts).numpy()
    assert scores["accuracy"] == pytest.approx(metrics_from_probs(probs, y)["accuracy"])
    with pytest.warns(LabelWarning, match="' Neg' .* -> 'neg'"):
        report = evaluate_classifier(
            clf, texts, [" Neg" if lab == "neg" else lab for lab in labels]
        )
    assert report["accuracy"] == pytest.approx(scores["accuracy"])  # " Neg" normalised to "neg"
    assert np.asarray(report["confusion_matrix"]).sum() == len(labels)
