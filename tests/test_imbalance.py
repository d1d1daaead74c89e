"""Class imbalance in training: balanced class weights in the loss, a decision rule tuned on dev for
macro-F1 (per-class offsets, per-label thresholds), stored with the classifier and used by predict.
The weighted loss and the rules on their own are checked by hand in test_losses.py and
test_metrics.py."""

import json
import random

import numpy as np
import pandas as pd
import pytest
from test_clas_recipes import good_bad_texts, pretrained_like_lm
from test_cli_classifier import workdir  # noqa: F401  (a fixture: files + a tiny LM checkpoint)
from test_experiments import tiny_lm  # noqa: F401  (a fixture: a tiny LM and its itos)
from test_predict import TEXTS, make_classifier

from ulmfit_lesson import cli
from ulmfit_lesson.clas_recipes import evaluate_classifier, train_classifier
from ulmfit_lesson.labels import balanced_class_weights, encode_labels
from ulmfit_lesson.metrics import (
    metrics_from_probs,
    predict_with_offsets,
    tune_class_offsets,
    tune_thresholds,
)
from ulmfit_lesson.predict import TextClassifier
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.vocab import Vocab

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


# ----------------------------------------------------------------------------- class weights


def test_balanced_weights_hand_computed():
    y = np.array([0] * 16 + [1] * 4 + [2])  # n = 21, counts 16 / 4 / 1
    # power 0.5: w ~ counts ** -0.5 = 1/4, 1/2, 1; sum_c n_c w_c = 4 + 2 + 1 = 7, scaled to n = 21
    assert balanced_class_weights(y, 3) == pytest.approx([0.75, 1.5, 3.0])
    # power 1: scikit-learn's "balanced", n / (k n_c) = 21/48, 21/12, 21/3 (already mean 1)
    assert balanced_class_weights(y, 3, power=1.0) == pytest.approx([7 / 16, 7 / 4, 7.0])
    # mean 1 over the training examples: the loss keeps its scale
    assert balanced_class_weights(y, 3)[y].mean() == pytest.approx(1.0)
    # multi-label: each label absent/present as two classes; label 0 present 1 of 5, label 1 4 of 5
    rows = np.array([[1, 1], [0, 1], [0, 1], [0, 1], [0, 0]])
    w = balanced_class_weights(rows, 2, multi_label=True)
    # counts [4, 1] -> [1/2, 1] * 5/3: the present weight is sqrt(4 / 1) = 2 times the absent one
    np.testing.assert_allclose(w, [[5 / 6, 5 / 3], [5 / 3, 5 / 6]])


def rare_texts(n, seed):
    """good -> pos, bad -> neg, and one text in eight 'so so' -> meh (the rare class)."""
    rng = random.Random(seed)
    texts, labels = good_bad_texts(n, seed)
    for i in range(n):
        if rng.random() < 0.125:
            texts[i] = " ".join(w for w in texts[i].split() if w not in ("good", "bad")) + " so so"
            labels[i] = "meh"
    return texts, labels


def test_train_classifier_uses_and_records_balanced_weights():
    texts, labels = rare_texts(32, 0)
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    kw = dict(lm=pretrained_like_lm(vocab), vocab=vocab, epochs=1, bs=8, progress=False)
    plain = train_classifier(texts, labels, **kw)
    weighted = train_classifier(texts, labels, class_weights="balanced", **kw)
    y = encode_labels(labels, weighted.label_names)
    assert plain.class_weights is None and plain.settings["class_weights"] is None
    assert weighted.class_weights == pytest.approx(balanced_class_weights(y, 3).tolist())
    assert weighted.settings["class_weights"] == "balanced"
    assert weighted.settings["class_weight_power"] == 0.5
    # the same seed, batches and init: only the loss differs, so the weights trained differently
    assert weighted.history[0]["train_loss"] != pytest.approx(plain.history[0]["train_loss"])
    with pytest.raises(ValueError, match="class_weights must be None or 'balanced'"):
        train_classifier(texts, labels, class_weights="inverse", **kw)


