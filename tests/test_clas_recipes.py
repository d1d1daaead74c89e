"""Stage-3 recipe: labels, unfreezing plan, discriminative LRs, thresholds, end to end."""

import random

import numpy as np
import pytest
import torch

from ulmfit_lesson.clas_recipes import (
    evaluate_classifier,
    plan_stages,
    train_classifier,
)
from ulmfit_lesson.labels import encode_labels
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.schedules import discriminative_lrs
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.vocab import Vocab

FILLER = "the a movie film plot actor scene story was is it and of to very quite rather".split()


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def good_bad_texts(n, seed=0):
    """Texts of filler words with 'good' (label pos) or 'bad' (label neg) inserted twice."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        for _ in range(2):
            words.insert(rng.randrange(len(words) + 1), "good" if label == "pos" else "bad")
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def pretrained_like_lm(vocab, seed=0):
    """A tiny LM standing in for a pretrained one: a random 3-layer LSTM at default init passes
    almost no signal (outputs ~1e-3), so the weights are scaled up as training would, and 'good' /
    'bad' get opposite embeddings, as a pretrained LM's sentiment-aware embeddings would."""
    torch.manual_seed(seed)
    lm = build_language_model(len(vocab), emb_size=16, hidden_size=32)
    with torch.no_grad():
        for name, p in lm.encoder.named_parameters():
            if name.startswith("rnns") and "weight" in name:
                p.uniform_(-0.5, 0.5)
        emb = lm.encoder.encoder.weight
        emb.normal_(0, 0.5)
        u = torch.randn(16)
        emb[vocab.stoi["good"]] = 3 * u / u.norm()
        emb[vocab.stoi["bad"]] = -3 * u / u.norm()
    return lm


# ----------------------------------------------------------------------------- labels


def test_training_refuses_unseen_validation_labels():
    texts, labels = good_bad_texts(8)
    with pytest.raises(ValueError, match="'meh' in valid"):
        train_classifier(texts, labels, texts[:2], ["pos", "meh"], lm=None, progress=False)


# ----------------------------------------------------------------------------- the recipe


def test_unfreezing_plans():
    assert plan_stages(5, 6) == [(-1, 1), (-2, 1), (-3, 1), (-4, 1), (0, 2)]
    assert plan_stages(5, 3) == [(-1, 1), (-2, 1), (0, 1)]
    assert plan_stages(5, 1) == [(0, 1)]
    assert plan_stages(5, 4, gradual=False) == [(0, 4)]


def group_snapshot(model):
    return [[p.detach().clone() for m in g for p in m.parameters()] for g in model.groups]


def test_gradual_unfreezing_changes_exactly_the_unfrozen_groups_with_discriminative_lrs():
    texts, labels = good_bad_texts(16)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    lm = pretrained_like_lm(vocab)
    before = group_snapshot(_classifier_before_training(lm, vocab))
    changed, optimizer_lrs = [], []

    def on_epoch(record, model, optimizer):
        nonlocal before
        after = group_snapshot(model)
        changed.append(
            [any(not torch.equal(a, b) for a, b in zip(g0, g1)) for g0, g1 in zip(before, after)]
        )
        before = after
        optimizer_lrs.append(([g["lr"] for g in optimizer.param_groups], record["lrs"]))

    train_classifier(
        texts,
        labels,
        lm=lm,
        vocab=vocab,
        epochs=5,
        bs=8,
        lr=0.01,
        progress=False,
        on_epoch=on_epoch,
    )
    assert changed == [
        [False, False, False, False, True],  # head only
        [False, False, False, True, True],  # + last LSTM
        [False, False, True, True, True],
        [False, True, True, True, True],
        [True, True, True, True, True],  # + embeddings: everything
    ]
    for applied, peaks in optimizer_lrs:
        assert peaks == pytest.approx(discriminative_lrs(0.01, 5))  # 0.01 / 2.6**k
        ratios = [hi / lo for lo, hi in zip(applied, applied[1:])]
        assert ratios == pytest.approx([2.6] * 4)  # at every step, not only at the peak


def _classifier_before_training(lm, vocab):
    """The classifier train_classifier builds (same seed), before any training."""
    from ulmfit_lesson.classifier import build_classifier

    torch.manual_seed(0)
    return build_classifier(lm, 2, vocab)


