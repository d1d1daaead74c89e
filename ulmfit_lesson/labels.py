"""Class labels: checked, normalised and encoded before any training; balanced class weights.

A classifier's labels come from files people wrote: ``pos``, `` pos`` and ``Pos`` meant the same
class, a row has no label, the test set has a label training never saw. Each of those found after
hours of training costs the hours; found here, seconds after reading, it costs nothing.

- :func:`normalise_labels`: names stripped, case variants merged (with a :class:`LabelWarning`);
- :func:`label_names_of`: the sorted label names (missing labels and a single class are errors);
- :func:`encode_labels`: names -> class ids, or 0/1 rows for multi-label;
- :func:`check_labels`: all of it for every split, before training; :func:`prepare_labels`:
  the names and the encoded training and validation targets a classifier trains on;
- :func:`balanced_class_weights`: loss weights for imbalanced classes (beyond the paper).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

CLASS_WEIGHT_POWER = 0.5  # class_weights="balanced": the square root of inverse frequency


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _where(split: str, sources: Mapping[str, str] | None) -> str:
    return f"{split} ({sources[split]})" if sources and split in sources else split


def _rows(rows: list[int]) -> str:
    """0-based indices shown as row numbers counted from 1, as ``datasets.read_table`` counts
    the data rows of a file (the header is not a row): at most 10 of them."""
    shown = ", ".join(str(r + 1) for r in rows[:10])
    return shown + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


class LabelWarning(UserWarning):
    """Labels that differed only by case or surrounding whitespace were merged into one."""


def _names_of(value: Any, multi_label: bool, delim: str) -> list[str]:
    """The label names in one target: one name, or (multi-label) the names of a list or string."""
    if _missing(value):
        return []
    if multi_label and isinstance(value, (list, tuple, set, np.ndarray)):
        return [str(v) for v in value if not _missing(v)]
    if multi_label:  # spaces after a delimiter ("joy, fear") are layout, not part of a name
        return [s.strip() for s in str(value).split(delim) if s.strip()]
    return [value] if isinstance(value, str) else []  # numbers are left as they are


def normalise_labels(
    splits: Mapping[str, Sequence],
    multi_label: bool = False,
    label_delim: str = ",",
    reference: Sequence[str] | None = None,
) -> dict[str, list]:
    """Labels of every split with names stripped and case variants merged, warning what merged.

    ``pos``, `` pos``, ``pos `` and ``Pos`` would otherwise be four classes: three of them with a
    handful of examples, and test rows marked wrong for a difference nobody meant. Whitespace
    around a name is removed; names equal but for case become the spelling most used in the
    ``train`` split (else in all splits; ties: the first in sorted order), or the one in
    ``reference`` (e.g. a trained classifier's label names). A ``LabelWarning`` says which names
    were merged into which and how many rows each had. Numbers and missing values pass unchanged
    (the later checks name missing ones). Multi-label targets come back as lists of names.
    """
    counts: dict[str, dict[str, int]] = {}  # casefolded name -> raw spelling -> rows
    train_counts: dict[str, int] = {}
    for split, labels in splits.items():
        for value in labels:
            for raw in _names_of(value, multi_label, label_delim):
                variants = counts.setdefault(raw.strip().casefold(), {})
                variants[raw] = variants.get(raw, 0) + 1
                if split == "train":
                    train_counts[raw.strip()] = train_counts.get(raw.strip(), 0) + 1
    known = {n.casefold(): n for n in reference or ()}
    canonical: dict[str, str] = {}
    merged = []
    for key, variants in counts.items():
        stripped = {}
        for raw, n in variants.items():
            stripped[raw.strip()] = stripped.get(raw.strip(), 0) + n
        best = known.get(key) or min(
            stripped, key=lambda name: (-train_counts.get(name, 0), -stripped[name], name)
        )
        for raw in variants:
            canonical[raw] = best
        if len(variants) > 1 or next(iter(variants)) != best:
            shown = ", ".join(
                f"{raw!r} ({n} row{'s' if n > 1 else ''})" for raw, n in sorted(variants.items())
            )
            merged.append(f"{shown} -> {best!r}")
    if merged:
        warnings.warn(
            "labels that differ only by case or surrounding whitespace were merged: "
            + "; ".join(sorted(merged)),
            LabelWarning,
            stacklevel=2,
        )

    def fix(value: Any) -> Any:
        if multi_label and not _missing(value):
            return [canonical[raw] for raw in _names_of(value, True, label_delim)]
        return canonical.get(value, value) if isinstance(value, str) else value

    return {split: [fix(v) for v in labels] for split, labels in splits.items()}


def check_labels(
    splits: Mapping[str, Sequence],
    multi_label: bool = False,
    label_delim: str = ",",
    sources: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, list]]:
    """Every split's labels checked before any training: ``(label names, normalised labels)``.

    ``splits``: ``{"train": [...], "valid": [...], "test": [...]}`` (any but train may be absent).
    Labels are normalised (:func:`normalise_labels`); then missing labels, a single class, and
    labels of another split that training never has raise ``ValueError`` naming the split, file,
    rows and labels - seconds after reading, not hours later after training.
    """
    labels = normalise_labels(splits, multi_label, label_delim)
    names = label_names_of(labels["train"], multi_label, label_delim, sources)
    for split, values in labels.items():
        encode_labels(values, names, multi_label, split, label_delim, sources)
    return names, labels


def prepare_labels(
    train_labels: Sequence,
    valid_labels: Sequence | None = None,
    multi_label: bool = False,
    label_delim: str = ",",
    label_names: Sequence[str] | None = None,
    sources: Mapping[str, str] | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """``(label names, training targets, validation targets or None)`` for a classifier: labels
    normalised (against ``label_names`` when given, else the sorted training labels) and encoded."""
    splits = {"train": train_labels} | ({"valid": valid_labels} if valid_labels is not None else {})
    splits = normalise_labels(splits, multi_label, label_delim, reference=label_names)
    if label_names is None:
        names = label_names_of(splits["train"], multi_label, label_delim, sources)
    else:
        names = [str(n) for n in label_names]
    y_train = encode_labels(splits["train"], names, multi_label, "train", label_delim, sources)
    y_valid = None
    if valid_labels is not None:
        y_valid = encode_labels(splits["valid"], names, multi_label, "valid", label_delim, sources)
    return names, y_train, y_valid


def _label_sets(labels: Sequence, delim: str, split: str, sources) -> list[list[str]]:
    """Multi-label targets as lists of names: lists/tuples/sets as they are, strings split."""
    out, missing = [], []
    for i, value in enumerate(labels):
        if isinstance(value, (list, tuple, set, np.ndarray)):
            out.append([str(v).strip() for v in value if not _missing(v)])
        elif _missing(value):
            missing.append(i)
        else:
            out.append([s.strip() for s in str(value).split(delim) if s.strip()])
    if missing:
        raise ValueError(
            f"missing label (NaN or empty) in {_where(split, sources)} at rows {_rows(missing)}"
        )
    return out


def label_names_of(
    labels: Sequence, multi_label: bool = False, label_delim: str = ",", sources=None
) -> list[str]:
    """The sorted label names of the training labels (numbers sorted as numbers).

    Raises ``ValueError`` naming the rows of missing (NaN/None/empty) labels, or the class when
    there is only one (a classifier needs two).
    """
    if multi_label:
        names = {n for s in _label_sets(labels, label_delim, "train", sources) for n in s}
    else:
        missing = [i for i, v in enumerate(labels) if _missing(v)]
        if missing:
            where = _where("train", sources)
            raise ValueError(f"missing label (NaN or empty) in {where} at rows {_rows(missing)}")
        values = set(labels)
        if all(isinstance(v, (int, np.integer)) for v in values):
            return [str(v) for v in sorted(values)]
        names = {str(v) for v in values}
    if len(names) < 2:
        raise ValueError(
            f"{_where('train', sources)} has a single class, {sorted(names)[:1]}: a classifier "
            "needs examples of at least two labels"
        )
    return sorted(names)


def encode_labels(
    labels: Sequence,
    label_names: Sequence[str],
    multi_label: bool = False,
    split: str = "train",
    label_delim: str = ",",
    sources: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Label names -> class ids (n,), or 0/1 rows (n, n_labels) for multi-label.

    Raises ``ValueError`` naming the split (and its file, from ``sources``) and the unknown labels:
    a label the training set never had cannot be predicted, so it is an error, not a silent miss.
    """
    index = {n: i for i, n in enumerate(label_names)}
    if multi_label:
        sets = _label_sets(labels, label_delim, split, sources)
        unknown = sorted({n for s in sets for n in s if n not in index})
        rows = [i for i, s in enumerate(sets) if any(n not in index for n in s)]
        out = np.zeros((len(sets), len(label_names)), dtype=np.float32)
        for i, s in enumerate(sets):
            for n in s:
                if n in index:
                    out[i, index[n]] = 1.0
    else:
        missing = [i for i, v in enumerate(labels) if _missing(v)]
        if missing:
            raise ValueError(
                f"missing label (NaN or empty) in {_where(split, sources)} at rows {_rows(missing)}"
            )
        names = [str(v) for v in labels]
        unknown = sorted({n for n in names if n not in index})
        rows = [i for i, n in enumerate(names) if n not in index]
        out = np.array([index.get(n, -1) for n in names], dtype=np.int64)
    if unknown:
        raise ValueError(
            f"label(s) {', '.join(repr(u) for u in unknown[:10])} in {_where(split, sources)} "
            f"(rows {_rows(rows)}) never appear in the training labels {list(label_names)}; "
            "the classifier can only predict labels it was trained on"
        )
    return out


def balanced_class_weights(
    y: np.ndarray, n_classes: int, multi_label: bool = False, power: float = CLASS_WEIGHT_POWER
) -> np.ndarray:
    """Smoothed inverse-frequency loss weights (``train_classifier(class_weights="balanced")``).

    Single-label, ``n`` examples, ``k`` classes, ``n_c`` examples of class ``c``::

        w_c = (n / (k * n_c)) ** power,  then scaled so that sum_c n_c w_c = n

    i.e. the weights average 1 over the training examples, so the loss keeps its scale and the
    learning rates tuned for plain cross-entropy still fit. ``power=1`` is scikit-learn's (and
    ``baselines.LogisticRegression``'s) ``"balanced"``: every class then weighs as much as any
    other in total. Why smooth (``power=0.5``, the square root): on GoEmotions' Ekman view full
    inverse frequency weighs a disgust comment (1.3 % of them) 30 times a joy comment (38.5 %);
    the few rare examples then dominate their batches, and a network that can memorise them learns
    to over-predict their class. The square root moves part of the way (a ratio of about 5.4);
    ``class_weight_power`` sets how far. A class
    without training examples counts as one. Returns ``(k,)``.

    Multi-label (``y``: 0/1 rows, ``(n, k)``): each label is a two-class problem, absent vs
    present, weighted by the same formula; returns ``(k, 2)``: ``[w_absent, w_present]`` per label
    (their ratio is the ``pos_weight`` ``(n_absent / n_present) ** power``).
    """
    y = np.asarray(y)
    if multi_label:
        present = y.astype(bool).sum(0)
        return np.stack([_balanced([len(y) - p, p], power) for p in present])
    return _balanced(np.bincount(y.astype(int), minlength=n_classes), power)


def _balanced(counts, power: float) -> np.ndarray:
    """``balanced_class_weights``' formula for one set of class counts."""
    counts = np.asarray(counts, dtype=np.float64)
    n, k = counts.sum(), len(counts)
    w = (n / (k * np.maximum(counts, 1))) ** power
    return w * n / (counts * w).sum()


__all__ = [
    "CLASS_WEIGHT_POWER",
    "LabelWarning",
    "balanced_class_weights",
    "check_labels",
    "encode_labels",
    "label_names_of",
    "normalise_labels",
    "prepare_labels",
]
