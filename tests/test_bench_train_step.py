"""``bench/bench_train_step.py``'s two contestants do the same computation: the stock swap draws
masks of the same distribution and is undone afterwards, and the fused optimizer makes the same
update as PyTorch's default AdamW."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from ulmfit_lesson import dropout
from ulmfit_lesson.language_model import build_language_model

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
_spec = importlib.util.spec_from_file_location(
    "bench_train_step", REPO_ROOT / "bench" / "bench_train_step.py"
)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)


def test_stock_swap_draws_the_same_distribution_and_is_undone():
    wd = dropout.WeightDropout(torch.nn.LSTM(8, 300, batch_first=True), weight_p=0.3).train()
    package = (
        dropout.dropout_mask,
        dropout.WeightDropout.dropped_weight,
        dropout.EmbeddingDropout.forward,
    )
    rates = {}
    for stock in (False, True):
        torch.manual_seed(0)
        with bench.stock_pytorch() if stock else torch.no_grad():
            assert (dropout.dropout_mask is bench._stock_mask) == stock
            assert (dropout.EmbeddingDropout.forward is bench._stock_embedding) == stock
            w = wd.dropped_weight().detach()
            raw = wd.weight_hh_l0_raw.detach()
            kept = w != 0
            # kept entries are scaled by 1/(1-p), dropped ones are 0: nothing else
            assert torch.allclose(w[kept], raw[kept] / 0.7)
            rates[stock] = 1 - kept.float().mean().item()
    assert (
        dropout.dropout_mask,
        dropout.WeightDropout.dropped_weight,
        dropout.EmbeddingDropout.forward,
    ) == package
    assert rates[False] == pytest.approx(0.3, abs=0.01) and rates[True] == pytest.approx(
        0.3, abs=0.01
    )


def test_fused_adamw_makes_the_stock_update():
    torch.manual_seed(0)
    models = [build_language_model(50, emb_size=8, hidden_size=16, n_layers=2) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    lrs = [1e-3, 2e-3, 3e-3, 4e-3][: len(models[0].groups)]
    opts = [bench.adamw(models[0].groups, lrs, model=models[0])]
    opts.append(bench.stock_adamw(models[1].groups, lrs, models[1]))
    assert opts[0].defaults["fused"] and not opts[1].defaults["fused"]
    x = torch.randint(0, 50, (4, 7))
    for _ in range(3):
        for model, opt in zip(models, opts):
            model.eval()
            loss = model(x).logits.float().pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_lm_batches_hold_only_the_corpus_words_and_all_words_is_the_plain_step(monkeypatch):
    words = bench.corpus_words(300)
    assert len(words) == 300 and torch.equal(words, words.unique())  # sorted, no repeats
    args = type("Args", (), dict(warmup=1, steps=1, bs=2, softmax_words=300))
    for x, y in bench.batches("lm", args, torch.Generator().manual_seed(0)):
        assert torch.isin(x, words).all() and torch.isin(y, words).all()

    monkeypatch.setattr(bench, "VOCAB", 50)
    torch.manual_seed(0)
    model = build_language_model(50, emb_size=8, hidden_size=16, n_layers=2).eval()
    twin = build_language_model(50, emb_size=8, hidden_size=16, n_layers=2).eval()
    twin.load_state_dict(model.state_dict())
    batch = (torch.randint(0, 50, (2, 7)), torch.randint(0, 50, (2, 7)))
    bench.lm_step(bench.Contestant(model, False, bench.lm_step), batch)
    bench.lm_step(bench.Contestant(twin, False, bench.lm_step, torch.arange(50)), batch)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
