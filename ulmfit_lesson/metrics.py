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

Single-label decision rule tuned for macro-F1 (beyond the ULMFiT paper): argmax picks the most
probable class, which under imbalance favours the frequent ones: a rare class is predicted only when
the model is sure. ``tune_class_offsets`` finds one additive offset per class on the log-
probabilities (predicted class = ``argmax_c(log p_c + b_c)``) that maximises macro-F1 on the dev set.
Dividing the probabilities by the training class priors (class-prior correction) is the special case
``b_c = -log prior_c``; the search can find it, or something better for macro-F1. As with the
thresholds: tuned on dev, never on test, and reported next to the untuned scores
(``tuned_and_untuned``), since a rule tuned for macro-F1 usually costs accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5  # multi-label: a label is on when its probability reaches this
# Single-label offsets tried per class by ``tune_class_offsets``: -3 to 3 in log-probability (a
# factor e^3 = 20 either way on a class's probability), in steps of 0.1.
OFFSET_GRID = tuple(round(v, 1) for v in np.arange(-3.0, 3.01, 0.1))
OFFSET_ROUNDS = 5  # at most this many passes over the classes


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
        )
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


def predict_with_offsets(probs: np.ndarray, offsets: Sequence[float] | None = None) -> np.ndarray:
    """Class ids (n,) from probabilities (n, C): ``argmax_c(log p_c + offsets_c)`` (plain argmax
    without offsets). Probabilities are floored at 1e-30 so that a 0 (a float32 softmax underflow)
    stays comparable."""
    probs = np.asarray(probs, dtype=np.float64)
    if offsets is None:
        return probs.argmax(1)
    return (np.log(np.maximum(probs, 1e-30)) + np.asarray(offsets, dtype=np.float64)).argmax(1)


def metrics_from_probs(
    probs: np.ndarray,
    y_true: np.ndarray,
    label_names: Sequence[str] | None = None,
    multi_label: bool = False,
    thresholds: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1 and (single-label) the confusion matrix, from probabilities (n, C).

    Single-label: predicted class = argmax, or with ``offsets`` ``argmax(log p + offsets)``.
    Multi-label: label on when its probability reaches its threshold (default 0.5 each).
    """
    probs = np.asarray(probs)
    n_classes = probs.shape[1]
    out: dict[str, Any] = {"n": int(len(probs))}
    if multi_label:
        t = np.asarray(thresholds if thresholds is not None else [DEFAULT_THRESHOLD] * n_classes)
        out.update(multilabel_metrics(y_true, probs >= t))
        out["thresholds"] = [float(v) for v in t]
    else:
        pred = predict_with_offsets(probs, offsets)
        cm = confusion_matrix(y_true, pred, n_classes)
        out.update(
            accuracy=accuracy(y_true, pred),
            macro_f1=macro_f1(y_true, pred, n_classes),
            confusion_matrix=cm,
            class_f1=f1_per_class(cm),
        )
        if offsets is not None:
            out["offsets"] = [float(v) for v in offsets]
    if label_names is not None:
        out["labels"] = list(label_names)
    return out


TUNED_KEYS = ("accuracy", "macro_f1", "class_f1", "confusion_matrix", "label_f1", "label_counts")


def tuned_and_untuned(
    probs: np.ndarray,
    y_true: np.ndarray,
    label_names: Sequence[str] | None = None,
    multi_label: bool = False,
    thresholds: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
) -> dict[str, Any]:
    """``metrics_from_probs`` under the plain rule (argmax; 0.5 per label) with its usual keys, and,
    where a tuned rule is given (``offsets`` single-label, ``thresholds`` multi-label), the same
    scores under it as ``accuracy_tuned``, ``macro_f1_tuned``, ``class_f1_tuned`` /
    ``label_f1_tuned``, ... plus the rule itself (``offsets`` / ``thresholds``).

    Both, because a rule tuned for macro-F1 trades accuracy for it, and because it can game F1
    (a label the model cannot recognise still gets F1 2p / (1 + p) by always being predicted).
    """
    out = metrics_from_probs(probs, y_true, label_names, multi_label)
    rule = thresholds if multi_label else offsets
    if rule is None:
        return out
    tuned = metrics_from_probs(probs, y_true, label_names, multi_label, thresholds, offsets)
    out.update({f"{k}_tuned": tuned[k] for k in TUNED_KEYS if k in tuned})
    out["thresholds" if multi_label else "offsets"] = [float(v) for v in rule]
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


def tune_class_offsets(
    probs: np.ndarray,
    y_true: Sequence[int],
    n_classes: int | None = None,
    grid: Sequence[float] = OFFSET_GRID,
    rounds: int = OFFSET_ROUNDS,
) -> list[float]:
    """Single-label: one additive offset per class on the log-probabilities, chosen for macro-F1.

    Coordinate search, deterministic: start at 0 everywhere; for each class in turn try every
    ``grid`` value with the other offsets fixed and keep the one with the best macro-F1 (ties: the
    value closest to 0, so an offset moves only when it pays); repeat until a pass changes nothing
    (at most ``rounds`` passes). Every move raises macro-F1 or brings an offset nearer 0, so the
    result never scores below plain argmax on ``probs``, and a set argmax already gets right keeps
    all offsets at 0. Apply with ``predict_with_offsets``. Tune on dev, never on the test set.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=int)
    k = probs.shape[1] if n_classes is None else n_classes
    log_p = np.log(np.maximum(probs, 1e-30))
    offsets = np.zeros(k)
    candidates = sorted(grid, key=lambda v: (abs(v), v))  # nearest 0 first: ties keep it small

    def score(b: np.ndarray) -> float:
        return macro_f1(y_true, (log_p + b).argmax(1), k)

    best = score(offsets)
    for _ in range(rounds):
        changed = False
        for c in range(k):
            trial = offsets.copy()
            top, top_v = -1.0, offsets[c]
            for v in candidates:
                trial[c] = v
                s = score(trial)
                if s > top + 1e-12:
                    top, top_v = s, v
            if top > best + 1e-12 or (abs(top - best) <= 1e-12 and abs(top_v) < abs(offsets[c])):
                offsets[c], best, changed = top_v, max(best, top), True
        if not changed:
            break
    return [float(v) for v in offsets]


