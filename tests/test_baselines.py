"""TF-IDF + logistic regression and the majority class, checked against hand-computed values."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ulmfit_lesson.baselines import LogisticRegression, TfidfLogReg, TfidfVectorizer, majority_class


def test_tfidf_values_on_a_hand_computed_corpus():
    docs = [["a", "b", "a"], ["b", "c"]]
    vec = TfidfVectorizer().fit(docs)
    assert vec.vocabulary == {"a": 0, "b": 1, "c": 2}
    # idf = ln((1 + 2) / (1 + df)) + 1: a and c occur in one document, b in both.
    idf_1, idf_2 = math.log(3 / 2) + 1, 1.0
    np.testing.assert_allclose(vec.idf, [idf_1, idf_2, idf_1])
    x = vec.transform(docs).to_dense().numpy()
    row0 = np.array([2 * idf_1, idf_2, 0.0])
    row1 = np.array([0.0, idf_2, idf_1])
    np.testing.assert_allclose(x[0], row0 / np.linalg.norm(row0))
    np.testing.assert_allclose(x[1], row1 / np.linalg.norm(row1))
    # Unknown terms are ignored; a text of unknown terms is an all-zero row, not NaN.
    np.testing.assert_allclose(vec.transform([["zzz"]]).to_dense().numpy(), [[0.0, 0.0, 0.0]])


def test_tfidf_rows_are_sparse_so_a_big_corpus_fits_in_memory():
    """40,000 texts over a million terms: dense, 320 GB; sparse, a few entries per text."""
    vec = TfidfVectorizer()
    vec.vocabulary = {f"w{i}": i for i in range(1_000_000)}
    vec.idf = np.ones(1_000_000)
    x = vec.transform([[f"w{i}", f"w{i * 7 + 3}"] for i in range(40_000)])
    assert x.is_sparse and x.shape == (40_000, 1_000_000) and x._nnz() == 80_000
    assert torch.allclose(
        x.coalesce().values(), torch.full((80_000,), 2**-0.5, dtype=torch.float64)
    )


def test_bigrams_and_min_df():
    docs = [["x", "y"], ["x", "y"], ["x", "z"]]
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit(docs)
    assert sorted(vec.vocabulary) == ["x", "x y", "y"]


def test_xxbos_is_not_a_term():
    vec = TfidfVectorizer().fit([["xxbos", "hi"], ["xxbos", "yo"]])
    assert "xxbos" not in vec.vocabulary


def test_logistic_regression_separates_a_separable_set():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.5, (20, 2)), rng.normal(2, 0.5, (20, 2))])
    y = np.array([0] * 20 + [1] * 20)
    model = LogisticRegression(C=1.0).fit(x, y)
    assert (model.predict(x) == y).all()
    p = model.predict_proba(x)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert p[:20, 0].min() > 0.7 and p[20:, 1].min() > 0.7


def test_balanced_class_weights_rescue_a_rare_class():
    x = np.array([[1.0, 0.0]] * 18 + [[0.6, 0.4]] * 2)
    y = np.array([0] * 18 + [1] * 2)
    plain = LogisticRegression(C=1.0).fit(x, y)
    balanced = LogisticRegression(C=1.0, class_weight="balanced").fit(x, y)
    assert plain.predict(x[-1:])[0] == 0  # the rare class is swamped
    assert balanced.predict(x[-1:])[0] == 1


def test_text_pipeline_and_majority_class():
    texts = ["good film", "very good", "bad film", "so bad", "good good"]
    labels = ["pos", "pos", "neg", "neg", "pos"]
    model = TfidfLogReg(C=10.0).fit(texts, labels)
    assert model.label_names == ["neg", "pos"]
    assert model.predict(["good", "bad"]) == ["pos", "neg"]
    assert majority_class(labels) == "pos"
    assert majority_class(["b", "a"]) == "a"  # ties: sorted first
    with pytest.raises(ValueError):
        majority_class([])


GOLDEN_OVR = Path(__file__).parent / "golden" / "ovr_logreg_sklearn.json"


@pytest.mark.parametrize("weight", [None, "balanced"])
def test_one_vs_rest_matches_scikit_learn(weight):
    """0/1 label rows: one sigmoid per label, the same optimum as scikit-learn's
    OneVsRestClassifier(LogisticRegression) (tools/make_golden_ovr.py wrote its probabilities)."""
    golden = json.loads(GOLDEN_OVR.read_text(encoding="utf-8"))
    x, y = np.array(golden["x"]), np.array(golden["y"])
    model = LogisticRegression(C=golden["C"], class_weight=weight).fit(x, y)
    assert model.multi_label and model.n_classes == 3
    np.testing.assert_allclose(model.predict_proba(x), golden["probs"][str(weight)], atol=2e-4)
    assert model.predict(x).shape == (40, 3)


def test_one_vs_rest_labels_are_independent_problems():
    """Fitting the labels together equals fitting each alone: nothing is shared between them."""
    golden = json.loads(GOLDEN_OVR.read_text(encoding="utf-8"))
    x, y = np.array(golden["x"]), np.array(golden["y"])
    together = LogisticRegression(class_weight="balanced").fit(x, y).predict_proba(x)
    for j in range(y.shape[1]):
        alone = LogisticRegression(class_weight="balanced").fit(x, y[:, [j]]).predict_proba(x)
        np.testing.assert_allclose(together[:, j], alone[:, 0], atol=2e-4)


def test_text_pipeline_multi_label():
    texts = ["happy and sad", "happy day", "sad day", "calm", "happy", "so sad"]
    labels = [["joy", "sadness"], ["joy"], ["sadness"], [], ["joy"], ["sadness"]]
    model = TfidfLogReg(C=10.0, class_weight=None).fit(texts, labels, ["anger", "joy", "sadness"])
    assert model.label_names == ["anger", "joy", "sadness"]  # anger: no example, still a column
    probs = model.predict_proba(["happy", "sad"])
    assert probs.shape == (2, 3) and probs[:, 0].max() < 0.5  # sigmoids: rows need not sum to 1
    assert model.predict(["happy", "sad"]) == [["joy"], ["sadness"]]
    with pytest.raises(ValueError, match="'fear'"):
        TfidfLogReg().fit(["x"], [["fear"]], ["joy"])  # a label outside label_names is named
