"""Classification metrics in numpy, a few lines each, so nothing depends on scikit-learn.

Single-label (one class per text; predicted class = argmax of the probabilities):

- **accuracy**: the share of texts whose predicted class is the true one;
- **confusion matrix**: ``cm[i][j]`` counts texts of true class ``i`` predicted as ``j``; its
  diagonal is what accuracy counts, the rest shows *which* classes get mixed up;
- **F1** of a class: ``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision (how many of the
  texts predicted as the class are right) and recall (how many texts of the class are found);
- **macro-F1**: the unweighted mean of the per-class F1 scores.

Why macro-F1 next to accuracy: with imbalanced classes (Poem Sentiment's "mixed" class, GoEmotions'
rare emotions) a classifier that never predicts a rare class loses little accuracy, since that class
holds few texts, but its F1 for that class is 0, and macro-F1 counts every class the same.

Multi-label (any number of labels per text; sigmoid per label): a label is on when its probability
reaches its threshold. Accuracy is then *exact match* (every label of a text right) and macro-F1 the
mean per-label F1. The thresholds are tuned per label (``tune_thresholds``) on the *validation*
(dev) set: choosing them on the test set would fit them to the very answers they are scored
against, and the test score would no longer say how the classifier does on new texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5  # multi-label: a label is on when its probability reaches this


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Share of predictions equal to the truth."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


def confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], n_classes: int
) -> list[list[int]]:
    """``cm[i][j]`` = how many examples of true class ``i`` were predicted as class ``j``."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm.tolist()


def _f1(tp: float, fp: float, fn: float) -> float:
    """F1 = 2 tp / (2 tp + fp + fn): the harmonic mean of precision and recall."""
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def f1_per_class(cm: Sequence[Sequence[int]]) -> list[float]:
    """F1 of each class from a confusion matrix (NaN for a class neither present nor predicted)."""
    cm = np.asarray(cm)
    tp = np.diag(cm)
    return [_f1(tp[i], cm[:, i].sum() - tp[i], cm[i].sum() - tp[i]) for i in range(len(cm))]


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores over the classes that occur in the truth or the
    predictions (scikit-learn's ``f1_score(average='macro')``). Every class counts the same, so a
    classifier that ignores a rare class is penalised, which accuracy hides."""
    scores = [s for s in f1_per_class(confusion_matrix(y_true, y_pred, n_classes)) if s == s]
    return float(np.mean(scores)) if scores else float("nan")


def multilabel_counts(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, int]]:
    """Per label: ``tp``, ``fp``, ``fn``, ``tn`` of 0/1 arrays (n, n_labels)."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    return [
        dict(
            tp=int((t & p).sum()),
            fp=int((~t & p).sum()),
            fn=int((t & ~p).sum()),
            tn=int((~t & ~p).sum()),
        )  # fmt: skip
        for t, p in zip(y_true.T, y_pred.T)
    ]


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """``accuracy`` (exact match: every label of a text right), ``macro_f1`` (mean per-label F1 over
    labels present or predicted), ``label_f1`` and ``label_counts``."""
    counts = multilabel_counts(y_true, y_pred)
    label_f1 = [_f1(c["tp"], c["fp"], c["fn"]) for c in counts]
    present = [s for s in label_f1 if s == s]
    exact = (np.asarray(y_true, bool) == np.asarray(y_pred, bool)).all(axis=1)
    return {
        "accuracy": float(exact.mean()) if len(exact) else float("nan"),
        "macro_f1": float(np.mean(present)) if present else float("nan"),
        "label_f1": label_f1,
        "label_counts": counts,
    }


def metrics_from_probs(
    probs: np.ndarray,
    y_true: np.ndarray,
    label_names: Sequence[str] | None = None,
    multi_label: bool = False,
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1 and (single-label) the confusion matrix, from probabilities (n, C).

    Single-label: predicted class = argmax. Multi-label: label on when its probability reaches its
    threshold (default 0.5 each).
    """
    probs = np.asarray(probs)
    n_classes = probs.shape[1]
    out: dict[str, Any] = {"n": int(len(probs))}
    if multi_label:
        t = np.asarray(thresholds if thresholds is not None else [DEFAULT_THRESHOLD] * n_classes)
        out.update(multilabel_metrics(y_true, probs >= t))
        out["thresholds"] = [float(v) for v in t]
    else:
        pred = probs.argmax(1)
        cm = confusion_matrix(y_true, pred, n_classes)
        out.update(
            accuracy=accuracy(y_true, pred), macro_f1=macro_f1(y_true, pred, n_classes),
            confusion_matrix=cm, class_f1=f1_per_class(cm),
        )  # fmt: skip
    if label_names is not None:
        out["labels"] = list(label_names)
    return out


def tune_thresholds(
    probs: np.ndarray, y_true: np.ndarray, grid: Sequence[float] | None = None
) -> list[float]:
    """One decision threshold per label: the grid value with the best F1 of that label.

    Ties go to the value closest to 0.5; a label without positives in ``y_true`` keeps 0.5.
    Why per label: a rare emotion's probabilities rarely reach 0.5 even when right; a common one's
    may exceed it when wrong. Tune on validation data, never on the test set.
    """
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2) if grid is None else np.asarray(grid)
    probs, y_true = np.asarray(probs), np.asarray(y_true, bool)
    thresholds = []
    for j in range(probs.shape[1]):
        if not y_true[:, j].any():
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        best, best_t = -1.0, DEFAULT_THRESHOLD
        for t in sorted(grid, key=lambda t: abs(t - DEFAULT_THRESHOLD)):
            pred = probs[:, j] >= t
            tp = (pred & y_true[:, j]).sum()
            score = _f1(tp, (pred & ~y_true[:, j]).sum(), (~pred & y_true[:, j]).sum())
            if score > best:
                best, best_t = score, float(t)
        thresholds.append(best_t)
    return thresholds


__all__ = [
    "DEFAULT_THRESHOLD",
    "accuracy",
    "confusion_matrix",
    "f1_per_class",
    "macro_f1",
    "multilabel_counts",
    "multilabel_metrics",
    "metrics_from_probs",
    "tune_thresholds",
]
