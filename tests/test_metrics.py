"""Classification metrics computed by hand: accuracy, confusion matrix, per-class and macro-F1,
multi-label scores, and the decision rules tuned on dev (per-label thresholds, per-class
offsets)."""

import math

import numpy as np
import pytest

from ulmfit_lesson.metrics import (
    accuracy,
    confusion_matrix,
    cross_fitted_offset_scores,
    cross_fitted_threshold_scores,
    f1_per_class,
    macro_f1,
    metrics_from_probs,
    multilabel_metrics,
    predict_with_offsets,
    tune_class_offsets,
    tune_thresholds,
    tuned_and_untuned,
)

# ----------------------------------------------------------------------------- scores


def test_single_label_metrics_hand_computed():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert confusion_matrix(y_true, y_pred, 3) == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # class 0: p 1, r 2/3 -> 0.8; class 1: p 1/2, r 1/2 -> 0.5; class 2: p 1/2, r 1 -> 2/3
    f1 = f1_per_class(confusion_matrix(y_true, y_pred, 3))
    assert f1 == pytest.approx([0.8, 0.5, 2 / 3])
    assert macro_f1(y_true, y_pred, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # a class neither present nor predicted is left out of the mean (as scikit-learn does)
    assert macro_f1(y_true, y_pred, 4) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert math.isnan(f1_per_class(confusion_matrix(y_true, y_pred, 4))[3])


def test_multilabel_metrics_hand_computed():
    y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    y_pred = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
    m = multilabel_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(2 / 4)  # exact match: rows 0 and 3
    # label 0: tp 2, fp 1, fn 0 -> 0.8; label 1: tp 1, fp 0, fn 1 -> 2/3
    assert m["label_f1"] == pytest.approx([0.8, 2 / 3])
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["label_counts"][0] == dict(tp=2, fp=1, fn=0, tn=1)


# ----------------------------------------------------------------------------- decision rules


def test_thresholds_are_tuned_per_label():
    # label 0 is right above 0.3, label 1 only above 0.7; label 2 has no positives: keeps 0.5
    probs = np.array([[0.35, 0.8, 0.1], [0.32, 0.75, 0.2], [0.2, 0.6, 0.3], [0.1, 0.65, 0.9]])
    y_true = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    t = tune_thresholds(probs, y_true)
    assert 0.2 < t[0] <= 0.3 and 0.65 < t[1] <= 0.75 and t[2] == 0.5
    tuned = metrics_from_probs(probs, y_true, multi_label=True, thresholds=t)
    default = metrics_from_probs(probs, y_true, multi_label=True)
    assert tuned["label_f1"][:2] == [1.0, 1.0]
    assert default["label_f1"][0] == 0.0 and tuned["macro_f1"] > default["macro_f1"]


def imbalanced_probs():
    """20 of class 0, 20 of class 1, 4 of the rare class 2, whose probability the model puts
    at 0.3 behind class 0's 0.5: argmax never predicts it."""
    rows = [[0.7, 0.2, 0.1]] * 20 + [[0.2, 0.7, 0.1]] * 20 + [[0.5, 0.2, 0.3]] * 4
    return np.array(rows), np.array([0] * 20 + [1] * 20 + [2] * 4)


def test_offsets_raise_macro_f1_on_an_imbalanced_set():
    probs, y = imbalanced_probs()
    untuned = macro_f1(y, probs.argmax(1), 3)
    assert untuned < 0.65  # class 2's F1 is 0
    offsets = tune_class_offsets(probs, y, 3)
    pred = predict_with_offsets(probs, offsets)
    assert macro_f1(y, pred, 3) == 1.0 > untuned
    # class 2 now beats class 0 on its own rows (log 0.3 + b2 > log 0.5 + b0), not on class 0's
    gap = offsets[2] - offsets[0]
    assert math.log(0.5 / 0.3) < gap < math.log(0.7 / 0.1)
    assert offsets == tune_class_offsets(probs, y, 3)  # deterministic
    m = tuned_and_untuned(probs, y, ["a", "b", "c"], offsets=offsets)
    assert m["macro_f1"] == pytest.approx(untuned) and m["macro_f1_tuned"] == 1.0
    assert m["class_f1"][2] == 0.0 and m["class_f1_tuned"] == [1.0, 1.0, 1.0]
    assert m["offsets"] == offsets and m["confusion_matrix_tuned"][2] == [0, 0, 4]


def test_cross_fitted_scores_never_score_offsets_on_their_own_rows():
    probs, y = imbalanced_probs()
    # both halves (rows by parity) hold two rare rows: offsets tuned on one fit the other
    assert cross_fitted_offset_scores(probs, y, 3)["macro_f1"] == 1.0
    # rare rows the model sees differently in the two halves: the even ones (40, 42) hopeless
    # (0.05 against 0.9), the odd ones tunable. Tuned on all rows, offsets fix the odd ones and
    # are scored on them; cross-fitted, the odd ones get the even half's offsets (none help there)
    probs[[40, 42]] = [0.9, 0.05, 0.05]
    in_sample = macro_f1(y, predict_with_offsets(probs, tune_class_offsets(probs, y, 3)), 3)
    assert cross_fitted_offset_scores(probs, y, 3)["macro_f1"] < in_sample


def test_cross_fitted_thresholds_hand_computed():
    y = np.array([[1], [1], [0], [0], [1], [1], [0], [0]])
    # the same in both halves (rows by parity): positives 0.3, negatives 0.1 - each half's
    # threshold fits the other, every row right
    alike = np.array([[0.3], [0.3], [0.1], [0.1], [0.3], [0.3], [0.1], [0.1]])
    assert cross_fitted_threshold_scores(alike, y) == {"accuracy": 1.0, "macro_f1": 1.0}
    # the halves differ: even rows 0.3 / 0.1, odd rows 0.9 / 0.6. Tuned on all rows the best
    # threshold (0.3) scores F1 8 / 10 = 0.8 on them. Cross-fitted: the odd half's 0.65 predicts no
    # even row (tp 0, fn 2); the even half's 0.3 predicts every odd row (tp 2, fp 2): pooled
    # tp 2, fp 2, fn 2 -> F1 0.5, and 4 of 8 rows right.
    probs = np.array([[0.3], [0.9], [0.1], [0.6], [0.3], [0.9], [0.1], [0.6]])
    in_sample = multilabel_metrics(y, probs >= np.array(tune_thresholds(probs, y)))
    assert in_sample["macro_f1"] == pytest.approx(0.8)
    assert cross_fitted_threshold_scores(probs, y) == {"accuracy": 0.5, "macro_f1": 0.5}


def test_offsets_leave_a_balanced_correct_set_alone():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]] * 5)
    y = np.array([0, 1, 2] * 5)
    assert tune_class_offsets(probs, y, 3) == [0.0, 0.0, 0.0]
    # and without an offset rule the tuned keys are absent: nothing to report twice
    assert "macro_f1_tuned" not in tuned_and_untuned(probs, y)
