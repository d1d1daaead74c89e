"""Stage-3 recipe: metrics, labels, unfreezing plan, discriminative LRs, thresholds, end to end."""

import math
import random

import numpy as np
import pytest
import torch

from ulmfit_lesson.clas_recipes import (
    accuracy,
    confusion_matrix,
    encode_labels,
    evaluate_classifier,
    f1_per_class,
    label_names_of,
    macro_f1,
    metrics_from_probs,
    multilabel_metrics,
    plan_stages,
    train_classifier,
    tune_thresholds,
    ulmfit_pipeline,
)
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


# ----------------------------------------------------------------------------- metrics


def test_single_label_metrics_hand_computed():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert confusion_matrix(y_true, y_pred, 3) == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # class 0: p 1, r 2/3 -> 0.8; class 1: p 1/2, r 1/2 -> 0.5; class 2: p 1/2, r 1 -> 2/3
    f1 = f1_per_class(confusion_matrix(y_true, y_pred, 3))
    assert f1 == pytest.approx([0.8, 0.5, 2 / 3])
    assert macro_f1(y_true, y_pred, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # a class neither present nor predicted is left out of the mean (as scikit-learn does)
    assert macro_f1(y_true, y_pred, 4) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert math.isnan(f1_per_class(confusion_matrix(y_true, y_pred, 4))[3])


def test_multilabel_metrics_hand_computed():
    y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    y_pred = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
    m = multilabel_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(2 / 4)  # exact match: rows 0 and 3
    # label 0: tp 2, fp 1, fn 0 -> 0.8; label 1: tp 1, fp 0, fn 1 -> 2/3
    assert m["label_f1"] == pytest.approx([0.8, 2 / 3])
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["label_counts"][0] == dict(tp=2, fp=1, fn=0, tn=1)


def test_thresholds_are_tuned_per_label():
    # label 0 is right above 0.3, label 1 only above 0.7; label 2 has no positives: keeps 0.5
    probs = np.array([[0.35, 0.8, 0.1], [0.32, 0.75, 0.2], [0.2, 0.6, 0.3], [0.1, 0.65, 0.9]])
    y_true = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    t = tune_thresholds(probs, y_true)
    assert 0.2 < t[0] <= 0.3 and 0.65 < t[1] <= 0.75 and t[2] == 0.5
    tuned = metrics_from_probs(probs, y_true, multi_label=True, thresholds=t)
    default = metrics_from_probs(probs, y_true, multi_label=True)
    assert tuned["label_f1"][:2] == [1.0, 1.0]
    assert default["label_f1"][0] == 0.0 and tuned["macro_f1"] > default["macro_f1"]


# ----------------------------------------------------------------------------- labels


def test_label_names_and_ids():
    assert label_names_of(["b", "a", "b", "c"]) == ["a", "b", "c"]
    assert label_names_of([10, 2, 2]) == ["2", "10"]  # numbers sorted as numbers
    assert encode_labels(["c", "a"], ["a", "b", "c"]).tolist() == [2, 0]
    rows = encode_labels([["b"], "a,c", []], ["a", "b", "c"], multi_label=True)
    assert rows.tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]


def test_label_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"missing label .*train \(t.csv\) at rows 2, 4"):
        label_names_of(["a", float("nan"), "b", None], sources={"train": "t.csv"})
    with pytest.raises(ValueError, match=r"single class, \['pos'\]"):
        label_names_of(["pos", "pos"])
    with pytest.raises(ValueError, match=r"'neutral' in valid \(v.tsv\) \(rows 2\) never appear"):
        encode_labels(["pos", "neutral"], ["neg", "pos"], split="valid", sources={"valid": "v.tsv"})
    with pytest.raises(ValueError, match=r"'joy' in test"):
        encode_labels([["anger", "joy"]], ["anger", "fear"], multi_label=True, split="test")


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
        texts, labels, lm=lm, vocab=vocab, epochs=5, bs=8, lr=0.01, progress=False,
        on_epoch=on_epoch,
    )  # fmt: skip
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
        texts, labels, lm=pretrained_like_lm(vocab), vocab=vocab, epochs=1, bs=8, lr=0.02,
        discriminative=False, gradual_unfreezing=False, schedule="constant", progress=False,
        on_epoch=lambda r, m, opt: seen.append((r, [g["lr"] for g in opt.param_groups])),
    )  # fmt: skip
    record, applied = seen[0]
    assert record["trainable_groups"] == 5 and applied == [0.02] * 5


