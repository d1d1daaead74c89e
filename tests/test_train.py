"""The LM training loop: schedules really applied, freezing, truncated BPTT, learning, resume."""

import math

import pytest
import torch

from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.schedules import (
    DISCRIMINATIVE_FACTOR,
    Schedule,
    discriminative_lrs,
    freeze_to,
    one_cycle_moms,
)
from ulmfit_lesson.train import count_steps, evaluate_lm, fit_lm, train_step

VOCAB = 14  # 0..9 specials-ish + the 10 words of the cycle live at ids 4..13
CYCLE = list(range(4, 14))  # "one two three ... ten", repeated


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def cycle_docs(n_docs=30, doc_len=100):
    stream = CYCLE * (n_docs * doc_len // len(CYCLE) + 1)
    return [torch.tensor([2] + stream[i * doc_len : (i + 1) * doc_len]) for i in range(n_docs)]


def tiny_lm(seed=0, n_layers=2, **kw):
    torch.manual_seed(seed)
    return build_language_model(VOCAB, emb_size=16, hidden_size=32, n_layers=n_layers, **kw)


class OptimizerSpy:
    """Records every param group's lr and beta1 at the moment AdamW.step runs."""

    def __init__(self, monkeypatch):
        self.lrs, self.betas = [], []
        original = torch.optim.AdamW.step

        def step(opt, *args, **kwargs):
            self.lrs.append([g["lr"] for g in opt.param_groups])
            self.betas.append([g["betas"][0] for g in opt.param_groups])
            return original(opt, *args, **kwargs)

        monkeypatch.setattr(torch.optim.AdamW, "step", step)


def lr_scales(docs, bs, bptt, seed, epochs):
    """The lr_scale of every batch, from an independent loader with the same seed."""
    loader = LMLoader(docs, bs=bs, bptt=bptt, seed=seed)
    return [b.lr_scale for _ in range(epochs) for b in loader]


def test_stlr_and_lr_scale_are_applied_per_step(monkeypatch):
    spy = OptimizerSpy(monkeypatch)
    docs = cycle_docs(8, 60)
    loader = LMLoader(docs, bs=4, bptt=12, seed=3)
    lrs = discriminative_lrs(1e-2, 3)
    history = fit_lm(tiny_lm(), loader, epochs=2, lr_max=lrs, progress=False, seed=0)
    scales = lr_scales(docs, 4, 12, seed=3, epochs=2)
    assert len(spy.lrs) == len(scales) == history.total_steps  # count_steps is exact
    assert len(set(scales)) > 1  # variable BPTT really varied the windows
    sched = Schedule(history.total_steps, lrs, kind="stlr")
    for t, (applied, scale) in enumerate(zip(spy.lrs, scales)):
        expected = [lr * scale for lr in sched(t)]
        assert applied == pytest.approx(expected, rel=1e-12), t
    # the STLR shape: starts at lr_max/32, peaks at cut = floor(0.1 T), falls back
    top = [a[-1] / s for a, s in zip(spy.lrs, scales)]
    cut = math.floor(0.1 * history.total_steps)
    assert top[0] == pytest.approx(1e-2 / 32)
    assert max(top) == pytest.approx(1e-2) and top.index(max(top)) == cut
    # ... and the record in the history is what the optimizer saw
    assert [r["lrs"] for r in history.steps] == spy.lrs


def test_discriminative_lrs_ratio_inside_the_optimizer(monkeypatch):
    spy = OptimizerSpy(monkeypatch)
    model = tiny_lm(n_layers=3)  # 4 groups: 3 LSTMs, embedding + decoder
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, seed=0)
    fit_lm(model, loader, 1, discriminative_lrs(4e-3, 4), progress=False, seed=0)
    assert len(spy.lrs) > 2
    for lrs in spy.lrs:
        assert len(lrs) == 4
        for lower, upper in zip(lrs, lrs[1:]):
            assert upper / lower == pytest.approx(DISCRIMINATIVE_FACTOR, rel=1e-12)


def test_one_cycle_sets_momentum(monkeypatch):
    spy = OptimizerSpy(monkeypatch)
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, variable_bptt=False, seed=0)
    h = fit_lm(tiny_lm(), loader, 2, 1e-3, schedule="one_cycle", progress=False, seed=0)
    for t, betas in enumerate(spy.betas):
        assert betas == pytest.approx([one_cycle_moms(t, h.total_steps)] * 3)
    assert min(b[0] for b in spy.betas) < 0.75 < spy.betas[0][0]


def test_frozen_groups_do_not_move_even_with_weight_decay():
    model = tiny_lm()
    groups = model.groups
    freeze_to(groups, -1)  # only embedding + decoder train (ULMFiT's first fine-tuning epoch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, seed=0)
    fit_lm(model, loader, 1, 1e-2, wd=0.1, progress=False, seed=0)
    after = model.state_dict()
    for key in before:
        moved = not torch.equal(before[key], after[key])
        trainable = key.startswith(("encoder.encoder", "decoder."))
        assert moved == trainable, key