# ----------------------------------------------------------------------------- decision rule


def test_offsets_survive_save_and_load_and_change_predictions(tmp_path):
    clf = make_classifier()  # neg, neutral, pos
    for bn in (clf.model.head.layers[0][0], clf.model.head.layers[1][0]):
        bn.running_var.fill_(0.01)  # probabilities away from 0 and 1 (test_predict's saturate)
    log_p = np.log(clf.predict_proba(TEXTS).numpy().astype(np.float64))
    plain = log_p.argmax(1)
    # push the least-predicted class just enough to win on about half of the texts
    c = int(np.bincount(plain, minlength=3).argmin())
    b = np.zeros(3)
    b[c] = float(np.median(log_p.max(1) - log_p[:, c])) + 1e-6
    expected = (log_p + b).argmax(1)
    assert np.isfinite(log_p).all() and (expected != plain).any()

    clf.offsets = b.tolist()
    clf.save(tmp_path)
    loaded = TextClassifier.load(tmp_path)
    assert loaded.offsets == pytest.approx(b.tolist())
    results = loaded.predict(TEXTS)
    assert [label for label, _ in results] == [clf.label_names[i] for i in expected]
    # the probabilities stay the model's; only the decision moved
    probs = np.array([[p[n] for n in clf.label_names] for _, p in results])
    np.testing.assert_allclose(np.log(probs), log_p, atol=1e-5)
    # evaluation reports both rules
    names = [clf.label_names[i] for i in plain]
    scores = evaluate_classifier(loaded, TEXTS, names)
    assert scores["accuracy"] == 1.0 and scores["accuracy_tuned"] < 1.0

    with pytest.raises(ValueError, match="one per label"):
        TextClassifier(clf.model, clf.vocab, clf.label_names, offsets=[0.0, 1.0])


def test_tune_decision_tunes_offsets_on_valid_and_predict_uses_them():
    texts, labels = rare_texts(48, 0)
    valid_texts, valid_labels = rare_texts(24, 1)
    vocab = Vocab.build(tokenize_texts(texts + valid_texts), min_freq=1)
    result = train_classifier(
        texts,
        labels,
        valid_texts,
        valid_labels,
        lm=pretrained_like_lm(vocab),
        vocab=vocab,
        epochs=2,
        bs=8,
        bptt=20,
        progress=False,
        tune_decision="macro_f1",
    )
    clf = result.classifier
    probs = clf.predict_proba(valid_texts).numpy()
    y = encode_labels(valid_labels, result.label_names)
    assert result.offsets == tune_class_offsets(probs, y, 3)  # on the validation set
    assert clf.offsets == result.offsets and result.settings["tune_decision"] == "macro_f1"
    m = result.metrics
    assert m["macro_f1_tuned"] >= m["macro_f1"]  # tuned on this very set: never worse here
    assert m["macro_f1"] == pytest.approx(metrics_from_probs(probs, y)["macro_f1"])
    labels_out = [label for label, _ in clf.predict(valid_texts)]
    assert labels_out == [result.label_names[i] for i in predict_with_offsets(probs, clf.offsets)]
    with pytest.raises(ValueError, match="tune_decision needs valid_texts"):
        train_classifier(texts, labels, tune_decision="macro_f1", lm=None, progress=False)
    with pytest.raises(ValueError, match="tune_decision must be None or 'macro_f1'"):
        train_classifier(texts, labels, texts, labels, tune_decision="f1", lm=None, progress=False)


