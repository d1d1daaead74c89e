"""Reliability: bad inputs, interruption by a signal, resuming, reproducibility.

Most bad-input and untrusted-file cases are tested next to their code (``test_datasets.py``,
``test_checkpoint.py``, ``test_pretrained.py``, ``test_registry.py``, ``test_clas_recipes.py``,
``test_classifier.py``); the README's "Reliability and reproducibility" section lists them all.
Here: the cases that had no test, and training stopped by SIGINT or SIGTERM in the middle of an
epoch, in another process, then resumed to the same metrics as a run that was never stopped.

The training runs (a tiny LM, a tiny classifier) live in ``tests/interruptible_training.py`` so the
same code runs here, in a forked child and in a fresh interpreter.
"""

import importlib.util
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from ulmfit_lesson import cli, cli_args, cli_lm
from ulmfit_lesson.checkpoint import load_checkpoint, save_checkpoint
from ulmfit_lesson.clas_recipes import train_classifier
from ulmfit_lesson.classifier import build_classifier
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.train import TrainingInterrupted, fit_lm, sigterm_as_keyboard_interrupt

HELPER = Path(__file__).with_name("interruptible_training.py")
posix_only = pytest.mark.skipif(os.name != "posix", reason="needs fork and POSIX signals")
_spec = importlib.util.spec_from_file_location("interruptible_training", HELPER)
runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runs)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


@pytest.fixture(scope="module")
def straight():
    """The uninterrupted runs every resumed run must reproduce."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {"lm": runs.lm_run(), "classifier": runs.clas_run()}
    torch.set_num_threads(n)
    return out


def assert_close(a, b, tol=1e-6, where="result"):
    """``a == b`` for nested dicts/lists, numbers within ``tol``."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_close(a[k], b[k], tol, f"{where}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, tol, f"{where}[{i}]")
    elif isinstance(a, float):
        assert abs(a - b) <= tol, f"{where}: {a} vs {b}"
    else:
        assert a == b, where


# ----------------------------------------------------------------------------- bad input


def test_cli_text_files_name_the_file_when_missing_empty_or_not_utf8(tmp_path):
    (tmp_path / "latin.txt").write_bytes("ok\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        ValueError, match=r"latin\.txt is not UTF-8: byte 0xe9 at offset 6 \(line 2"
    ):
        cli_args.read_texts(str(tmp_path / "latin.txt"))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("fine", encoding="utf-8")
    (folder / "b.txt").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ValueError, match=r"b\.txt is not UTF-8: byte 0xff at offset 0"):
        cli_args.read_texts(str(folder))
    for content in ("", " \n\t\n"):
        (tmp_path / "blank.txt").write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=r"blank\.txt holds no text"):
            cli_args.read_texts(str(tmp_path / "blank.txt"))
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        cli_args.read_texts(str(tmp_path / "nowhere.txt"))


def test_empty_and_blank_texts_through_the_api_are_read_as_an_empty_document():
    """Files refuse empty texts (``read_table`` names the rows); the Python API accepts them:
    "" and "   " tokenize to ``[xxbos]``, a one-token document, and get a prediction."""
    texts, labels = runs.clas_data(16, 0)
    result = train_classifier(
        texts + ["", "   "],
        labels + ["calm", "storm"],
        lm=None,
        epochs=1,
        bs=8,
        progress=False,
        scratch_sizes={"emb_size": 8, "hidden_size": 8, "n_layers": 1},
        device="cpu",
    )
    probs = result.classifier.predict_proba(["", "   ", "calm sea"])
    assert probs.shape == (3, 2)
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    torch.testing.assert_close(probs[0], probs[1])  # both are just xxbos


def test_a_200000_token_text_is_classified_end_to_end():
    """Tokenizer, vocabulary, padding and BPT3C on a 200,000-token text: no crash, a prediction.
    That memory stays bounded by ``max_len`` is ``test_classifier.py``'s (slow) graph-size test;
    ``bptt=1000`` here only keeps the chunk loop short."""
    texts, labels = runs.clas_data(16, 0)
    result = train_classifier(
        texts,
        labels,
        lm=None,
        epochs=1,
        bs=8,
        bptt=1000,
        max_len=2000,
        progress=False,
        scratch_sizes={"emb_size": 8, "hidden_size": 8, "n_layers": 1},
        device="cpu",
    )
    long_text = " ".join(random.Random(0).choices(runs.WORDS, k=200_000))
    probs = result.classifier.predict_proba([long_text, "calm sea"])
    assert probs.shape == (2, 2) and torch.isfinite(probs).all()


