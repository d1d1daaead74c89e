"""Evaluating a language model: token-weighted loss, accuracy, perplexity; the evaluation layout."""

import math

import pytest
import torch

from tests.test_train import VOCAB, tiny_lm
from ulmfit_lesson.lm_eval import as_loader, evaluate_lm
from ulmfit_lesson.lm_loader import LMLoader

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def test_evaluate_lm_equals_one_long_forward():
    """bs streams read in bptt windows with the hidden carried = each stream in one forward pass."""
    model = tiny_lm().eval()
    ids = torch.randint(2, VOCAB, (203,))
    metrics = evaluate_lm(model, ids, bs=2, bptt=7)
    n_per_stream = (203 - 1) // 2
    x = ids[: 2 * n_per_stream].view(2, -1)
    y = ids[1 : 2 * n_per_stream + 1].view(2, -1)
    with torch.no_grad():
        logits = model(x).logits
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    accuracy = (logits.argmax(-1) == y).float().mean()
    assert metrics.n_tokens == y.numel()
    assert metrics.loss == pytest.approx(expected.item(), rel=1e-5)
    assert metrics.accuracy == pytest.approx(accuracy.item())
    assert not model.training


def test_perplexity_is_exp_loss_and_max_batches_reads_fewer_tokens():
    model = tiny_lm()
    ids = torch.randint(2, VOCAB, (400,))
    full = evaluate_lm(model, ids, bs=2, bptt=10)
    part = evaluate_lm(model, ids, bs=2, bptt=10, max_batches=3)
    assert full.perplexity == pytest.approx(math.exp(full.loss))
    assert part.n_tokens == 3 * 2 * 10 < full.n_tokens


def test_as_loader_reads_documents_in_fixed_windows_and_keeps_loaders():
    docs = [torch.arange(2, 40), torch.arange(2, 30)]
    loader = as_loader(docs, bs=2, bptt=5)
    assert [b.x.shape for b in loader][0] == (2, 5)
    lens = [b.seq_len for b in loader]  # fixed windows; only the last may be shorter
    assert lens[:-1] == [5] * (len(lens) - 1) and 1 <= lens[-1] <= 5 and not loader.shuffle
    given = LMLoader(docs, bs=2, bptt=5)
    assert as_loader(given) is given