def test_multi_label_tune_decision_and_weights():
    texts, labels = good_bad_texts(16)
    multi = [[lab] + (["long"] if len(t.split()) > 8 else []) for t, lab in zip(texts, labels)]
    vocab = Vocab.build(tokenize_texts(texts), min_freq=1)
    kw = dict(
        lm=pretrained_like_lm(vocab), vocab=vocab, multi_label=True, epochs=1, bs=8, progress=False
    )
    result = train_classifier(
        texts,
        multi,
        texts,
        multi,
        tune_threshold=False,
        tune_decision="macro_f1",
        class_weights="balanced",
        **kw,
    )
    y = encode_labels(multi, result.label_names, multi_label=True)
    np.testing.assert_allclose(result.class_weights, balanced_class_weights(y, 3, True), rtol=1e-6)
    probs = result.classifier.predict_proba(texts).numpy()
    assert result.thresholds == tune_thresholds(probs, y)
    assert result.offsets is None  # offsets are single-label
    m = result.metrics
    assert m["macro_f1"] == pytest.approx(
        metrics_from_probs(probs, y, multi_label=True)["macro_f1"]
    )
    assert m["macro_f1_tuned"] >= m["macro_f1"] and m["thresholds"] == result.thresholds
    untuned = train_classifier(texts, multi, texts, multi, tune_threshold=False, **kw)
    assert untuned.thresholds == [0.5] * 3
    assert untuned.metrics["macro_f1_tuned"] == untuned.metrics["macro_f1"]


# ----------------------------------------------------------------------------- the CLI


def test_cli_passes_the_options_to_metrics_json(workdir, capsys):  # noqa: F811
    common = [
        "train-classifier",
        "--train",
        str(workdir / "train.csv"),
        "--text-col",
        "review",
        "--label-col",
        "sentiment",
        "--pretrained",
        str(workdir / "lm.pt"),
        "--no-finetune-lm",
        "--epochs",
        "2",
        "--bs",
        "8",
        "--no-progress",
        "--class-weights",
        "balanced",
        "--tune-decision",
        "macro_f1",
    ]
    # no validation set to tune on: refused before any work
    assert cli.main([*common, "--out", str(workdir / "none")]) == 2
    assert "give --valid" in capsys.readouterr().err and not (workdir / "none").exists()

    out = workdir / "run"
    args = ["--valid", str(workdir / "valid.tsv"), "--test", str(workdir / "test.jsonl")]
    assert cli.main([*common, *args, "--out", str(out)]) == 0
    assert "decision rule tuned on valid" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["class_weights"] == "balanced"
    assert metrics["settings"]["tune_decision"] == "macro_f1"
    assert {"macro_f1", "macro_f1_tuned", "accuracy_tuned", "offsets"} <= set(metrics)
    assert "macro_f1_tuned" in metrics["valid"]  # the scores on the set the rule was tuned on
    clf = TextClassifier.load(out)
    assert clf.offsets == pytest.approx(metrics["offsets"]) and len(clf.offsets) == 2


# ----------------------------------------------------------------------------- the experiment


def _run_py():
    import importlib.util

    from ulmfit_lesson.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("run_py", REPO_ROOT / "experiments" / "run.py")
    run_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_py)
    return run_py


