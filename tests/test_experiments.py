"""Every experiment runner in a micro setting: a tiny LM made here, a few dozen toy texts."""

import random

import numpy as np
import pandas as pd
import pytest
import torch

from ulmfit_lesson import experiments as ex
from ulmfit_lesson.models import build_language_model
from ulmfit_lesson.tokenizer import SPECIAL_TOKENS, tokenize_texts
from ulmfit_lesson.vocab import Vocab

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
        *extra,
    ):
        assert col in df.columns, col
    assert len(df) == n_rows
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
    summary = ex.summarize(df, ["method"])
    assert len(summary) == len(ex.METHODS) and (summary.n_seeds == 2).all()
    assert "±" in ex.markdown_table(summary, ["method"])
    assert "±" not in ex.markdown_table(ex.summarize(df[df.seed == 0], ["method"]), ["method"])


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
    vocab = ex.ReversedVocab(tiny_lm[1])
    tokens = tokenize_texts(["good film"])[0]
    assert vocab.numericalize(tokens) == Vocab(tiny_lm[1]).numericalize(tokens)[::-1]
    assert vocab.numericalize(tokens)[-1] == vocab.stoi["xxbos"]  # xxbos last, as general-bwd


def test_stratified_subset_keeps_every_class():
    df = pd.DataFrame({"text": [str(i) for i in range(100)], "label": ["a"] * 90 + ["b"] * 10})
    sub = ex._subset(df, 20, seed=3)
    assert len(sub) == 20 and sub.label.value_counts().to_dict() == {"a": 18, "b": 2}
    assert ex._subset(df, None, 0).equals(df)
    np.testing.assert_array_equal(ex._subset(df, 20, 3).text, sub.text)  # seeded