def test_no_discriminative_no_gradual_trains_all_groups_at_one_lr():
    texts, labels = good_bad_texts(16)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    seen = []
    train_classifier(
        texts,
        labels,
        lm=pretrained_like_lm(vocab),
        vocab=vocab,
        epochs=1,
        bs=8,
        lr=0.02,
        discriminative=False,
        gradual_unfreezing=False,
        schedule="constant",
        progress=False,
        on_epoch=lambda r, m, opt: seen.append((r, [g["lr"] for g in opt.param_groups])),
    )
    record, applied = seen[0]
    assert record["trainable_groups"] == 5 and applied == [0.02] * 5


def train_good_bad(**options):
    """Stage 3 on 96 good/bad texts from a pretrained-like LM, 6 epochs (also tests/test_gpu.py).
    Returns (the result, the 40 validation texts, their labels)."""
    texts, labels = good_bad_texts(96, seed=0)
    valid_texts, valid_labels = good_bad_texts(40, seed=1)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    result = train_classifier(
        texts,
        labels,
        valid_texts,
        valid_labels,
        lm=pretrained_like_lm(vocab),
        vocab=vocab,
        epochs=6,
        bs=8,
        bptt=20,
        seed=0,
        progress=False,
        **options,
    )
    return result, valid_texts, valid_labels