def test_goemotions_imbalance_gives_every_method_the_same_treatment(tiny_lm, tmp_path, monkeypatch):  # noqa: F811
    from test_experiments import CLAS_OPTS, LM_OPTS, frame

    from experiments import runner as ex

    data = {"train": frame(24, 0), "dev": frame(8, 1), "test": frame(10, 2)}
    stage2_calls, tfidf_weights = [], []
    stage2 = ex.stage2
    monkeypatch.setattr(ex, "stage2", lambda *a, **k: stage2_calls.append(1) or stage2(*a, **k))
    tfidf = ex._tfidf_logreg
    monkeypatch.setattr(
        ex,
        "_tfidf_logreg",
        lambda tr, dev, w, *a: tfidf_weights.append(list(w)) or tfidf(tr, dev, w, *a),
    )
    trainings = []
    train = ex.train_classifier
    monkeypatch.setattr(
        ex, "train_classifier", lambda *a, **k: trainings.append(1) or train(*a, **k)
    )
    df = ex.goemotions_imbalance(
        seeds=[0],
        methods=["ulmfit", "tfidf_logreg"],
        treatments=["plain", "balanced + tuned", "tuned decision"],
        sizes=[None, 12],
        pretrained=tiny_lm,
        data=data,
        out=tmp_path,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
    )
    assert len(df) == 2 * 2 * 3 and sorted(set(df["size"])) == [12, 24]
    assert list(df.treatment[:6]) == ["plain", "balanced + tuned", "tuned decision"] * 2
    assert len(stage2_calls) == 2  # one LM per size, shared by the treatments
    assert tfidf_weights == [[None], ["balanced"]] * 2  # the treatment's weights, not a search
    # plain and tuned decision differ only in the rule: one model each (size, weights), not two
    assert len(trainings) == 2 * 2
    tuned = df[df.treatment.isin(["balanced + tuned", "tuned decision"])]
    assert tuned["macro_f1_untuned"].notna().all() and tuned["accuracy_untuned"].notna().all()
    plain = df[df.treatment == "plain"]
    assert plain["macro_f1_untuned"].isna().all()
    same = df[df.treatment == "tuned decision"]
    for col in ("accuracy", "macro_f1", "dev_accuracy", "dev_macro_f1", "f1_pos"):
        assert list(plain[col]) == list(same[f"{col}_untuned"]), col  # argmax of the same model
    assert plain["seconds"].tolist() == same["seconds"].tolist()
    assert df["dev_macro_f1"].between(0, 1).all()  # every row: a score to choose on without test
    # each class's test F1 under the row's rule; their mean is the macro-F1
    f1 = df[[c for c in df.columns if c.startswith("f1_") and not c.endswith("_untuned")]]
    assert np.allclose(f1.mean(axis=1), df["macro_f1"])
    assert (tmp_path / "imbalance_goemotions-ekman.csv").is_file()
    # run.py's summary of it: one table row and one bar per (size, method, treatment)
    text = _run_py().summarize("goemotions-imbalance", tmp_path, True, None, 1)
    assert "| size | method | treatment |" in text and text.count("| tfidf_logreg |") == 6
    assert (tmp_path / "imbalance_goemotions-ekman.png").is_file()


def test_run_py_passes_the_sizes(tmp_path, monkeypatch):
    run_py = _run_py()
    calls = []
    monkeypatch.setattr(run_py, "run", lambda name, seeds, *a, **kw: calls.append((name, a[-1])))
    monkeypatch.setattr(run_py, "summarize", lambda *a: "")
    run_py.main(["goemotions-imbalance", "--sizes", "1000", "all", "--out", str(tmp_path)])
    assert calls == [("goemotions-imbalance", [1000, "all"])]
    assert "goemotions-imbalance" not in run_py.EXPERIMENTS  # 'all' does not run it


def test_run_py_passes_methods_and_treatments_to_the_runner(tmp_path, monkeypatch):
    """--methods / --treatments reach goemotions_imbalance; left out, the runner's defaults stand
    (all methods' and treatments' rows)."""
    run_py = _run_py()
    calls = []
    monkeypatch.setattr(run_py.ex, "goemotions_imbalance", lambda **kw: calls.append(kw))
    monkeypatch.setattr(run_py, "summarize", lambda *a: "")
    run_py.main(["goemotions-28-imbalance", "--seed", "2", "--methods", "ulmfit", "--treatments",
                 "balanced weights", "balanced + tuned", "--sizes", "all", "--device", "cuda",
                 "--out", str(tmp_path)])  # fmt: skip
    (kw,) = calls
    assert kw["methods"] == ["ulmfit"] and kw["task"] == "goemotions-28"
    assert kw["treatments"] == ["balanced weights", "balanced + tuned"]
    assert kw["seeds"] == [2] and kw["sizes"] == ["all"] and kw["device"] == "cuda"
    run_py.main(["goemotions-imbalance", "--out", str(tmp_path)])
    assert (
        "methods" not in calls[1] and "treatments" not in calls[1] and calls[1]["sizes"] == [None]
    )
    with pytest.raises(SystemExit):  # a treatment that does not exist is refused by name
        run_py.main(["goemotions-imbalance", "--treatments", "oversampled", "--out", str(tmp_path)])


