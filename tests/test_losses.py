"""The losses, computed by hand: next-token cross-entropy, AR/TAR (AWD-LSTM §4.6) on the language
model's and the classifier's outputs, and the classifier's smoothed and weighted cross-entropy."""

import math

import pytest
import torch

from ulmfit_lesson.losses import ar_tar_penalty, classification_loss, lm_loss, masked_ar_tar

# ----------------------------------------------------------------------------- language model


def test_lm_loss_by_hand():
    logits = torch.tensor([[[0.0, 0.0, math.log(2.0)], [1.0, 1.0, 1.0]]])  # (1, 2, 3)
    y = torch.tensor([[2, 0]])
    expected = (-math.log(2 / 4) - math.log(1 / 3)) / 2
    assert lm_loss(logits, y).item() == pytest.approx(expected)
    assert lm_loss(logits.half(), y).dtype == torch.float32


def test_ar_tar_by_hand():
    raw = torch.tensor([[[1.0, 2.0], [3.0, 2.0], [3.0, 5.0]]])  # (bs=1, seq_len=3, 2)
    dropped = torch.tensor([[[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]]])
    ar = (4 + 0 + 0 + 16 + 1 + 1) / 6  # mean of dropped**2
    tar = (2**2 + 0**2 + 0**2 + 3**2) / 4  # mean of (raw[t] - raw[t-1])**2
    assert ar_tar_penalty(raw, dropped).item() == pytest.approx(2 * ar + 1 * tar)
    assert ar_tar_penalty(raw, dropped, alpha=0.5, beta=3.0).item() == pytest.approx(
        0.5 * ar + 3 * tar
    )
    assert ar_tar_penalty(raw[:, :1], dropped[:, :1]).item() == pytest.approx(2 * (4 + 0) / 2)


def test_ar_on_dropped_tar_on_raw_and_float32_under_half():
    raw, dropped = torch.zeros(2, 4, 3), torch.ones(2, 4, 3)
    assert ar_tar_penalty(raw, dropped, alpha=1, beta=0).item() == 1.0  # AR sees the dropped output
    assert ar_tar_penalty(raw, dropped, alpha=0, beta=1).item() == 0.0  # TAR the raw one
    big = torch.full((1, 2, 2), 300.0, dtype=torch.float16)  # 300**2 overflows float16
    penalty = ar_tar_penalty(big, big)
    assert penalty.dtype == torch.float32 and penalty.item() == pytest.approx(2 * 90000)


# ----------------------------------------------------------------------------- classifier


def test_masked_ar_tar_hand_computed():
    h = torch.tensor([[[1.0], [3.0], [9.0]], [[2.0], [0.0], [0.0]]])  # (2, 3, 1)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # AR over real: (1 + 9 + 4) / 3; TAR over real pairs: only (3 - 1)^2 = 4
    got = masked_ar_tar(h, mask, alpha=2.0, beta=1.0)
    assert got.item() == pytest.approx(2 * 14 / 3 + 4)


def test_label_smoothing_loss_hand_computed():
    logits, y = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])
    log_p = torch.log_softmax(logits, -1)[0]
    target = torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])  # 1 - 0.1 on the truth, 0.1 spread
    assert float(classification_loss(False, 0.1)(logits, y)) == pytest.approx(
        float(-(target * log_p).sum())
    )
    assert float(classification_loss(False)(logits, y)) == pytest.approx(float(-log_p[0]))


def test_weighted_losses_hand_computed():
    w = torch.tensor([0.75, 1.5, 3.0])
    logits, y = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), torch.tensor([0, 2])
    ce0 = math.log(math.exp(2) + 2) - 2  # -log softmax(2, 0, 0)[0]
    ce1 = math.log(2 + math.e)  # -log softmax(0, 1, 0)[2]
    assert float(classification_loss(False, 0.0, w)(logits, y)) == pytest.approx(
        (0.75 * ce0 + 3 * ce1) / 2
    )
    assert float(classification_loss(False)(logits, y)) == pytest.approx(
        (ce0 + ce1) / 2
    )  # plain: unchanged
    # multi-label: label 0 present (its present weight 5/3), label 1 absent (its absent weight 5/3)
    wm = torch.tensor([[5 / 6, 5 / 3], [5 / 3, 5 / 6]])
    bce = classification_loss(True, 0.0, wm)(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    expected = (5 / 3 * math.log(2) + 5 / 3 * math.log(1 + math.e**2)) / 2
    assert float(bce) == pytest.approx(expected)