def train_good_bad(**options):
    """Stage 3 on 96 good/bad texts from a pretrained-like LM, 6 epochs (also tests/test_gpu.py).
    Returns (the result, the 40 validation texts, their labels)."""
    texts, labels = good_bad_texts(96, seed=0)
    valid_texts, valid_labels = good_bad_texts(40, seed=1)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    result = train_classifier(
        texts, labels, valid_texts, valid_labels, lm=pretrained_like_lm(vocab), vocab=vocab,
        epochs=6, bs=8, bptt=20, seed=0, progress=False, **options,
    )  # fmt: skip
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
        texts, multi, texts, multi, lm=pretrained_like_lm(vocab), vocab=vocab, multi_label=True,
        epochs=1, bs=8, progress=False,
    )  # fmt: skip
    assert result.label_names == ["long", "neg", "pos"]
    assert len(result.thresholds) == 3 and all(0 < t < 1 for t in result.thresholds)
    assert result.metrics["thresholds"] == result.thresholds
    assert set(result.metrics) >= {"accuracy", "macro_f1", "label_f1"}
    probs = result.classifier.predict_proba(texts[:3])
    assert probs.shape == (3, 3) and not torch.allclose(probs.sum(1), torch.ones(3))  # sigmoids


def test_from_scratch_builds_its_own_vocabulary():
    texts, labels = good_bad_texts(16)
    result = train_classifier(
        texts, labels, lm=None, scratch_sizes=dict(emb_size=8, hidden_size=8, n_layers=2),
        epochs=1, bs=8, progress=False,
    )  # fmt: skip
    assert "good" in result.vocab and len(result.vocab) % 8 == 0
    assert result.model.config.emb_size == 8 and len(result.model.groups) == 4


def test_pipeline_without_lm_finetuning_extends_the_vocabulary():
    import pandas as pd

    texts, labels = good_bad_texts(16)
    old_vocab = Vocab.build(tokenize_texts(texts[:4]), min_freq=1)  # knows only some words
    torch.manual_seed(0)
    lm = build_language_model(len(old_vocab), emb_size=16, hidden_size=32)
    df = pd.DataFrame({"text": texts, "label": labels})
    out = ulmfit_pipeline(
        df, None, (lm, old_vocab.itos), finetune_lm=False, min_freq=1, stages=[(-1, 1)], bs=8,
        progress=False,
    )  # fmt: skip
    vocab, model = out.classifier.vocab, out.classifier.model
    assert out.lm is None and len(vocab) == model.config.vocab_size
    assert vocab.itos[: len(old_vocab)] == old_vocab.itos  # pretrained ids kept
    assert len(vocab) > len(old_vocab) and "good" in vocab and "bad" in vocab
    # only the head trained: known words keep their rows, new words got the mean row
    old, new = lm.encoder.encoder.weight, model.encoder.encoder.weight
    real = [i for i, w in enumerate(old_vocab.itos) if w != "xxfake"]  # fillers: never read
    torch.testing.assert_close(new[real], old[real])
    torch.testing.assert_close(
        new[len(old_vocab) :], old.mean(0).expand(len(vocab) - len(old_vocab), -1)
    )


def test_label_smoothing_loss_hand_computed():
    from ulmfit_lesson.clas_recipes import _loss_fn

    logits, y = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])
    log_p = torch.log_softmax(logits, -1)[0]
    target = torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])  # 1 - 0.1 on the truth, 0.1 spread
    assert float(_loss_fn(False, 0.1)(logits, y)) == pytest.approx(float(-(target * log_p).sum()))
    assert float(_loss_fn(False)(logits, y)) == pytest.approx(float(-log_p[0]))


def test_label_smoothing_and_keep_best_errors_name_the_problem():
    texts, labels = good_bad_texts(8)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        train_classifier(texts, labels, label_smoothing=1.0, lm=None, progress=False)
    with pytest.raises(ValueError, match="single-label"):
        train_classifier(texts, [[lab] for lab in labels], multi_label=True, label_smoothing=0.1,
                         lm=None, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="keep_best must be one of"):
        train_classifier(texts, labels, texts, labels, keep_best="f1", lm=None, progress=False)
    with pytest.raises(ValueError, match="keep_best needs valid_texts"):
        train_classifier(texts, labels, keep_best="accuracy", lm=None, progress=False)


def test_a_stage_can_set_its_own_peak_lr():
    texts, labels = good_bad_texts(16)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    peaks = []
    train_classifier(
        texts, labels, lm=pretrained_like_lm(vocab), vocab=vocab, bs=8, lr=0.01, progress=False,
        stages=[(-1, 1, 2e-2), (-2, 1), (0, 1, 1e-3)],
        on_epoch=lambda r, m, opt: peaks.append(r["lrs"]),
    )  # fmt: skip
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
        texts, labels, *valid, lm=pretrained_like_lm(vocab), vocab=vocab, bs=8, bptt=20,
        progress=False, stages=[(-1, 2, 0.01), (0, 2, 50.0)], keep_best="valid_loss",
        on_epoch=on_epoch, **kw,
    )  # fmt: skip
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