def multi_frame(n, seed):
    """Toy comments with a set of labels each: 'good' -> pos, 'bad' -> neg, 'very' -> strong
    (rare), none at all for some."""
    from test_experiments import WORDS

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(WORDS[:6]) for _ in range(rng.randint(3, 5))]
        labels = []
        for word, label, p in (("good", "pos", 0.4), ("bad", "neg", 0.4), ("very", "strong", 0.2)):
            if rng.random() < p:
                words.insert(rng.randrange(len(words) + 1), word)
                labels.append(label)
        rows.append((" ".join(words), labels))
    return pd.DataFrame(rows, columns=["text", "labels"])


def test_goemotions_28_imbalance_runs_every_method_multi_label(tiny_lm, tmp_path, monkeypatch):  # noqa: F811
    """The 28-label view's runner on toy multi-label data: sigmoids for ULMFiT, one-vs-rest for
    TF-IDF, thresholds tuned on dev only where the treatment asks, exact-match accuracy."""
    from test_experiments import CLAS_OPTS, LM_OPTS

    from experiments import runner as ex

    data = {"train": multi_frame(40, 0), "dev": multi_frame(16, 1), "test": multi_frame(20, 2)}
    calls = []
    train = ex.train_classifier
    monkeypatch.setattr(ex, "train_classifier", lambda *a, **k: calls.append(k) or train(*a, **k))
    df = ex.goemotions_imbalance(
        seeds=[0],
        methods=["ulmfit", "tfidf_logreg"],
        treatments=["plain", "tuned decision", "balanced weights"],
        pretrained=tiny_lm,
        data=data,
        out=tmp_path,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
        task="goemotions-28",
    )
    assert (tmp_path / "imbalance_goemotions-28.csv").is_file() and len(df) == 2 * 3
    assert set(df.task) == {"goemotions-28"}
    assert [k["multi_label"] for k in calls] == [True, True]
    assert [k["tune_threshold"] for k in calls] == [True, False]  # plain+tuned share, balanced not
    # every row's test scores recomputed from the model's probabilities: exact match, label F1
    names = ["neg", "pos", "strong"]
    y = encode_labels(data["test"]["labels"].tolist(), names, True, "test")
    _, probs = ex.run_method("tfidf_logreg", data, treatment=ex.IMBALANCE_TREATMENTS["plain"])
    row = df[(df.method == "tfidf_logreg") & (df.treatment == "plain")].iloc[0]
    plain = metrics_from_probs(probs, y, names, multi_label=True)  # 0.5 per label
    assert row.accuracy == pytest.approx(plain["accuracy"])
    assert row.macro_f1 == pytest.approx(plain["macro_f1"])
    assert [row[f"f1_{n}"] for n in names] == pytest.approx(plain["label_f1"])
    tuned = df[(df.method == "tfidf_logreg") & (df.treatment == "tuned decision")].iloc[0]
    assert tuned.macro_f1_untuned == pytest.approx(plain["macro_f1"])  # the same model at 0.5
    y_dev = encode_labels(data["dev"]["labels"].tolist(), names, True, "dev")
    dev_probs = ex._tfidf_logreg(data["train"], data["dev"], [None], names, True).predict_proba(
        data["dev"]["text"].tolist()
    )
    at = tune_thresholds(dev_probs, y_dev)  # thresholds from dev, applied to test
    assert tuned.macro_f1 == pytest.approx(
        metrics_from_probs(probs, y, names, True, thresholds=at)["macro_f1"]
    )
    assert df["dev_macro_f1"].between(0, 1).all()
    with pytest.raises(ValueError, match="single-label"):
        ex.run_method("majority", data)
