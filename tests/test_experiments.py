"""Every experiment runner in a micro setting: a tiny LM made here, a few dozen toy texts."""

import random

import numpy as np
import pandas as pd
import pytest
import torch

from experiments import runner as ex
from ulmfit_lesson.course import results
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.tokenizer import SPECIAL_TOKENS, tokenize_texts
from ulmfit_lesson.vocab import ReversedVocab, Vocab

WORDS = "the a film plot scene was is very good bad".split()
LM_OPTS = dict(frozen_epochs=1, epochs=1, bs=4, bptt=8)
CLAS_OPTS = dict(epochs=2, bs=8, scratch_sizes=dict(emb_size=8, hidden_size=12))


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def frame(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["neg", "pos"])
        words = [rng.choice(WORDS[:8]) for _ in range(rng.randint(3, 6))]
        words.insert(rng.randrange(len(words) + 1), "good" if label == "pos" else "bad")
        rows.append((" ".join(words), label))
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.fixture(scope="module")
def data():
    return {"train": frame(24, 0), "dev": frame(8, 1), "test": frame(10, 2)}


@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(0)
    itos = list(SPECIAL_TOKENS) + WORDS
    return build_language_model(len(itos), emb_size=8, hidden_size=12), itos


def check(df, n_rows, extra=()):
    for col in (
        "task",
        "method",
        "seed",
        "n_train",
        "accuracy",
        "macro_f1",
        "seconds",
        "mode",
        "device",
        *extra,
    ):
        assert col in df.columns, col
    assert len(df) == n_rows
    assert (df["device"] == ex.DEFAULT_DEVICE).all()
    assert df["accuracy"].between(0, 1).all() and df["macro_f1"].between(0, 1).all()


def test_compare_methods(data, tiny_lm, tmp_path):
    df = ex.compare_methods(
        "toy",
        seeds=[0, 1],
        quick=True,
        pretrained=tiny_lm,
        data=data,
        out=tmp_path,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
    )
    check(df, 2 * len(ex.METHODS))
    assert (tmp_path / "compare_toy.csv").is_file()
    majority = df[df.method == "majority"].iloc[0]
    share = (data["test"].label == ex.majority_class(data["train"].label)).mean()
    assert majority.accuracy == pytest.approx(share)
    summary = results.summarize(df, ["method"])
    assert len(summary) == len(ex.METHODS) and (summary.n_seeds == 2).all()
    assert "±" in results.markdown_table(summary, ["method"])
    assert "±" not in results.markdown_table(
        results.summarize(df[df.seed == 0], ["method"]), ["method"]
    )


def test_ablations_share_one_lm_per_seed(data, tiny_lm):
    variants = ["ulmfit (freez+discr+stlr)", "one-cycle instead of STLR", "last layer only"]
    df = ex.ablations(
        "toy",
        seeds=[0],
        variants=variants,
        pretrained=tiny_lm,
        data=data,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
    )
    check(df, 3, extra=("variant",))
    assert list(df.variant) == variants


def test_sample_efficiency(data, tiny_lm):
    df = ex.sample_efficiency(
        "toy",
        sizes=[6, None],
        seeds=[0],
        methods=["scratch", "majority"],
        pretrained=tiny_lm,
        data=data,
        clas_options=CLAS_OPTS,
    )
    check(df, 4, extra=("size",))
    assert sorted(set(df["size"])) == [6, 24]
    assert sorted(set(df["n_train"])) == [6, 24]


def test_goemotions_compare_on_given_data(data):
    df = ex.goemotions_compare(seeds=[0], methods=["tfidf_logreg", "majority"], data=data)
    check(df, 2)
    assert set(df.task) == {"goemotions-ekman"}


def test_ensemble_rows_and_backwards_ids(data, tiny_lm):
    df = ex.ensemble(
        "toy",
        seeds=[0],
        pretrained_fwd=tiny_lm,
        pretrained_bwd=tiny_lm,
        data=data,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
    )
    check(df, 3, extra=("direction",))
    assert list(df.direction) == ["fwd", "bwd", "fwd+bwd"]
    vocab = ReversedVocab(tiny_lm[1])
    tokens = tokenize_texts(["good film"])[0]
    assert vocab.numericalize(tokens) == Vocab(tiny_lm[1]).numericalize(tokens)[::-1]
    assert vocab.numericalize(tokens)[-1] == vocab.stoi["xxbos"]  # xxbos last, as general-bwd