def test_an_encoder_file_with_a_reordered_vocabulary_is_refused(tmp_path):
    """Same size, two words swapped: it would load and silently read 'calm' as 'storm'."""
    itos = ["xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"]
    itos += ["calm", "storm", "sea"]
    lm = build_language_model(len(itos), emb_size=8, hidden_size=8, n_layers=2)
    path = save_checkpoint(
        tmp_path / "encoder.pt", lm.encoder, itos, lm.config, extra={"kind": "encoder"}
    )
    swapped = itos[:9] + ["storm", "calm", "sea"]
    with pytest.raises(ValueError, match=r"encoder\.pt .*differ from id 9 \('calm' vs 'storm'\)"):
        build_classifier(path, 2, vocab=swapped)


def test_ctrl_c_while_writing_a_checkpoint_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(
        path,
        build_language_model(12, emb_size=8, hidden_size=8, n_layers=1),
        None,
        extra={"which": "old"},
    )

    def interrupted_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(
            path,
            build_language_model(12, emb_size=8, hidden_size=8, n_layers=1),
            None,
            extra={"which": "new"},
        )
    monkeypatch.undo()
    assert load_checkpoint(path)["extra"]["which"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left


def test_resuming_a_classifier_from_another_run_is_refused(tmp_path):
    texts, labels = runs.clas_data(16, 0)
    common = dict(
        lm=None,
        epochs=1,
        progress=False,
        device="cpu",
        checkpoint_path=tmp_path / "c.pt",
        scratch_sizes={"emb_size": 8, "hidden_size": 8, "n_layers": 1},
    )
    train_classifier(texts, labels, bs=8, **common)
    with pytest.raises(ValueError, match=r"c\.pt belongs to another run \(bs: 8 then, 4 now\)"):
        train_classifier(texts, labels, bs=4, resume=True, **common)
    lm = build_language_model(12, emb_size=8, hidden_size=8, n_layers=1)
    save_checkpoint(tmp_path / "c.pt", lm, None, extra={"kind": "language_model"})
    with pytest.raises(ValueError, match="holds no classifier training state"):
        train_classifier(texts, labels, bs=8, resume=True, **common)


# ----------------------------------------------------------------------------- interruption


@posix_only
def test_sigterm_raises_keyboard_interrupt_only_inside_the_block():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with sigterm_as_keyboard_interrupt():
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)  # not reached: the handler raises as soon as the signal arrives
    assert signal.getsignal(signal.SIGTERM) is before
    seen = []

    def in_a_thread():  # only the main thread may install handlers: the block just runs
        with sigterm_as_keyboard_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [before]


def test_interrupted_without_a_checkpoint_says_nothing_was_saved():
    model = build_language_model(14, emb_size=8, hidden_size=8, n_layers=1)
    loader = LMLoader([torch.arange(4, 14).repeat(10)], bs=2, bptt=8, seed=0)

    def ctrl_c(record):
        if record["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(
        TrainingInterrupted, match=r"Ctrl-C .* after 3 of \d+ steps.*Nothing was saved"
    ):
        fit_lm(model, loader, 2, progress=False, device="cpu", on_step=ctrl_c)


def test_classifier_stopped_after_an_epoch_resumes_to_the_same_metrics(tmp_path, straight):
    """In-process: Ctrl-C during epoch 3 (raised from ``on_epoch`` before its checkpoint)."""
    path = tmp_path / "clas.pt"

    def ctrl_c(record, model, optimizer):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    texts, labels = runs.clas_data(48, 0)
    valid = runs.clas_data(16, 1)
    with pytest.raises(TrainingInterrupted, match=r"clas\.pt, is intact and holds epoch 2 of 5"):
        train_classifier(
            texts,
            labels,
            *valid,
            lm=None,
            epochs=runs.CLAS_EPOCHS,
            bs=8,
            progress=False,
            scratch_sizes={"emb_size": 8, "hidden_size": 16, "n_layers": 2},
            device="cpu",
            checkpoint_path=path,
            on_epoch=ctrl_c,
        )
    torch.manual_seed(123)  # the resumed run must not depend on the state we happen to be in
    assert_close(runs.clas_run(path, resume=True), straight["classifier"])


