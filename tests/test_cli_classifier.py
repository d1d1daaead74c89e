"""The stage-3 CLI: `train-classifier` end to end (quick), `predict` in input order, clear errors."""

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from ulmfit_lesson import cli, cli_classifier
from ulmfit_lesson.checkpoint import save_checkpoint
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.vocab import Vocab

REPO = Path(__file__).resolve().parent.parent
FILLER = "the a movie film plot actor scene story was is it and of to very quite rather".split()


def reviews(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        for _ in range(2):
            words.insert(rng.randrange(len(words) + 1), "good" if label == "pos" else "bad")
        rows.append({"review": " ".join(words), "sentiment": label})
    return pd.DataFrame(rows)


@pytest.fixture
def workdir(tmp_path):
    """Train (CSV), valid (TSV), test (JSONL) files and a tiny 'pretrained' LM checkpoint."""
    train = reviews(48, 0)
    train.to_csv(tmp_path / "train.csv", index=False)
    reviews(16, 1).to_csv(tmp_path / "valid.tsv", sep="\t", index=False)
    reviews(16, 2).to_json(tmp_path / "test.jsonl", orient="records", lines=True)
    vocab = Vocab.build(tokenize_texts(reviews(200, 3)["review"]), min_freq=1)
    torch.manual_seed(0)
    lm = build_language_model(len(vocab), emb_size=16, hidden_size=32)
    save_checkpoint(tmp_path / "lm.pt", lm, vocab.itos)
    return tmp_path


def run_cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "ulmfit_lesson", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_register_adds_both_commands():
    parser = argparse.ArgumentParser()
    cli_classifier.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", "--model", "m", "one", "two"])
    assert args.texts == ["one", "two"] and args.func is cli_classifier._predict
    args = parser.parse_args(["train-classifier", "--train", "t.csv", "--out", "o", "--quick"])
    assert args.quick and args.pretrained is None and not args.no_finetune_lm  # the course's model


def test_default_pretrained_is_the_course_model(monkeypatch, tmp_path):
    """No --pretrained: general-fwd where it is on disk, else fastai's wt103-fwd."""
    from ulmfit_lesson.cli_args import or_course_model

    assert or_course_model("my-lm") == "my-lm"
    monkeypatch.delenv("ULMFIT_DATA", raising=False)
    monkeypatch.delenv("ULMFIT_MIRROR", raising=False)
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path))
    assert or_course_model(None) == "wt103-fwd"
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "general-fwd.tgz").write_bytes(b"an archive, not yet verified")
    assert or_course_model(None) == "general-fwd"


def test_train_classifier_help_states_the_package_defaults():
    """The CLI spells its defaults out (it imports torch lazily); they must be the recipe's."""
    from ulmfit_lesson.clas_recipes import CLAS_EPOCHS
    from ulmfit_lesson.classifier import DROP_MULT

    parser = argparse.ArgumentParser()
    cli_classifier.register(parser.add_subparsers(dest="command"))
    sub = parser._subparsers._group_actions[0].choices["train-classifier"]
    actions = {a.dest: a for a in sub._actions}
    assert f"default {CLAS_EPOCHS}:" in actions["epochs"].help
    assert actions["epochs"].default is None  # None: train_classifier's own default is used
    assert actions["drop_mult"].default == DROP_MULT


def test_train_classifier_and_predict_end_to_end(workdir, capsys, monkeypatch):
    train = run_cli(
        "train-classifier",
        "--train",
        "train.csv",
        "--valid",
        "valid.tsv",
        "--test",
        "test.jsonl",
        "--text-col",
        "review",
        "--label-col",
        "sentiment",
        "--pretrained",
        "lm.pt",
        "--out",
        "run",
        "--quick",
        "--lm-bs",
        "8",
        "--bs",
        "8",
        "--no-progress",
        cwd=workdir,
    )
    assert train.returncode == 0, train.stderr
    metrics = json.loads((workdir / "run" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_test"] == 16
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
    assert metrics["labels"] == ["neg", "pos"]
    cm = metrics["confusion_matrix"]
    assert sum(map(sum, cm)) == 16
    assert metrics["accuracy"] == pytest.approx((cm[0][0] + cm[1][1]) / 16)
    assert [h["trainable_groups"] for h in metrics["history"]] == [1, 5]  # quick: head, then all
    assert set(metrics["timings"]) >= {"lm_finetune_s", "classifier_s", "total_s"}
    assert metrics["timings"]["lm_finetune_s"] > 0  # stage 2 ran
    assert (workdir / "run" / "classifier.pt").is_file()
    assert (workdir / "run" / "lm" / "lm.pt").is_file()

    # predict in this process (a second `python -m` would only re-import torch)
    monkeypatch.chdir(workdir)
    texts = ["the plot was bad", "a good good film", "it", "bad", "quite a good scene"]
    assert cli.main(["predict", "--model", "run", *texts]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert [line.split("\t")[2] for line in lines] == texts  # input order
    assert all(line.split("\t")[0] in ("neg", "pos") for line in lines)
    assert all(0 <= float(line.split("\t")[1]) <= 1 for line in lines)

    args = ["predict", "--model", "run", "--file", "test.jsonl", "--text-col", "review", "--json"]
    assert cli.main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().split("\n")]
    expected = pd.read_json(workdir / "test.jsonl", lines=True)["review"].tolist()
    assert [r["text"] for r in rows] == expected
    assert all(sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-4) for r in rows)


def test_single_class_training_file_fails_with_its_name(workdir, capsys):
    reviews(8, 0).assign(sentiment="pos").to_csv(workdir / "one.csv", index=False)
    code = cli.main(
        [
            "train-classifier",
            "--train",
            str(workdir / "one.csv"),
            "--text-col",
            "review",
            "--label-col",
            "sentiment",
            "--pretrained",
            str(workdir / "lm.pt"),
            "--out",
            str(workdir / "run"),
            "--no-finetune-lm",
            "--no-progress",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "one.csv" in err and "single class" in err


def test_predict_needs_texts_or_a_file(capsys):
    assert cli.main(["predict", "--model", "nowhere"]) == 2
    assert "give texts" in capsys.readouterr().err