def test_stratified_subset_keeps_every_class():
    df = pd.DataFrame({"text": [str(i) for i in range(100)], "label": ["a"] * 90 + ["b"] * 10})
    sub = ex._subset(df, 20, seed=3)
    assert len(sub) == 20 and sub.label.value_counts().to_dict() == {"a": 18, "b": 2}
    assert ex._subset(df, None, 0).equals(df)
    np.testing.assert_array_equal(ex._subset(df, 20, 3).text, sub.text)  # seeded


def test_tune_stage3_scores_every_epoch_and_its_last_epoch_matches_a_plain_run(data, tiny_lm):
    variants = ["fastai's drop_mult 0.5", "label smoothing 0.1"]
    df = ex.tune_stage3(
        "toy",
        seeds=[0],
        variants=variants,
        pretrained=tiny_lm,
        data=data,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
    )
    assert list(df.variant) == [variants[0]] * 2 + [variants[1]] * 2  # 2 epochs each
    assert list(df.epoch) == [1, 2, 1, 2]
    cols = ["dev_accuracy", "dev_macro_f1", "accuracy", "macro_f1"]
    assert df[cols].apply(lambda c: c.between(0, 1)).all().all()
    # the test score after the last epoch is what the finished classifier scores on test
    lm = ex.stage2(
        tiny_lm,
        data["train"]["text"].tolist(),
        data["dev"]["text"].tolist(),
        True,
        False,
        0,
        LM_OPTS,
    )  # the same seed: the same fine-tuned LM
    options = ex._variant_options(True, CLAS_OPTS, variants[0])
    assert options["drop_mult"] == 0.5 and options["epochs"] == 2  # the variant's, the caller's
    row, _ = ex.run_method("ulmfit", data, 0, True, lm=lm, clas_options=options)
    last = df[df.variant == variants[0]].iloc[-1]
    assert last.accuracy == pytest.approx(row["accuracy"])
    assert last.macro_f1 == pytest.approx(row["macro_f1"])


def test_tuning_summary_picks_the_best_dev_epoch_per_seed():
    rows = []
    #            seed, epoch, dev_f1, test_f1
    for seed, epoch, dev, test in [
        (0, 1, 0.5, 0.40),
        (0, 2, 0.7, 0.60),
        (0, 3, 0.6, 0.80),
        (1, 1, 0.4, 0.30),
        (1, 2, 0.4, 0.50),
        (1, 3, 0.3, 0.70),
    ]:
        rows.append(
            dict(
                variant="v",
                seed=seed,
                epoch=epoch,
                dev_accuracy=dev,
                dev_macro_f1=dev,
                accuracy=test,
                macro_f1=test,
            )
        )
    s = results.tuning_summary(pd.DataFrame(rows)).set_index("epochs")
    # last epoch: test 0.80 and 0.70; best dev: epoch 2 of seed 0 (0.60), and for seed 1 the tie
    # 0.4/0.4 goes to the later epoch 2 (0.50)
    assert s.loc["last", "macro_f1_mean"] == pytest.approx(0.75)
    assert s.loc["best dev", "macro_f1_mean"] == pytest.approx(0.55)
    assert s.loc["best dev", "epoch_mean"] == pytest.approx(2.0)
    assert s.loc["best dev", "dev_macro_f1_mean"] == pytest.approx(0.55)
    assert (s.n_seeds == 2).all()