def test_tiny_lm_learns_a_repetitive_corpus():
    """'one two ... ten' repeated: the next word is fully determined by the current one.

    A model that ignores context can do no better than the unigram distribution: uniform over the
    10 words, loss ln(10) = 2.30, accuracy 0.1. An LM that reads the previous token gets every
    prediction right except just after a document boundary (xxbos, then a random point of the cycle:
    2 of every 101 tokens). With dropout, AR/TAR and weight decay its probabilities stay soft, so we
    ask for accuracy > 0.95 and a loss below a third of the context-free bound (it reaches ~0.35).
    """
    docs = cycle_docs(30, 100)
    model = tiny_lm()
    start = evaluate_lm(model, docs, bs=8, bptt=20)
    loader = LMLoader(docs, bs=8, bptt=20, seed=1)
    history = fit_lm(model, loader, 4, 3e-2, valid_loader=docs, progress=False, seed=0)
    end = evaluate_lm(model, docs, bs=8, bptt=20)
    assert start.loss > 2.0 and start.accuracy < 0.3
    assert end.accuracy > 0.95
    assert end.loss < math.log(10) / 3
    assert end.perplexity == pytest.approx(math.exp(end.loss))
    assert history.epochs[-1]["valid_loss"] == pytest.approx(end.loss, rel=1e-6)
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]


def test_hidden_is_carried_detached_and_reset_each_epoch():
    model = tiny_lm()
    seen_in, seen_out = [], []
    model.register_forward_pre_hook(lambda m, args: seen_in.append(args[1]))
    model.register_forward_hook(lambda m, args, out: seen_out.append(out.hidden))
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, variable_bptt=False, seed=0)
    per_epoch = count_steps(loader, 1)
    fit_lm(model, loader, 2, 1e-2, progress=False, seed=0)  # a second backward through a kept
    assert len(seen_in) == 2 * per_epoch  # graph would raise "Trying to backward ... second time"
    for t, hidden in enumerate(seen_in):
        if t % per_epoch == 0:
            assert hidden is None  # epoch start: fresh zeros
            continue
        for (h, c), (h_prev, c_prev) in zip(hidden, seen_out[t - 1]):
            assert h.grad_fn is None and c.grad_fn is None  # detached ...
            assert torch.equal(h, h_prev) and torch.equal(c, c_prev)  # ... but the same values


def test_resume_is_exact(tmp_path):
    """N steps straight == N/2 steps, checkpoint, a fresh process-like restart, N/2 more."""
    docs = cycle_docs(6, 80)

    def run(model, **kw):
        loader = LMLoader(docs, bs=4, bptt=12, seed=7)
        return fit_lm(model, loader, 2, 5e-3, progress=False, seed=0, **kw)

    straight_model = tiny_lm(seed=0)
    straight = run(straight_model)
    n = straight.total_steps
    path = tmp_path / "run.pt"
    first = run(tiny_lm(seed=0), checkpoint_path=path, stop_after=n // 2 + 1)  # mid-epoch 1
    assert first.stopped_early and len(first.steps) == n // 2 + 1
    torch.manual_seed(123)  # the restart must not depend on the RNG state we happen to be in
    resumed_model = tiny_lm(seed=99)  # different init: everything must come from the checkpoint
    resumed = run(resumed_model, checkpoint_path=path, resume=True)
    assert [r["loss"] for r in resumed.steps] == pytest.approx(
        [r["loss"] for r in straight.steps], abs=1e-6
    )
    for (key, a), b in zip(
        straight_model.state_dict().items(), resumed_model.state_dict().values()
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=key)


def test_amp_is_refused_on_cpu_with_a_clear_message():
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, seed=0)
    with pytest.raises(ValueError, match="needs a GPU"):
        fit_lm(tiny_lm(), loader, 1, 1e-2, amp="bf16", device="cpu", progress=False)
    with pytest.raises(ValueError, match="'bf16' or 'fp16'"):
        fit_lm(tiny_lm(), loader, 1, 1e-2, amp="fp8", device="cpu", progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_on_gpu(amp):
    docs = cycle_docs(30, 100)
    model = tiny_lm()
    loader = LMLoader(docs, bs=8, bptt=20, seed=1)
    h = fit_lm(model, loader, 4, 3e-2, amp=amp, device="cuda", progress=False, seed=0)
    assert all(math.isfinite(r["loss"]) for r in h.steps)
    assert evaluate_lm(model, docs, bs=8, bptt=20, amp=amp).accuracy > 0.9


def test_notebook_progress_draws_a_final_png(monkeypatch):
    """In Jupyter the loop shows a status line and a loss plot, both updated in place."""
    import IPython.display

    from ulmfit_lesson import progress

    handles = []

    class Handle:
        def __init__(self, obj):
            self.shown = [obj]

        def update(self, obj):
            self.shown.append(obj)

    def fake_display(obj, display_id=None):
        handles.append(Handle(obj))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, seed=0)
    fit_lm(tiny_lm(), loader, 2, 1e-2, valid_loader=cycle_docs(2, 50), seed=0)
    status, plot = handles
    assert "epoch 1:" in status.shown[-1].data and "valid_loss" in status.shown[-1].data
    final = plot.shown[-1]
    assert isinstance(final, IPython.display.Image) and final.data[:4] == b"\x89PNG"