def test_end_to_end_on_a_separable_task():
    result, valid_texts, valid_labels = train_good_bad()
    assert result.label_names == ["neg", "pos"]
    assert [h["trainable_groups"] for h in result.history] == [1, 2, 3, 4, 5, 5]
    assert all(
        set(h) >= {"train_loss", "valid_loss", "accuracy", "macro_f1"} for h in result.history
    )
    assert result.metrics["accuracy"] > 0.9 and result.metrics["macro_f1"] > 0.9
    assert sum(map(sum, result.metrics["confusion_matrix"])) == 40
    # the ready-made TextClassifier agrees with the recipe's own validation
    scores = evaluate_classifier(result.classifier, valid_texts, valid_labels)
    assert scores["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert result.classifier.predict("the film was good good")[0][0] == "pos"


def test_multi_label_training_tunes_thresholds():
    texts, labels = good_bad_texts(16)
    multi = [[lab] + (["long"] if len(t.split()) > 8 else []) for t, lab in zip(texts, labels)]
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    result = train_classifier(
        texts,
        multi,
        texts,
        multi,
        lm=pretrained_like_lm(vocab),
        vocab=vocab,
        multi_label=True,
        epochs=1,
        bs=8,
        progress=False,
    )
    assert result.label_names == ["long", "neg", "pos"]
    assert len(result.thresholds) == 3 and all(0 < t < 1 for t in result.thresholds)
    assert result.metrics["thresholds"] == result.thresholds
    assert set(result.metrics) >= {"accuracy", "macro_f1", "label_f1"}
    probs = result.classifier.predict_proba(texts[:3])
    assert probs.shape == (3, 3) and not torch.allclose(probs.sum(1), torch.ones(3))  # sigmoids


def test_from_scratch_builds_its_own_vocabulary():
    texts, labels = good_bad_texts(16)
    result = train_classifier(
        texts,
        labels,
        lm=None,
        scratch_sizes=dict(emb_size=8, hidden_size=8, n_layers=2),
        epochs=1,
        bs=8,
        progress=False,
    )
    assert "good" in result.vocab and len(result.vocab) % 8 == 0
    assert result.model.config.emb_size == 8 and len(result.model.groups) == 4


def test_label_smoothing_and_keep_best_errors_name_the_problem():
    texts, labels = good_bad_texts(8)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        train_classifier(texts, labels, label_smoothing=1.0, lm=None, progress=False)
    with pytest.raises(ValueError, match="single-label"):
        train_classifier(
            texts,
            [[lab] for lab in labels],
            multi_label=True,
            label_smoothing=0.1,
            lm=None,
            progress=False,
        )
    with pytest.raises(ValueError, match="keep_best must be one of"):
        train_classifier(texts, labels, texts, labels, keep_best="f1", lm=None, progress=False)
    with pytest.raises(ValueError, match="keep_best needs valid_texts"):
        train_classifier(texts, labels, keep_best="accuracy", lm=None, progress=False)


def test_a_stage_can_set_its_own_peak_lr():
    texts, labels = good_bad_texts(16)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    peaks = []
    train_classifier(
        texts,
        labels,
        lm=pretrained_like_lm(vocab),
        vocab=vocab,
        bs=8,
        lr=0.01,
        progress=False,
        stages=[(-1, 1, 2e-2), (-2, 1), (0, 1, 1e-3)],
        on_epoch=lambda r, m, opt: peaks.append(r["lrs"]),
    )
    assert peaks[0] == pytest.approx(discriminative_lrs(2e-2, 5))
    assert peaks[1] == pytest.approx(discriminative_lrs(0.01, 5))  # no third item: the run's lr
    assert peaks[2] == pytest.approx(discriminative_lrs(1e-3, 5))


def _keep_best_run(texts, labels, valid, vocab, stop_after=None, **kw):
    """The head for two epochs, then everything at an absurd LR that wrecks the validation loss.
    ``stop_after``: Ctrl-C after that epoch's record (before its checkpoint)."""
    snapshots = []

    def on_epoch(record, model, optimizer):
        if record["epoch"] == stop_after:
            raise KeyboardInterrupt
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    result = train_classifier(
        texts,
        labels,
        *valid,
        lm=pretrained_like_lm(vocab),
        vocab=vocab,
        bs=8,
        bptt=20,
        progress=False,
        stages=[(-1, 2, 0.01), (0, 2, 50.0)],
        keep_best="valid_loss",
        on_epoch=on_epoch,
        **kw,
    )
    return result, snapshots


def test_keep_best_ends_with_the_best_validation_epochs_weights(tmp_path):
    texts, labels = good_bad_texts(48)
    valid = good_bad_texts(16, seed=1)
    vocab = Vocab.build(tokenize_texts(texts + valid[0]), min_freq=1)
    result, snapshots = _keep_best_run(texts, labels, valid, vocab)
    losses = [h["valid_loss"] for h in result.history]
    best = max(i for i, loss in enumerate(losses) if loss == min(losses))  # ties: the later
    assert best < len(losses) - 1, f"the last epoch should be worse here: {losses}"
    assert result.best_epoch == best
    final = result.model.state_dict()
    assert all(torch.equal(final[k], snapshots[best][k]) for k in final)
    # and what it reports is that epoch's validation score, recomputed from the restored weights
    probs = result.classifier.predict_proba(valid[0]).numpy()
    y = encode_labels(valid[1], result.label_names, False, "valid")
    assert -np.log(probs[np.arange(len(y)), y]).mean() == pytest.approx(losses[best], rel=1e-5)
    assert result.metrics["accuracy"] == pytest.approx(result.history[best]["accuracy"])

    # resumed after epoch 3 (the best so far is in the checkpoint), it ends on the same weights
    path = tmp_path / "clas.pt"

    from ulmfit_lesson.interrupt import TrainingInterrupted

    with pytest.raises(TrainingInterrupted, match="holds epoch 3 of 4"):
        _keep_best_run(texts, labels, valid, vocab, stop_after=3, checkpoint_path=path)
    resumed, _ = _keep_best_run(texts, labels, valid, vocab, checkpoint_path=path, resume=True)
    assert resumed.best_epoch == best
    assert all(torch.equal(resumed.model.state_dict()[k], final[k]) for k in final)


def test_patience_stops_the_last_stage_early_and_keeps_the_best_epoch():
    texts, labels = good_bad_texts(48)
    valid = good_bad_texts(16, seed=1)
    vocab = Vocab.build(tokenize_texts(texts + valid[0]), min_freq=1)
    common = dict(lm=pretrained_like_lm(vocab), vocab=vocab, bs=8, bptt=20, progress=False)
    # a huge learning rate in the last stage: the validation loss jumps about and mostly gets
    # worse, so two epochs in a row without a new best come long before the 12th
    stages = [(-1, 1, 0.01), (0, 12, 50.0)]
    result = train_classifier(texts, labels, *valid, stages=stages, patience=2, **common)
    losses = [h["valid_loss"] for h in result.history]
    assert result.stopped_after is not None and len(losses) < 13, losses
    assert result.stopped_after == len(losses) - 1
    counted = losses[1:]  # patience starts with the last stage (epoch 1)
    best = 1 + max(i for i, x in enumerate(counted) if x == min(counted))
    assert len(losses) - 1 - best == 2  # stopped exactly `patience` epochs after the best
    assert result.best_epoch == max(i for i, x in enumerate(losses) if x == min(losses))
    assert all(h["t_end"] > 0 for h in result.history)
    assert [h["t_end"] for h in result.history] == sorted(h["t_end"] for h in result.history)
    with pytest.raises(ValueError, match="patience needs valid_texts"):
        train_classifier(texts, labels, stages=stages, patience=2, **common)
    with pytest.raises(ValueError, match="at least 1 epoch"):
        train_classifier(texts, labels, *valid, stages=stages, patience=0, **common)