def cross_fitted_offset_scores(
    probs: np.ndarray, y_true: Sequence[int], n_classes: int | None = None, k: int = 2
) -> dict[str, float]:
    """``accuracy`` and ``macro_f1`` of offset tuning on a set, each row scored with offsets tuned
    on the *other* rows: row ``i`` is in fold ``i % k``, each fold is predicted with
    ``tune_class_offsets`` of the remaining folds. What tuned offsets are worth on new texts,
    measured on dev alone: scoring the offsets on the rows they were tuned on flatters them, and
    choosing a default on such a score would favour tuning whatever it is worth."""
    probs, y_true = np.asarray(probs), np.asarray(y_true, dtype=int)
    n_classes = probs.shape[1] if n_classes is None else n_classes
    fold = np.arange(len(y_true)) % k
    pred = np.empty(len(y_true), dtype=int)
    for f in range(k):
        offsets = tune_class_offsets(probs[fold != f], y_true[fold != f], n_classes)
        pred[fold == f] = predict_with_offsets(probs[fold == f], offsets)
    return {"accuracy": accuracy(y_true, pred), "macro_f1": macro_f1(y_true, pred, n_classes)}


def cross_fitted_threshold_scores(
    probs: np.ndarray, y_true: np.ndarray, k: int = 2
) -> dict[str, float]:
    """Multi-label: ``accuracy`` (exact match) and ``macro_f1`` of per-label thresholds tuned on a
    set, each row scored with thresholds tuned on the *other* rows (row ``i`` in fold ``i % k``,
    ``tune_thresholds``): what tuned thresholds are worth on new texts, from dev alone (the same
    reason as ``cross_fitted_offset_scores``)."""
    probs, y_true = np.asarray(probs), np.asarray(y_true, bool)
    fold = np.arange(len(y_true)) % k
    pred = np.zeros_like(y_true)
    for f in range(k):
        thresholds = tune_thresholds(probs[fold != f], y_true[fold != f])
        pred[fold == f] = probs[fold == f] >= np.asarray(thresholds)
    m = multilabel_metrics(y_true, pred)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


__all__ = [
    "DEFAULT_THRESHOLD",
    "cross_fitted_offset_scores",
    "cross_fitted_threshold_scores",
    "OFFSET_GRID",
    "predict_with_offsets",
    "tune_class_offsets",
    "tuned_and_untuned",
    "accuracy",
    "confusion_matrix",
    "f1_per_class",
    "macro_f1",
    "multilabel_counts",
    "multilabel_metrics",
    "metrics_from_probs",
    "tune_thresholds",
]
