"""The GPU path: cuDNN under WeightDropout, CPU/GPU agreement, mixed precision, stage 3 on a GPU.

These run only where CUDA is available (CI has no GPU; `bench/gpu_checks.py` runs them on one and
records the result in bench/results/gpu.md). Everything else about these code paths is tested on the
CPU in the other files.
"""

import math
import warnings
from contextlib import contextmanager

import pytest
import torch
from test_clas_recipes import train_good_bad

from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.train import evaluate_lm

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")

VOCAB = 60


def small_lm(seed=0):
    torch.manual_seed(seed)
    return build_language_model(VOCAB, emb_size=16, hidden_size=24, n_layers=3)


@contextmanager
def no_tf32():
    """Full float32 matmuls and cuDNN RNNs, so that GPU and CPU results can be compared closely."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def autograd_ops(t: torch.Tensor) -> set[str]:
    """Names of every backward node that produced ``t``."""
    seen, todo, names = set(), [t.grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        todo.extend(f for f, _ in fn.next_functions)
    return names


def test_weight_dropout_takes_the_cudnn_path_without_warnings():
    model = small_lm().cuda().train()
    x = torch.randint(0, VOCAB, (4, 12), device="cuda")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model(x)
        loss = out.logits.float().logsumexp(-1).mean()
        loss.backward()
    assert [str(w.message) for w in caught] == []
    # cuDNN's fused LSTM ran (its backward node is in the graph), with the DropConnect'ed W_hh
    assert any("Cudnn" in name for name in autograd_ops(loss)), autograd_ops(loss)
    raws = [p for n, p in model.named_parameters() if n.endswith("weight_hh_l0_raw")]
    assert len(raws) == 3 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in raws)
    # one fresh mask per forward pass in training; none in eval
    assert not torch.equal(model(x).logits, model(x).logits)
    model.eval()
    assert torch.equal(model(x).logits, model(x).logits)


def test_gpu_eval_logits_equal_the_cpu_ones():
    model = small_lm().eval()
    x = torch.randint(0, VOCAB, (3, 20))
    with torch.no_grad():
        cpu = model(x).logits
        with no_tf32():
            gpu = model.cuda()(x.cuda()).logits.cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_evaluation_is_close_to_float32(amp):
    model = small_lm().cuda()
    docs = [torch.randint(0, VOCAB, (200,)) for _ in range(4)]
    fp32 = evaluate_lm(model, docs, bs=4, bptt=20)
    mixed = evaluate_lm(model, docs, bs=4, bptt=20, amp=amp)
    assert math.isfinite(mixed.loss)
    assert mixed.loss == pytest.approx(fp32.loss, rel=0.01)  # bf16 keeps ~3 significant digits


def test_classifier_trains_on_gpu_and_predicts_like_the_cpu():
    result, valid_texts, _ = train_good_bad(device="cuda")
    clf = result.classifier
    assert clf.device.type == "cuda"
    assert result.metrics["accuracy"] > 0.9
    with no_tf32():
        gpu = clf.predict_proba(valid_texts)
        alone = torch.cat([clf.predict_proba(t) for t in valid_texts[:5]])
        clf.model.cpu()
        cpu = clf.predict_proba(valid_texts)
    torch.testing.assert_close(alone, gpu[:5], rtol=0, atol=1e-5)  # a batch changes nothing
    torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-4)
