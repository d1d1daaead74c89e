"""Losses: next-token cross-entropy, AR/TAR activation regularisation (AWD-LSTM §4.6), and the
classifier's (weighted) cross-entropy.

AR (activation regularisation) penalises large activations: ``alpha * mean(h_dropped ** 2)``.
TAR (temporal activation regularisation) penalises fast changes between consecutive time steps:
``beta * mean((h_t - h_{t-1}) ** 2)``. Both act on the last LSTM layer; AR on the output *after*
output dropout, TAR on the raw output (as salesforce/awd-lstm-lm and fastai's ``RNNRegularizer``).
ULMFiT keeps them on for both the LM and the classifier with alpha=2, beta=1.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .config import AR_ALPHA, TAR_BETA


def lm_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits`` (bs, seq_len, vocab) against next tokens ``y`` (bs, seq_len)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))


def ar_tar_penalty(
    raw_output: Tensor, dropped_output: Tensor, alpha: float = AR_ALPHA, beta: float = TAR_BETA
) -> Tensor:
    """AR + TAR on the last layer's outputs, both ``(bs, seq_len, features)``.

    Computed in float32 even under mixed precision: squares of half floats overflow easily
    (fastai PR #1374).
    """
    ar = dropped_output.float().pow(2).mean()
    if raw_output.size(1) < 2:  # a one-token window has no consecutive pair
        return alpha * ar
    tar = (raw_output[:, 1:] - raw_output[:, :-1]).float().pow(2).mean()
    return alpha * ar + beta * tar


def masked_ar_tar(
    output: Tensor, mask: Tensor, alpha: float = AR_ALPHA, beta: float = TAR_BETA
) -> Tensor:
    """AR + TAR (AWD-LSTM §4.6) on the classifier's kept outputs, over real tokens only.

    Args: ``output`` (bs, seq_len, n), ``mask`` (bs, seq_len) bool.
    AR = ``alpha * mean(h**2)`` over real positions; TAR = ``beta * mean((h_t - h_{t-1})**2)`` over
    consecutive pairs of real positions.
    Deviation: fastai's ``RNNRegularizer`` averages over padding too (its classifier returns
    ``(x, out, out)``); padding activations are not the document's, so they are left out here.
    """
    h = output.float()
    real = mask.unsqueeze(-1).to(h.dtype)  # (bs, seq_len, 1)
    n = real.sum().clamp_min(1) * h.size(-1)
    ar = (h.pow(2) * real).sum() / n
    pairs = real[:, 1:] * real[:, :-1]  # (bs, seq_len - 1, 1): both ends real
    n_pairs = pairs.sum() * h.size(-1)
    tar = ((h[:, 1:] - h[:, :-1]).pow(2) * pairs).sum() / n_pairs.clamp_min(1)
    return alpha * ar + beta * tar


def classification_loss(
    multi_label: bool, label_smoothing: float = 0.0, weights: Tensor | None = None
):
    """The training loss: cross-entropy (softmax) or binary cross-entropy per label (sigmoids),
    each example (each label, multi-label) weighted by ``weights`` (``balanced_class_weights``):
    ``mean_i(w[y_i] * CE_i)``, not PyTorch's ``sum(w CE) / sum(w)``, so a batch of rare examples
    weighs more than a batch of common ones, as in the TF-IDF baseline's weighted loss."""
    if multi_label:
        if weights is None:
            return lambda logits, y: F.binary_cross_entropy_with_logits(logits.float(), y.float())

        def weighted_bce(logits, y):
            y = y.float()
            w = weights[:, 0] * (1 - y) + weights[:, 1] * y  # (bs, k): absent or present weight
            bce = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none")
            return (w * bce).mean()

        return weighted_bce
    if weights is None:
        return lambda logits, y: F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)

    def weighted_ce(logits, y):
        ce = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing, reduction="none")
        return (weights[y] * ce).mean()

    return weighted_ce
