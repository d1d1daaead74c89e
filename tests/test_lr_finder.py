"""The learning-rate finder: the LR grows exponentially, the model is put back, the suggestion
is the steepest descent."""

import math

import pytest
import torch

from tests.test_train import cycle_docs, tiny_lm
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.lr_finder import lr_find, suggest_lr
from ulmfit_lesson.schedules import freeze_to

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def test_lr_find_restores_the_model():
    model = tiny_lm()
    freeze_to(model.groups, -2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    loader = LMLoader(cycle_docs(6, 80), bs=4, bptt=10, seed=0)
    result = lr_find(model, loader, start=1e-5, end=10, n=40)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert loader.epoch == 0
    assert 1e-5 <= result.suggested <= 10
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert ratios == pytest.approx([(10 / 1e-5) ** (1 / 39)] * len(ratios))
    assert len(result.losses) == len(result.lrs) <= 40


def test_suggest_lr_picks_the_steepest_descent():
    lrs = [10 ** (-6 + i * 0.1) for i in range(60)]
    # flat, then the fastest fall at lr = 1e-3 (index 30), then up again
    losses = [
        3 - 2 / (1 + math.exp(-(i - 30))) + (0.2 * (i - 45) if i > 45 else 0) for i in range(60)
    ]
    assert suggest_lr(lrs, losses) == pytest.approx(1e-3)


def test_lr_find_loss_first_falls_then_diverges():
    """On the 10-word cycle a tiny LR changes nothing, a useful one lowers the loss, a huge one
    blows it up: the curve the finder is for, and the early stop at 4x the minimum."""
    model = tiny_lm()
    loader = LMLoader(cycle_docs(6, 80), bs=4, bptt=10, seed=0)
    result = lr_find(model, loader, start=1e-4, end=100, n=60)
    assert min(result.losses) < result.losses[0] - 0.05
    assert len(result.losses) < 60  # stopped once the loss diverged
    assert result.losses[-1] > 4 * min(result.losses) or not math.isfinite(result.losses[-1])
    assert result.lrs[0] == pytest.approx(1e-4)
