"""Reliability, second round (issue 20): verified loads, inputs checked before the work starts,
whole-run outputs, no traceback for an expected failure.

The bad files live in ``tests/bad_inputs/``: text files as they are, binary ones made at test time
by ``tests/bad_inputs/make_bad_files.py``. ``docs/reliability.md`` lists every case with its test.
CLI cases run ``cli.main`` in this process (a new interpreter would only import torch again) and
check the exit code, that stderr names the file, and that no traceback reaches the user.
"""

import importlib.util
import json
import os
import pickle
import re
import signal
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from ulmfit_lesson import checkpoint as ckpt
from ulmfit_lesson import cli, cli_classifier, integrity, runs
from ulmfit_lesson.checkpoint import CheckpointError, load_checkpoint
from ulmfit_lesson.clas_recipes import (
    LabelWarning,
    check_labels,
    encode_labels,
    label_names_of,
    normalise_labels,
)
from ulmfit_lesson.classifier import build_classifier
from ulmfit_lesson.datasets import read_table
from ulmfit_lesson.generate import generate
from ulmfit_lesson.predict import NonFiniteOutputError, TextClassifier
from ulmfit_lesson.pretrained import load_fastai_lm

BAD = Path(__file__).with_name("bad_inputs")
_spec = importlib.util.spec_from_file_location("make_bad_files", BAD / "make_bad_files.py")
bad = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bad)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def run(capsys, *argv):
    """``cli.main(argv)``: (exit code, stdout, stderr); a traceback on stderr fails the test."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ----------------------------------------------------------------------------- 1. verified loads


@pytest.fixture
def classifier_dir(tmp_path):
    path = bad.tiny_classifier(tmp_path / "clf")
    return path.parent


def test_a_checkpoint_with_4_kb_overwritten_is_refused_naming_the_file_and_tensor(
    classifier_dir, capsys
):
    path = classifier_dir / "classifier.pt"
    assert TextClassifier.load(classifier_dir).predict("the sun")[0][0] in ("neg", "pos")
    embedding = bad.tiny_lm()[0].encoder.encoder.weight
    bad.overwrite_tensor_bytes(path, embedding)
    with pytest.raises(
        CheckpointError,
        match=r"classifier\.pt is damaged: the weights "
        r"'encoder\.encoder\.weight' do not match the sha256",
    ):
        load_checkpoint(path)
    for json_flag in ([], ["--json"]):
        code, out, err = run(capsys, "predict", "--model", classifier_dir, "the sun", *json_flag)
        assert code == 1 and out == ""  # no line at all: never `neg nan`, never NaN in JSON
        assert f"{path} is damaged" in err


def test_a_run_folder_checks_each_file_against_its_manifest(tmp_path):
    with runs.whole_run(tmp_path / "run") as tmp:
        bad.tiny_classifier(tmp)
        (tmp / "notes.txt").write_text("hello", encoding="utf-8")
    run_dir = tmp_path / "run"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(manifest["files"]) == {"classifier.pt", "notes.txt"}
    assert manifest["files"]["notes.txt"]["bytes"] == 5
    assert integrity.verify_manifest(run_dir) is True
    (run_dir / "notes.txt").write_text("HELLO", encoding="utf-8")  # same size, other bytes
    with pytest.raises(CheckpointError, match=r"notes\.txt is damaged: its sha256 differs"):
        integrity.verify_manifest(run_dir)
    data = bytearray((run_dir / "classifier.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte anywhere in the file
    (run_dir / "classifier.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"classifier\.pt is damaged: its sha256 differs"):
        TextClassifier.load(run_dir)  # the manifest is checked before torch reads a byte


def test_saving_a_classifier_back_into_its_run_keeps_the_manifest_true(tmp_path):
    with runs.whole_run(tmp_path / "run") as tmp:
        bad.tiny_classifier(tmp)
    clf = TextClassifier.load(tmp_path / "run")
    clf.settings["note"] = "re-saved from a notebook"
    clf.save(tmp_path / "run")
    assert integrity.verify_manifest(tmp_path / "run")
    assert TextClassifier.load(tmp_path / "run").settings["note"] == "re-saved from a notebook"


def test_nan_weights_are_refused_even_with_a_matching_digest(tmp_path):
    lm, itos = bad.tiny_lm()
    with torch.no_grad():
        lm.encoder.rnns[1].module.weight_ih_l0[0, 0] = float("inf")
    ckpt.save_checkpoint(tmp_path / "lm.pt", lm, itos)
    with pytest.raises(
        CheckpointError,
        match=r"lm\.pt: the weights 'encoder\.rnns\.1\.module\."
        r"weight_ih_l0' hold 1 NaN or infinite values",
    ):
        load_checkpoint(tmp_path / "lm.pt")


def test_a_checkpoint_from_before_the_digests_still_loads(tmp_path):
    lm, itos = bad.tiny_lm()
    path = ckpt.save_checkpoint(tmp_path / "old.pt", lm, itos)
    state = torch.load(path, weights_only=True)
    assert set(state[ckpt.DIGESTS]) == set(state["model"])
    del state[ckpt.DIGESTS]
    torch.save(state, path)
    model, _ = ckpt.load_language_model(path)
    torch.testing.assert_close(model.encoder.encoder.weight, lm.encoder.encoder.weight)


def test_non_finite_probabilities_are_an_error_not_a_prediction():
    lm, itos = bad.tiny_lm()
    model = build_classifier(lm, 2, vocab=itos).eval()
    with torch.no_grad():
        model.head.layers[-1][-1].weight.fill_(float("nan"))
    clf = TextClassifier(model, itos, ["neg", "pos"])
    with pytest.raises(
        NonFiniteOutputError,
        match=r"NaN or infinite probabilities for text\(s\) "
        r"1, 2 of 2; nothing is reported",
    ):
        clf.predict(["the sun", "a dark night"])


# ----------------------------------------------------------------------------- 2. bad LM files


@pytest.mark.parametrize(
    "kind", ["text_bytes", "plain_pickle", "truncated", "bare_tensor", "nan_weight"]
)
def test_a_bad_lstm_fwd_pth_in_an_archive_is_named_by_archive_and_member(kind, tmp_path, capsys):
    archive = bad.lm_archive_with_weights(tmp_path / "model.tgz", bad.bad_weights()[kind])
    with pytest.raises(CheckpointError) as info:
        load_fastai_lm(archive)
    message = str(info.value)
    assert message.startswith(f"{archive}: model/lstm_fwd.pth")
    assert "ulmfit-lm-" not in message  # never the deleted temporary folder
    code, out, err = run(capsys, "generate", "--model", archive, "the sun", "--device", "cpu")
    assert code == 1 and out == "" and f"{archive}: model/lstm_fwd.pth" in err


def test_the_good_archive_loads(tmp_path):
    model, itos = load_fastai_lm(bad.good_lm_archive(tmp_path / "model.tgz"))
    torch.testing.assert_close(
        model.encoder.encoder.weight, bad.tiny_lm()[0].encoder.encoder.weight
    )
    assert itos == bad.ITOS


def test_an_archive_that_is_not_gzip_is_an_error_naming_it(tmp_path, capsys):
    archive = bad.not_gzip_archive(tmp_path / "general-fwd.tgz")
    with pytest.raises(
        CheckpointError,
        match=r"general-fwd\.tgz is not a readable \.tgz "
        r"\(ReadError: .*40 bytes\. A truncated download",
    ):
        load_fastai_lm(archive)
    code, _, err = run(capsys, "evaluate-lm", "--model", archive, "--corpus", BAD / "text_only.csv")
    assert code == 1 and "general-fwd.tgz is not a readable .tgz" in err


def test_a_bad_itos_pkl_in_an_archive_is_named_by_archive_and_member(tmp_path):
    lm, itos = bad.tiny_lm()
    folder = tmp_path / "fastai"
    from ulmfit_lesson.pretrained import save_fastai_lm

    save_fastai_lm(lm, itos, folder)
    (folder / "itos.pkl").write_bytes(pickle.dumps(os.getcwd) + b"")  # asks for a global
    archive = bad._tgz(
        tmp_path / "m.tgz", {f"m/{p.name}": p.read_bytes() for p in folder.iterdir()}
    )
    with pytest.raises(
        ValueError,
        match=rf"^{re.escape(str(archive))}: m/itos\.pkl: not a safe "
        r"vocabulary pickle \(refusing to load the global",
    ):
        load_fastai_lm(archive)


# ----------------------------------------------------------------------------- 3. --out


def test_out_that_is_a_file_or_not_writable_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "taken").write_text("x", encoding="utf-8")
    train = BAD / "train_two_labels.csv"
    code, _, err = run(capsys, "train-classifier", "--train", train, "--out", tmp_path / "taken")
    assert code == 1 and f"--out {tmp_path / 'taken'} is a file, not a folder" in err
    # /sys is read-only even for root, whom os.access would wrongly let through
    code, _, err = run(capsys, "train-classifier", "--train", train, "--out", "/sys/ulmfit-run")
    assert code == 1 and "--out /sys/ulmfit-run: cannot write in /sys" in err
    code, _, err = run(capsys, "finetune-lm", "--train", train, "--out", tmp_path / "taken")
    assert code == 1 and "is a file, not a folder" in err


def test_oserrors_become_one_paragraph_and_debug_shows_the_traceback(monkeypatch, capsys):
    def denied(args):
        raise PermissionError(13, "Permission denied", "/data/runs/mine/classifier.pt")

    monkeypatch.setattr(cli_classifier, "_predict", denied)
    code, _, err = run(capsys, "predict", "--model", "m", "hello")
    assert code == 1
    assert err.startswith("error: /data/runs/mine/classifier.pt: permission denied; choose")
    with pytest.raises(PermissionError):
        cli.main(["predict", "--model", "m", "hello", "--debug"])
    with pytest.raises(PermissionError):
        cli.main(["--debug", "predict", "--model", "m", "hello"])


def test_a_bug_is_not_disguised_as_an_expected_error(monkeypatch):
    def bug(args):
        raise KeyError("oops")

    monkeypatch.setattr(cli_classifier, "_predict", bug)
    with pytest.raises(KeyError):
        cli.main(["predict", "--model", "m", "hello"])


# ----------------------------------------------------------------------------- 4. whole runs


@pytest.fixture
def stop_before_training(monkeypatch):
    """Replace the training of ``train-classifier`` by a record of what it would have trained on."""
    seen = {}

    def fake(tmp, out, args, frames, sources, start):
        seen.update(frames=frames, tmp=tmp)
        (tmp / "metrics.json").write_text("{}", encoding="utf-8")
        return {"n_test": 0}

    monkeypatch.setattr(cli_classifier, "_train_into", fake)
    return seen


def test_an_unseen_test_label_is_found_before_training(tmp_path, capsys, stop_before_training):
    code, _, err = run(
        capsys,
        "train-classifier",
        "--train",
        BAD / "train_two_labels.csv",
        "--test",
        BAD / "test_unseen_label.csv",
        "--out",
        tmp_path / "run",
    )
    assert code == 1 and stop_before_training == {}  # training never started
    assert re.search(r"'neutral' in test \(.*test_unseen_label\.csv\) \(rows 2\) never appear", err)
    assert not (tmp_path / "run").exists()


def test_labels_differing_by_case_or_space_are_merged_with_a_warning(
    tmp_path, capsys, stop_before_training
):
    code, _, err = run(
        capsys,
        "train-classifier",
        "--train",
        BAD / "labels_case_whitespace.csv",
        "--out",
        tmp_path / "run",
    )
    assert code == 0
    merged = "' pos' (1 row), 'Pos' (1 row), 'pos' (1 row), 'pos ' (1 row) -> 'pos'"
    assert (
        f"warning: labels that differ only by case or surrounding whitespace were merged: {merged}"
        in err
    )
    assert stop_before_training["frames"]["train"]["label"].tolist() == ["pos"] * 4 + ["neg"] * 2


def test_normalise_labels_prefers_the_training_spelling_and_a_reference():
    with pytest.warns(LabelWarning, match=r"'NEG' \(1 row\), 'neg' \(2 rows\) -> 'neg'"):
        fixed = normalise_labels({"train": ["neg", "neg", "pos"], "test": ["NEG", "pos"]})
    assert fixed == {"train": ["neg", "neg", "pos"], "test": ["neg", "pos"]}
    with pytest.warns(LabelWarning, match=r"'Joy' \(1 row\) -> 'joy'"):
        fixed = normalise_labels(
            {"test": [["Joy", "fear"]]}, multi_label=True, reference=["joy", "fear"]
        )
    assert fixed == {"test": [["joy", "fear"]]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already clean: no warning; numbers untouched
        assert normalise_labels({"train": ["a", "b", 3]}) == {"train": ["a", "b", 3]}
        assert normalise_labels({"train": ["a, b"]}, multi_label=True) == {"train": [["a", "b"]]}


def test_an_earlier_run_is_refused_then_replaced_whole_with_overwrite(
    tmp_path, capsys, stop_before_training
):
    out = tmp_path / "run"
    out.mkdir()
    (out / "classifier.pt").write_text("earlier", encoding="utf-8")
    (out / "old_metrics.json").write_text("{}", encoding="utf-8")
    args = ["train-classifier", "--train", BAD / "train_two_labels.csv", "--out", out]
    code, _, err = run(capsys, *args)
    assert code == 1 and "already holds files (classifier.pt, old_metrics.json)" in err
    assert "--overwrite" in err and (out / "classifier.pt").read_text() == "earlier"
    code, _, _ = run(capsys, *args, "--overwrite")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "metrics.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary or lock left


def test_sigterm_during_a_cli_run_exits_130_and_leaves_the_earlier_run(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    with runs.whole_run(out) as tmp:
        (tmp / "metrics.json").write_text("first", encoding="utf-8")

    def killed(tmp, *args):  # SIGTERM (kill, timeout) arrives while evaluating, not training
        (tmp / "classifier.pt").write_text("half", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises as soon as the signal arrives

    monkeypatch.setattr(cli_classifier, "_train_into", killed)
    code, _, err = run(
        capsys,
        "train-classifier",
        "--train",
        BAD / "train_two_labels.csv",
        "--out",
        out,
        "--overwrite",
    )
    assert code == 130 and "interrupted: SIGTERM" in err
    assert (out / "metrics.json").read_text() == "first" and integrity.verify_manifest(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ----------------------------------------------------------------------------- 5. row numbers


def test_row_numbers_count_from_1_in_files_and_in_the_recipes(tmp_path):
    table = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", ""]})
    table.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match=r"at rows 3$"):
        read_table(tmp_path / "t.csv", "text", "label")  # the third data row
    with pytest.raises(ValueError, match=r"at rows 3$"):
        label_names_of(["x", "y", ""])
    with pytest.raises(ValueError, match=r"'z' in valid \(rows 1, 3\)"):
        encode_labels(["z", "x", "z"], ["x", "y"], split="valid")


# ----------------------------------------------------------------------------- 7. silently accepted


def test_empty_predict_texts_and_out_of_range_arguments_are_usage_errors(capsys):
    code, _, err = run(capsys, "predict", "--model", "m", "fine", "  ")
    assert code == 2 and "text 2 is empty or only whitespace" in err
    for argv, message in (
        (["generate", "the sun", "--n-words", "-5"], "argument --n-words: must be >= 1, got -5"),
        (["generate", "the sun", "--n-samples", "0"], "argument --n-samples: must be >= 1, got 0"),
        (["generate", "the sun", "--temperature", "nan"], "expected a finite number"),
        (["train-classifier", "--train", "t.csv", "--out", "o", "--bs", "1"], "must be >= 2"),
        (["finetune-lm", "--out", "o", "--lr", "0"], "argument --lr: must be > 0.0, got 0"),
    ):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(ValueError, match="tokens to generate must be >= 0, got -5"):
        generate(bad.tiny_lm()[0], bad.ITOS, "the sun", n_words=-5)


def test_an_empty_prompt_and_an_unwritable_json_are_refused_before_loading(tmp_path, capsys):
    code, _, err = run(capsys, "generate", "  ", "--model", "nowhere.tgz")
    assert code == 2 and "the prompt is empty" in err
    code, _, err = run(
        capsys, "evaluate-lm", "--model", "nowhere.tgz", "--json", tmp_path / "missing" / "m.json"
    )
    assert code == 1 and f"the folder {tmp_path / 'missing'} does not exist" in err
    code, _, err = run(capsys, "evaluate-lm", "--model", "nowhere.tgz", "--json", tmp_path)
    assert code == 1 and "is a folder; give a file name" in err


def test_a_column_named_twice_or_text_equal_to_label_is_refused(capsys, tmp_path):
    with pytest.raises(ValueError, match=r"names column 'text' 2 times \(columns 1 and 3\)"):
        read_table(BAD / "duplicate_text_column.csv", "text", "label")
    with pytest.raises(ValueError, match=r"a record has key 'text' twice.*\(line 1\)"):
        read_table(BAD / "duplicate_key.jsonl", "text", "label")
    with pytest.raises(ValueError, match=r"text column and the label column are both 'text'"):
        read_table(BAD / "train_two_labels.csv", "text", "text")
    read_table(BAD / "duplicate_text_column.csv", "label")  # the twice-named column is not read
    code, _, err = run(
        capsys,
        "train-classifier",
        "--train",
        BAD / "duplicate_text_column.csv",
        "--out",
        tmp_path / "run",
    )
    assert code == 1 and "duplicate_text_column.csv: the header names column 'text' 2 times" in err


def test_check_labels_returns_names_and_normalised_splits():
    names, labels = check_labels({"train": ["b", "a"], "valid": ["a"], "test": ["b", "b"]})
    assert names == ["a", "b"] and labels["test"] == ["b", "b"]
    with pytest.raises(ValueError, match=r"missing label .* in test at rows 2"):
        check_labels({"train": ["b", "a"], "test": ["b", None]})


def test_a_real_run_is_written_whole_with_a_manifest_and_verified_when_used(tmp_path, capsys):
    """train-classifier end to end on the tiny LM: the folder holds one run and its manifest;
    a damaged fine-tuned LM inside it (``run/lm/lm.pt``) is caught by the run's manifest."""
    lm, itos = bad.tiny_lm()
    ckpt.save_checkpoint(tmp_path / "lm.pt", lm, itos)
    out = tmp_path / "run"
    args = [
        "train-classifier",
        "--train",
        BAD / "train_two_labels.csv",
        "--pretrained",
        tmp_path / "lm.pt",
        "--out",
        out,
        "--quick",
        "--lm-bs",
        "2",
        "--bs",
        "2",
        "--no-progress",
        "--device",
        "cpu",
    ]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert {"classifier.pt", "metrics.json", "lm/lm.pt", "lm/encoder.pt"} <= set(files)
    assert json.loads((out / "metrics.json").read_text())["files"]["classifier"] == str(
        out / "classifier.pt"
    )  # the final place, not the temporary folder it was written in
    code, stdout, _ = run(capsys, "predict", "--model", out, "the sun on the hill")
    assert code == 0 and stdout.split("\t")[0] in ("neg", "pos")
    with open(out / "lm" / "lm.pt", "r+b") as f:
        f.seek(200)
        f.write(b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"lm/lm\.pt is damaged: its sha256 differs"):
        ckpt.load_language_model(out / "lm" / "lm.pt")


# ----------------------------------------------------------------------------- 9. long texts


@pytest.mark.parametrize("segment_chunks", [1, 2, 32])
@pytest.mark.parametrize("bs", [1, 2, 5])
def test_inference_in_long_segments_equals_bpt3c_chunk_by_chunk(segment_chunks, bs, monkeypatch):
    """Rows starting at different chunks, a kept window (max_len) shorter than the longest
    document, segments cut at every row start: the same logits as ``predict_logits``."""
    from ulmfit_lesson import predict
    from ulmfit_lesson.clas_loader import ClasLoader
    from ulmfit_lesson.predict import predict_logits

    monkeypatch.setattr(predict, "SEGMENT_CHUNKS", segment_chunks)
    lm, itos = bad.tiny_lm()
    model = build_classifier(lm, 3, vocab=itos, bptt=4, max_len=12).eval()
    gen = torch.Generator().manual_seed(0)
    docs = [torch.randint(2, len(itos), (n,), generator=gen) for n in (50, 30, 7, 3, 13, 1, 26)]
    loader = ClasLoader(docs, bs=bs, bptt=4)
    expected = predict_logits(model, loader)
    torch.testing.assert_close(predict.inference_logits(model, loader), expected)