def test_train_step_is_one_adam_step_on_loss_plus_regulariser():
    """train_step == forward, (loss + reg).backward(), clip, optimizer.step(), by hand."""
    docs = cycle_docs(4, 40)
    batch = next(iter(LMLoader(docs, bs=2, bptt=8, seed=0, variable_bptt=False)))
    by_hand, stepped = tiny_lm(), tiny_lm()
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2) for m in (by_hand, stepped)]
    torch.manual_seed(1)
    out = by_hand(batch.x)
    loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, VOCAB), batch.y.reshape(-1))
    reg = 2.0 * out.dropped_output.pow(2).mean()
    (loss + reg).backward()
    norm = torch.nn.utils.clip_grad_norm_(by_hand.parameters(), 0.1)
    opts[0].step()
    torch.manual_seed(1)

    def loss_fn(o):
        ce = torch.nn.functional.cross_entropy(o.logits.reshape(-1, VOCAB), batch.y.reshape(-1))
        return ce, 2.0 * o.dropped_output.pow(2).mean()

    step = train_step(stepped, (batch.x,), loss_fn, opts[1], clip=0.1)
    assert step.loss.item() == pytest.approx(loss.item())
    assert float(step.grad_norm) == pytest.approx(float(norm)) and float(norm) > 0.1  # clipped
    for a, b in zip(by_hand.parameters(), stepped.parameters()):
        torch.testing.assert_close(a, b)


def test_fit_runs_every_batch_of_every_epoch_and_callbacks_in_order():
    from ulmfit_lesson.callbacks import Callback
    from ulmfit_lesson.train import Run, Step, fit

    calls = []

    class Spy(Callback):
        def before_epoch(self, run):
            calls.append(("epoch", run.epoch))

        def after_step(self, run, batch):
            calls.append(("step", run.step, batch))
            run.stop = run.step == 5  # a callback ends training after this step

    model = torch.nn.Linear(1, 1)
    run = Run(model, None, [10, 20, 30], epochs=3)
    fit(run, lambda b: Step(None, torch.tensor(0.0), 0.0, torch.tensor(0.0)), [Spy()])
    assert calls == [
        ("epoch", 0),
        ("step", 1, 10),
        ("step", 2, 20),
        ("step", 3, 30),
        ("epoch", 1),
        ("step", 4, 10),
        ("step", 5, 20),
    ]
    assert run.epoch == 1 and run.batch_in_epoch == 2
    resumed = Run(model, None, [10, 20, 30], epochs=2, step=4, epoch=1, skip=1)
    seen = []
    fit(resumed, lambda b: seen.append(b) or Step(None, torch.tensor(0.0), 0.0, torch.tensor(0.0)))
    assert seen == [20, 30] and resumed.step == 6  # skips what the first epoch already trained on


# ----------------------------------------------------------------------------- softmax_words


def test_softmax_over_every_word_is_the_plain_step():
    docs = cycle_docs(4, 50)
    trained = []
    for words in (None, torch.arange(VOCAB)):
        model = tiny_lm()
        fit_lm(model, LMLoader(docs, bs=4, bptt=10, seed=0), 1, 1e-2, progress=False, seed=0,
               softmax_words=words)  # fmt: skip
        trained.append(model.state_dict())
    for key in trained[0]:
        torch.testing.assert_close(trained[0][key], trained[1][key], msg=key)


def test_softmax_over_the_corpus_words_learns_them_and_leaves_the_other_rows_alone():
    """The cycle corpus holds ids 2 and 4..13: scored among those only, the LM still learns the
    cycle (judged by a softmax over every word), and the rows of 0, 1 and 3, which the corpus
    never holds, keep their vectors exactly (no weight decay here); a full softmax moves them."""
    docs = cycle_docs(30, 100)
    words = LMLoader(docs).words()
    assert words.tolist() == [2] + CYCLE
    rows = {}
    for name, softmax_words in (("corpus", words), ("all", None)):
        model = tiny_lm()
        before = model.encoder.encoder.weight.detach().clone()
        loader = LMLoader(docs, bs=8, bptt=20, seed=1)
        fit_lm(model, loader, 4, 3e-2, wd=0.0, progress=False, seed=0, softmax_words=softmax_words)
        rows[name] = (model.encoder.encoder.weight.detach() - before)[[0, 1, 3]].abs().max()
        if name == "corpus":
            assert evaluate_lm(model, docs, bs=8, bptt=20).accuracy > 0.95
    assert rows["corpus"] == 0 and rows["all"] > 1e-3


def test_softmax_words_must_hold_every_word_of_the_corpus():
    loader = LMLoader(cycle_docs(4, 50), bs=4, bptt=10, seed=0)
    with pytest.raises(ValueError, match="lacks token id 13"):
        fit_lm(tiny_lm(), loader, 1, progress=False, softmax_words=torch.arange(13))
