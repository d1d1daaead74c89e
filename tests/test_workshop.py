"""ulmfit_lesson.workshop: the offline kit (pack, extract, use as ULMFIT_DATA) and the doctor.

Registry entries are small fakes made here (a dataset of two files, a pretrained-model archive),
put into ``registry.REGISTRY`` for the test; ``ULMFIT_DATA`` / ``ULMFIT_CACHE`` point at tmp dirs.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from ulmfit_lesson import cli_workshop, registry, workshop
from ulmfit_lesson.registry import Entry, FileSpec


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DS_FILES = {"train.tsv": b"text\tlabel\nhello\tpos\n", "dev.tsv": b"text\tlabel\nbye\tneg\n"}
MODEL_FILES = {"lstm_fwd.pth": b"weights" * 100, "itos.pkl": b"vocab"}


def make_tgz(folder: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MODEL_TGZ = make_tgz("fake-fwd", MODEL_FILES)


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """Two fake entries, their files in a data dir (``src``), an empty cache."""
    ds = Entry(
        "fake_ds",
        "dataset",
        tuple(FileSpec(n, None, sha(d)) for n, d in DS_FILES.items()),
        "CC0",
        "Nobody 2024",
        "a tiny dataset",
    )
    model = Entry(
        "fake-fwd",
        "pretrained",
        (FileSpec("fake-fwd.tgz", None, sha(MODEL_TGZ)),),
        "CC0",
        "Nobody 2024",
        "a tiny model",
        extracts_to="fake-fwd",
        contents=tuple(FileSpec(n, None, sha(d)) for n, d in MODEL_FILES.items()),
    )
    monkeypatch.setitem(registry.REGISTRY, ds.name, ds)
    monkeypatch.setitem(registry.REGISTRY, model.name, model)
    src = tmp_path / "src"
    (src / "fake_ds").mkdir(parents=True)
    for name, data in DS_FILES.items():
        (src / "fake_ds" / name).write_bytes(data)
    (src / "pretrained").mkdir()
    (src / "pretrained" / "fake-fwd.tgz").write_bytes(MODEL_TGZ)
    monkeypatch.setenv("ULMFIT_DATA", str(src))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    return src


NAMES = ["fake_ds", "fake-fwd"]


def test_pack_kit_layout_and_checksums(fake_registry, tmp_path):
    kit = workshop.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    with tarfile.open(kit) as tf:
        names = set(tf.getnames())
        sums = tf.extractfile("ulmfit-kit/SHA256SUMS").read().decode()
    assert {
        "ulmfit-kit/fake_ds/train.tsv",
        "ulmfit-kit/fake_ds/dev.tsv",
        "ulmfit-kit/pretrained/fake-fwd.tgz",
        "ulmfit-kit/SHA256SUMS",
        "ulmfit-kit/kit.json",
        "ulmfit-kit/README.md",
    } <= names
    assert f"{sha(MODEL_TGZ)}  pretrained/fake-fwd.tgz" in sums.splitlines()
    assert f"{sha(DS_FILES['dev.tsv'])}  fake_ds/dev.tsv" in sums.splitlines()


def test_extracted_kit_is_a_data_directory(fake_registry, tmp_path, monkeypatch):
    kit = workshop.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    room = tmp_path / "room"
    registry.safe_extract(kit, room)  # what a participant does (or `tar xzf`)
    folder = room / "ulmfit-kit"
    assert workshop.verify_kit(folder) == []
    # a fresh machine: only the kit, an empty cache
    monkeypatch.setenv("ULMFIT_DATA", str(folder))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    assert registry.fetch("fake_ds") == folder / "fake_ds"
    model_dir = registry.fetch("fake-fwd")  # verified and extracted from the kit's archive
    assert model_dir == tmp_path / "fresh-cache" / "fake-fwd"
    assert (model_dir / "lstm_fwd.pth").read_bytes() == MODEL_FILES["lstm_fwd.pth"]
    assert all(c.status == "ok" for c in registry.verify("fake_ds"))


def test_use_kit_extracts_verifies_and_sets_ulmfit_data(fake_registry, tmp_path, monkeypatch):
    kit = workshop.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    monkeypatch.setenv("ULMFIT_DATA", "")
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    folder = workshop.use_kit(kit, dest=tmp_path / "here", report=lambda _: None)
    assert folder == tmp_path / "here" / "ulmfit-kit"
    assert registry.fetch("fake_ds") == folder / "fake_ds"  # ULMFIT_DATA now holds the kit
    # a damaged copy is refused, naming the file
    (folder / "fake_ds" / "dev.tsv").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="fake_ds/dev.tsv"):
        workshop.use_kit(folder, report=lambda _: None)


def test_pack_kit_refuses_corrupt_or_missing_files(fake_registry, tmp_path):
    (fake_registry / "fake_ds" / "train.tsv").write_bytes(b"not the course's file")
    with pytest.raises(registry.ChecksumError, match="train.tsv"):
        workshop.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    assert not (tmp_path / "kit.tar.gz").exists()  # nothing half-written
    (fake_registry / "pretrained" / "fake-fwd.tgz").unlink()
    with pytest.raises(FileNotFoundError, match="fake-fwd"):
        workshop.pack_kit(tmp_path / "kit.tar.gz", ["fake-fwd"], report=lambda _: None)


def test_pack_kit_from_an_extracted_model(fake_registry, tmp_path, monkeypatch):
    """Only the extracted folder is on the machine (no archive): its files go in as NAME/..."""
    registry.fetch("fake-fwd")  # extracts into the cache
    (fake_registry / "pretrained" / "fake-fwd.tgz").unlink()
    kit = workshop.pack_kit(tmp_path / "kit.tar.gz", ["fake-fwd"], report=lambda _: None)
    room = tmp_path / "room"
    registry.safe_extract(kit, room)
    monkeypatch.setenv("ULMFIT_DATA", str(room / "ulmfit-kit"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    assert registry.fetch("fake-fwd") == room / "ulmfit-kit" / "fake-fwd"


def test_doctor_healthy(fake_registry):
    lines: list[str] = []
    code = workshop.run_doctor(NAMES, probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    for check in ("python", "torch", "ipywidgets", "data fake_ds", "data fake-fwd", "disk"):
        assert f"] {check}:" in text, check
    assert "READY" in text and "NOT READY" not in text


def test_doctor_names_a_missing_dataset_and_the_fix(fake_registry):
    (fake_registry / "fake_ds" / "dev.tsv").unlink()
    lines: list[str] = []
    code = workshop.run_doctor(NAMES, probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 1
    assert "[FAIL] data fake_ds: missing: dev.tsv" in text
    assert "fix: set ULMFIT_DATA to the extracted workshop kit" in text
    assert "[ ok ] data fake-fwd" in text
    assert "NOT READY" in text and "data fake_ds" in text.splitlines()[-1]


def test_doctor_reports_a_corrupt_copy(fake_registry):
    (fake_registry / "fake_ds" / "dev.tsv").write_bytes(b"changed")
    check = workshop.check_entry("fake_ds")
    assert check.status == "fail" and "corrupt" in check.detail and "dev.tsv" in check.fix


def test_doctor_cli_and_json(fake_registry, capsys):
    assert cli_workshop.main(["doctor", "--no-probe", "--names", *NAMES]) == 0
    assert "data fake_ds" in capsys.readouterr().out
    assert cli_workshop.main(["doctor", "--no-probe", "--json", "--names", "fake_ds"]) == 0
    assert '"name": "data fake_ds"' in capsys.readouterr().out


def test_pack_and_unpack_cli(fake_registry, tmp_path, capsys):
    kit = tmp_path / "kit.tar.gz"
    assert cli_workshop.main(["pack-kit", "--out", str(kit), "--names", *NAMES]) == 0
    assert cli_workshop.main(["unpack-kit", str(kit), "--to", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert f'ULMFIT_DATA="{(tmp_path / "x" / "ulmfit-kit").resolve()}"' in out
    assert cli_workshop.main(["pack-kit", "--out", str(kit), "--names", "no_such_entry"]) == 1


def test_speed_probe_and_prediction(monkeypatch):
    monkeypatch.setattr(workshop, "PROBE", dict(vocab_size=50, bs=2, bptt=8))
    monkeypatch.setattr(workshop, "PROBE_MODEL", dict(emb_size=8, hidden_size=16, n_layers=2))
    # one thread: on a busy shared CPU, two OpenMP threads can be 100x slower for tiny ops
    probe = workshop.speed_probe(seconds=0.2, min_steps=2, threads=1)
    assert probe["seconds_per_step"] > 0 and probe["steps"] >= 2 and probe["threads"] == 1
    times = {
        "reference": {"probe_seconds_per_step": 2.0},
        "notebooks": {"01.ipynb": {"full_seconds": 600}, "02.ipynb": {"full_seconds": 300}},
    }
    assert workshop.predict_course_seconds(4.0, times) == pytest.approx(1800)  # 2x slower
    times["notebooks"]["03.ipynb"] = {"full_seconds": None}  # not measured yet
    assert workshop.predict_course_seconds(4.0, times) is None
    times["notebooks"]["03.ipynb"] = {"full_seconds": 900}
    fake = {"seconds_per_step": 4.0, "steps": 3, "threads": 2, "device": "cpu"}
    monkeypatch.setattr(workshop, "speed_probe", lambda seconds: dict(fake))
    check = workshop.check_speed(1, times=times)
    assert check.status == "ok" and "2.0x" in check.detail and "1 h 00 min" in check.detail
    fake["seconds_per_step"] = 8.0  # 4x the reference: suggest quick mode
    check = workshop.check_speed(1, times=times)
    assert check.status == "warn" and "ULMFIT_QUICK=1" in check.fix
    check = workshop.check_speed(1, times={})
    assert check.status == "info" and "no course-time prediction" in check.detail


def test_times_table_is_valid():
    times = workshop.load_times()
    assert "notebooks" in times and "reference" in times


def test_hosted_setup_is_quiet_and_safe_locally(fake_registry, capsys):
    workshop.hosted_setup(names=NAMES)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("ulmfit_lesson ")
    Path(fake_registry / "fake_ds" / "dev.tsv").unlink()
    workshop.hosted_setup(names=NAMES)
    assert "Not found yet: fake_ds" in capsys.readouterr().out


def test_the_documented_setup_cell_runs_here(fake_registry, capsys):
    """docs/colab.md's setup cell (what every notebook starts with) is valid IPython and, where
    the package is installed, installs nothing and prints one line."""
    from IPython.core.inputtransformer2 import TransformerManager

    doc = (Path(__file__).resolve().parent.parent / "docs" / "colab.md").read_text()
    cell = doc.split("```python\n", 1)[1].split("```", 1)[0]
    assert "%pip install" in cell and "workshop.hosted_setup(KIT)" in cell
    source = TransformerManager().transform_cell(cell)
    assert "get_ipython().run_line_magic('pip'" in source
    exec(compile(source, "setup-cell", "exec"), {"get_ipython": None})  # %pip branch not taken
    assert capsys.readouterr().out.startswith("ulmfit_lesson ")
