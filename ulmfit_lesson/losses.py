"""Losses: next-token cross-entropy, and AR/TAR activation regularisation (AWD-LSTM §4.6).

AR (activation regularisation) penalises large activations: ``alpha * mean(h_dropped ** 2)``.
TAR (temporal activation regularisation) penalises fast changes between consecutive time steps:
``beta * mean((h_t - h_{t-1}) ** 2)``. Both act on the last LSTM layer; AR on the output *after*
output dropout, TAR on the raw output (as salesforce/awd-lstm-lm and fastai's ``RNNRegularizer``).
ULMFiT keeps them on for both the LM and the classifier with alpha=2, beta=1.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

AR_ALPHA = 2.0
TAR_BETA = 1.0


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
