"""Scoring a classifier: on the validation set after every training epoch, and on labelled texts
(a test split) once trained.

Both report accuracy and macro-F1 (``metrics.py``): macro-F1 weighs every class equally, so a
classifier that ignores a rare class scores low even when its accuracy looks fine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .labels import encode_labels, normalise_labels
from .losses import classification_loss
from .metrics import metrics_from_probs, tuned_and_untuned
from .predict import TextClassifier, predict_logits


def probabilities(logits: Tensor, multi_label: bool) -> Tensor:
    """Class probabilities (softmax) or, multi-label, one probability per label (sigmoids)."""
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def validation_scores(model, loader, y_true, multi_label: bool) -> dict[str, float]:
    """``valid_loss``, ``accuracy`` and ``macro_f1`` of ``model`` on a ``ClasLoader``'s texts.

    The loss is the plain (unweighted, unsmoothed) cross-entropy, so runs trained with different
    losses stay comparable.
    """
    logits = predict_logits(model, loader)  # input order
    y = torch.as_tensor(y_true, device=logits.device)
    loss = float(classification_loss(multi_label)(logits, y))
    probs = probabilities(logits, multi_label).cpu().numpy()
    m = metrics_from_probs(probs, y_true, None, multi_label)
    return {"valid_loss": loss, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def evaluate_classifier(
    classifier: TextClassifier,
    texts: Sequence[str],
    labels: Sequence,
    bs: int = 64,
    split: str = "test",
    label_delim: str = ",",
    sources: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, confusion matrix (single-label) of ``classifier`` on labelled texts.

    Under the plain rule (argmax; 0.5 per label) as ``accuracy``, ``macro_f1``, ...; where the
    classifier holds a tuned rule (single-label ``offsets``; multi-label ``thresholds``) also under
    it, as ``accuracy_tuned``, ``macro_f1_tuned``, ... (``metrics.tuned_and_untuned``).
    Labels are normalised to the classifier's names first (stripped, case variants merged with a
    ``LabelWarning``); labels it was not trained on are an error naming them and the split.
    """
    names, multi = classifier.label_names, classifier.multi_label
    labels = normalise_labels({split: labels}, multi, label_delim, reference=names)[split]
    y = encode_labels(labels, names, multi, split, label_delim, sources)
    probs = classifier.predict_proba(list(texts), bs).numpy()
    return tuned_and_untuned(probs, y, names, multi, classifier.thresholds, classifier.offsets)


__all__ = ["evaluate_classifier", "probabilities", "validation_scores"]