def _child(kind, checkpoint, message_file):
    sys.exit(runs.interruptible(kind, checkpoint, delay=0.05, message_file=message_file))


def start_and_signal(kind, sig, tmp_path):
    """Start ``kind`` in a forked process, send ``sig`` once its first checkpoint exists (in the
    middle of the next epoch) and return (the checkpoint path, the interruption message).

    Forked, not a fresh interpreter, to skip importing torch again (seconds on a small machine):
    the child is still its own process, and the signal comes from the operating system.
    """
    checkpoint, message_file = tmp_path / f"{kind}.pt", tmp_path / "message.txt"
    child = multiprocessing.get_context("fork").Process(
        target=_child, args=(kind, checkpoint, message_file)
    )
    child.start()
    try:
        deadline = time.time() + 60
        while not checkpoint.exists():  # os.replace: once it exists, it is complete
            assert child.is_alive(), f"the child exited early with code {child.exitcode}"
            assert time.time() < deadline, "no checkpoint after 60 s"
            time.sleep(0.01)
        time.sleep(0.2)  # a few steps (0.05 s each) into the next epoch
        assert child.is_alive(), "the child finished before it could be interrupted"
        os.kill(child.pid, sig)
        child.join(30)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == 130
    return checkpoint, message_file.read_text(encoding="utf-8")


@posix_only
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_lm_signalled_mid_epoch_resumes_to_the_same_metrics(sig, tmp_path, straight):
    checkpoint, message = start_and_signal("lm", sig, tmp_path)
    cause = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
    found = re.search(
        r"stopped by (\S+).* after (\d+) of (\d+) steps.*holds step (\d+) of", message
    )
    assert found, message
    assert found[1] == cause and str(checkpoint) in message and "resume=True" in message
    stopped_at, saved_at = int(found[2]), int(found[4])
    assert stopped_at > saved_at  # the steps since the checkpoint are lost, the file is not
    state = load_checkpoint(checkpoint)["extra"]["train_state"]
    assert state["step"] == saved_at and state["batch_in_epoch"] == 0  # an epoch's end
    assert_close(runs.lm_run(checkpoint, resume=True, init_seed=99), straight["lm"])


@posix_only
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_classifier_signalled_mid_epoch_resumes_to_the_same_metrics(sig, tmp_path, straight):
    checkpoint, message = start_and_signal("classifier", sig, tmp_path)
    found = re.search(r"after (\d+) of 5 epochs.*holds epoch (\d+) of 5", message)
    assert found and str(checkpoint) in message, message
    assert len(load_checkpoint(checkpoint)["extra"]["train_state"]["history"]) == int(found[2])
    assert_close(runs.clas_run(checkpoint, resume=True), straight["classifier"])


@posix_only
@pytest.mark.slow  # ~7-9 s here, nearly all of it a new interpreter importing torch and torch._dynamo
def test_a_fresh_interpreter_stopped_by_sigterm_resumes_to_the_same_metrics(tmp_path, straight):
    """What ``kill`` or ``timeout`` does to a training job: no fork, a new Python process."""
    checkpoint = tmp_path / "lm.pt"
    args = [sys.executable, str(HELPER), "lm", str(checkpoint), "--delay", "0.05"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not checkpoint.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "training stopped by SIGTERM" in err and str(checkpoint) in err
    assert_close(runs.lm_run(checkpoint, resume=True), straight["lm"])


def test_cli_reports_an_interruption_and_exits_with_130(monkeypatch, capsys):
    def stopped(args):
        raise TrainingInterrupted("training stopped by SIGTERM after 7 of 9 steps (epoch 0). ...")

    monkeypatch.setattr(cli_lm, "_pretrain", stopped)
    assert cli.main(["pretrain", "--out", "nowhere"]) == 130
    assert "interrupted: training stopped by SIGTERM after 7 of 9 steps" in capsys.readouterr().err


# ----------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_the_same_seed_gives_identical_metrics_another_seed_different_ones(kind, straight):
    run = runs.lm_run if kind == "lm" else runs.clas_run
    assert run(seed=0) == straight[kind]  # exactly: same process, same machine, CPU
    assert run(seed=1) != straight[kind]
