"""The LM command line on a tiny corpus: pretrain (a real subprocess), evaluate, fine-tune, generate."""

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ulmfit_lesson import cli
from ulmfit_lesson.checkpoint import load_checkpoint, load_encoder, load_language_model
from ulmfit_lesson.vocab import Vocab

REPO = Path(__file__).resolve().parent.parent
TINY = ["--emb-size", "16", "--hidden-size", "32", "--n-layers", "2"]
METRICS = re.compile(
    r"loss (\d+\.\d+)\s+accuracy (\d+\.\d+)\s+perplexity (\d+\.\d+)\s+\(([\d,]+) tokens\)"
)


ALL_THREADS = torch.get_num_threads()


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def sentences(n, seed, subjects=("the cat", "the dog", "a bird", "the old king", "my friend")):
    rng = random.Random(seed)
    verbs = ("sat on", "looked at", "ran to", "sang about", "dreamed of")
    objects = ("the mat", "the moon", "a tree", "the river", "the house")
    return [
        " ".join(
            f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)}."
            for _ in range(3)
        )
        for _ in range(n)
    ]


def metrics_of(line_start: str, out: str) -> tuple[float, float, float, int]:
    line = next(li for li in out.splitlines() if li.startswith(line_start))
    loss, acc, ppl, n = METRICS.search(line).groups()
    return float(loss), float(acc), float(ppl), int(n.replace(",", ""))


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    """``python -m ulmfit_lesson pretrain`` in a subprocess on a 3,000-token slice of a tiny corpus."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "train.txt").write_text("\n".join(sentences(300, 0)), encoding="utf-8")
    (tmp / "valid.txt").write_text("\n".join(sentences(40, 1)), encoding="utf-8")
    out = tmp / "pre"
    cmd = [
        sys.executable,
        "-m",
        "ulmfit_lesson",
        "pretrain",
        "--corpus",
        str(tmp / "train.txt"),
        "--valid",
        str(tmp / "valid.txt"),
        "--epochs",
        "2",
        "--bs",
        "8",
        "--bptt",
        "20",
        "--lr",
        "3e-2",
        "--max-tokens",
        "3000",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        *TINY,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, out, proc.stdout


def test_pretrain_writes_its_files_and_learns(pretrained_dir):
    tmp, out, stdout = pretrained_dir
    assert sorted(p.name for p in out.iterdir()) == [
        "encoder.pt",
        "lm.pt",
        "metrics.json",
        "vocab.json",
    ]
    before = metrics_of("valid before", stdout)
    after = metrics_of("valid after", stdout)
    assert before[3] == after[3] > 900
    assert after[2] < before[2] / 3  # from ~40 (a guess among 40 tokens) to ~11
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["after"]["perplexity"] == pytest.approx(after[2], abs=0.01)
    assert summary["settings"]["max_tokens"] == 3000
    model, itos = load_language_model(out / "lm.pt")
    assert itos == Vocab.load(out / "vocab.json").itos
    assert model.config.emb_size == 16 and model.config.vocab_size == len(itos)
    encoder, enc_itos = load_encoder(out / "encoder.pt")
    assert enc_itos == itos
    assert torch.equal(encoder.encoder.weight, model.encoder.encoder.weight)
    assert load_checkpoint(out / "lm.pt")["extra"]["kind"] == "language_model"


def test_evaluate_lm_reproduces_the_final_validation(pretrained_dir, capsys):
    tmp, out, stdout = pretrained_dir
    args = [
        "evaluate-lm",
        "--model",
        str(out),
        "--corpus",
        str(tmp / "valid.txt"),
        "--bs",
        "8",
        "--bptt",
        "20",
        "--max-tokens",
        "3000",
        "--device",
        "cpu",
        "--json",
        str(tmp / "eval.json"),
    ]
    assert cli.main(args) == 0
    printed = metrics_of(str(out), capsys.readouterr().out)
    assert printed == pytest.approx(metrics_of("valid after", stdout), abs=1e-4)
    assert json.loads((tmp / "eval.json").read_text())["n_tokens"] == printed[3]


def test_finetune_lm_extends_the_vocabulary(pretrained_dir, capsys):
    tmp, out, _ = pretrained_dir
    # new subjects: "the young prince" and "a wise owl" are words the pretrained vocab lacks
    target = sentences(60, 2, subjects=("the young prince", "a wise owl", "the cat"))
    (tmp / "target.csv").write_text(
        "verse\n" + "\n".join(f'"{s}"' for s in target[:50]), encoding="utf-8"
    )
    (tmp / "target_dev.csv").write_text(
        "verse\n" + "\n".join(f'"{s}"' for s in target[50:]), encoding="utf-8"
    )
    args = [
        "finetune-lm",
        "--pretrained",
        str(out),
        "--train",
        str(tmp / "target.csv"),
        "--valid",
        str(tmp / "target_dev.csv"),
        "--text-col",
        "verse",
        "--epochs",
        "1",
        "--bs",
        "4",
        "--bptt",
        "20",
        "--out",
        str(tmp / "ft"),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert cli.main(args) == 0
    stdout = capsys.readouterr().out
    rates = dict(re.findall(r"unknown-token rate, (.+): (\d+\.\d+)%", stdout))
    assert float(rates["train pretrained vocab"]) > 5  # young, prince, wise, owl ...
    assert float(rates["train finetune vocab"]) == 0.0
    n_new = int(re.search(r"\(([\d,]+) new words", stdout).group(1))
    assert n_new >= 4
    itos = Vocab.load(tmp / "ft" / "vocab.json").itos
    pretrained_itos = load_language_model(out / "lm.pt")[1]
    assert itos[: len(pretrained_itos)] == pretrained_itos  # every pretrained word keeps its id
    assert {"young", "prince", "wise", "owl"} <= set(itos)
    assert metrics_of("valid after", stdout)[2] < metrics_of("valid before", stdout)[2]


def test_generate_prints_a_seeded_continuation(pretrained_dir, capsys):
    _, out, _ = pretrained_dir
    args = [
        "generate",
        "--model",
        str(out),
        "The cat",
        "--n-words",
        "12",
        "--seed",
        "3",
        "--n-samples",
        "2",
        "--device",
        "cpu",
    ]
    assert cli.main(args) == 0
    first = capsys.readouterr().out.splitlines()
    assert cli.main(args) == 0
    assert capsys.readouterr().out.splitlines() == first and len(first) == 2
    assert all(line.startswith("The cat") and "xxunk" not in line for line in first)


def test_help_lists_the_lm_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for command in ("pretrain", "finetune-lm", "evaluate-lm", "generate"):
        assert command in text
    assert cli.main(["evaluate-lm", "--model", "/no/such/model.pt"]) == 1


# The reference: fastai 2.8.12 itself (LMLearner.validate, CrossEntropyLossFlat, accuracy,
# Perplexity) on the general-fwd archive, CPU, float32, LMDataLoader(bs=32, seq_len=72) over the
# first 6,913 tokens of general_corpus/valid.jsonl as fastai tokenizes them: 32 streams of 216 =
# 3 x 72 tokens. Whole windows on purpose: fastai averages per-window means and we average tokens,
# which agree only when every window has the same length. Script and run: docs/lm_results.md.
FASTAI_FIRST_6913 = dict(
    loss=4.597513675689697, accuracy=0.25448495149612427, perplexity=99.23727416992188
)


@pytest.mark.slow
def test_general_fwd_matches_fastai_on_part_of_the_valid_set(tmp_path, capsys):
    from ulmfit_lesson import registry

    try:
        registry.fetch("general-fwd")
        registry.fetch_file("general_corpus", "valid.jsonl")
    except FileNotFoundError as err:
        pytest.skip(f"needs the course's shared data (ULMFIT_DATA): {str(err).splitlines()[0]}")
    torch.set_num_threads(ALL_THREADS)  # a real model: use every core (the fixture restores 1)
    out = tmp_path / "eval.json"
    args = [
        "evaluate-lm",
        "--model",
        "general-fwd",
        "--corpus",
        "general_corpus",
        "--split",
        "valid",
        "--max-tokens",
        "6913",
        "--bs",
        "32",
        "--bptt",
        "72",
        "--device",
        "cpu",
        "--json",
        str(out),
    ]
    assert cli.main(args) == 0
    ours = json.loads(out.read_text())
    assert ours["n_tokens"] == 32 * 216
    assert ours["loss"] == pytest.approx(FASTAI_FIRST_6913["loss"], rel=1e-4)
    assert ours["accuracy"] == pytest.approx(FASTAI_FIRST_6913["accuracy"], abs=5e-4)
    assert ours["perplexity"] == pytest.approx(FASTAI_FIRST_6913["perplexity"], rel=5e-4)