def test_stratified_folds_partition_and_balance_every_label():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2
    fold = ex.stratified_folds(labels, 3, seed=0)
    assert sorted(set(fold)) == [0, 1, 2] and len(fold) == 17
    assert sorted(np.bincount(fold)) == [5, 6, 6]  # sizes differ by one at most
    for label, n in (("a", 10), ("b", 5)):
        per_fold = np.bincount(fold[np.array(labels) == label], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1 and per_fold.sum() == n
    assert (ex.stratified_folds(labels, 3, seed=0) == fold).all()  # seeded
    assert not (ex.stratified_folds(labels, 3, seed=1) == fold).all()


def test_cross_validation_holds_out_each_fold_once(data, tiny_lm):
    df = ex.cross_validate_stage3(
        "toy",
        k=2,
        variants=["fastai's drop_mult 0.5"],
        pretrained=tiny_lm,
        data=data,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
    )
    assert list(df.fold) == [0, 1]
    assert (df.n_train + df.n_valid == len(data["train"])).all()  # the training split, not dev/test
    assert sorted(df.n_valid) == sorted(np.bincount(ex.stratified_folds(data["train"].label, 2)))
    assert df.accuracy.between(0, 1).all() and df.macro_f1.between(0, 1).all()


def test_cross_validation_without_stage2_names_its_rows_and_never_fine_tunes(
    data, tiny_lm, tmp_path, monkeypatch
):
    def no_training(*args, **kwargs):
        raise AssertionError("finetune_lm=False must not train the LM")

    monkeypatch.setattr(ex.lm_recipes, "fit_lm", no_training)  # vocabulary and embeddings only
    df = ex.cross_validate_stage3(
        "toy",
        k=2,
        variants=[ex.DEFAULTS_VARIANT],
        pretrained=tiny_lm,
        data=data,
        out=tmp_path,
        clas_options=CLAS_OPTS,
        finetune_lm=False,
    )
    assert list(df.variant) == [ex.DEFAULTS_VARIANT + ex.NO_LM_FT] * 2 and list(df.fold) == [0, 1]
    # its own file: the stage-2 cross-validation's CSV (same folder) is not overwritten
    assert (tmp_path / "cv_toy_no_lm_ft.csv").is_file() and not (tmp_path / "cv_toy.csv").exists()


def test_defaults_variant_is_the_package_defaults():
    from ulmfit_lesson.clas_recipes import CLAS_EPOCHS
    from ulmfit_lesson.classifier import DROP_MULT

    assert ex.TUNING[ex.DEFAULTS_VARIANT] == dict(drop_mult=DROP_MULT, epochs=CLAS_EPOCHS)


def test_device_reaches_both_stages_and_the_rows(data, tiny_lm, monkeypatch):
    """``device`` (``run.py --device``) is where stage 2 and stage 3 train, and each row says so."""
    seen = []

    def spy(fn):
        def wrapper(*args, **kwargs):
            seen.append((fn.__name__, kwargs["device"]))
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(ex.lm_recipes, "finetune_lm", spy(ex.lm_recipes.finetune_lm))
    monkeypatch.setattr(ex, "train_classifier", spy(ex.train_classifier))
    row, _ = ex.run_method(
        "ulmfit",
        data,
        0,
        True,
        tiny_lm,
        lm_options=LM_OPTS,
        clas_options=CLAS_OPTS,
        device="cpu:0",  # a spelling of the CPU no default uses
    )
    assert seen == [("finetune_lm", "cpu:0"), ("train_classifier", "cpu:0")]
    assert row["device"] == "cpu:0"


def test_run_py_runs_one_seed_on_the_device_asked(tmp_path, monkeypatch):
    import importlib.util

    from ulmfit_lesson.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("run_py", REPO_ROOT / "experiments" / "run.py")
    run_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_py)
    calls = []
    monkeypatch.setattr(
        run_py, "run", lambda name, seeds, *a, device, **kw: calls.append((name, seeds, device))
    )
    monkeypatch.setattr(run_py, "summarize", lambda *a: "")
    run_py.main(["ablations", "--seed", "3", "--device", "cuda", "--out", str(tmp_path)])
    run_py.main(["ablations", "--seeds", "2", "--out", str(tmp_path)])
    assert calls == [("ablations", [3], "cuda"), ("ablations", [0, 1], "cpu")]


def test_stage2_fine_tunes_as_train_classifier_does(data, tiny_lm, monkeypatch):
    """The experiments' ULMFiT rows measure the package's recipe: stage 2 gets the pipeline's
    options (corpus softmax, dev scored before and after only), which ``lm_options`` can undo."""
    from ulmfit_lesson import lm_recipes, pipeline

    seen = []
    real = lm_recipes.finetune_lm

    def spy(lm, texts, valid, **kw):
        seen.append(kw)
        return real(lm, texts, valid, **kw)

    monkeypatch.setattr(lm_recipes, "finetune_lm", spy)
    texts, dev = data["train"]["text"].tolist(), data["dev"]["text"].tolist()
    ex.stage2(tiny_lm, texts, dev, True, False, 0, LM_OPTS)
    ex.stage2(tiny_lm, texts, dev, True, False, 0, LM_OPTS | dict(corpus_softmax=False))
    ex.stage2(tiny_lm, texts, dev, False, False, 0, LM_OPTS)
    assert pipeline.STAGE2_OPTIONS == dict(corpus_softmax=True, validate_epochs=False)
    assert seen[0]["corpus_softmax"] is True and seen[0]["validate_epochs"] is False
    assert seen[0]["epochs"] == LM_OPTS["epochs"]  # the caller's options still apply
    assert seen[1]["corpus_softmax"] is False
    assert "corpus_softmax" not in seen[2] and seen[2]["epochs"] == 0  # no fine-tuning at all
