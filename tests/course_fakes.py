"""Fakes shared by the course's workshop tests (test_kit, test_plan, test_doctor).

Registry entries are small fakes made here (a dataset of two files, a pretrained-model archive),
put into ``registry.REGISTRY`` for the test; ``ULMFIT_DATA`` / ``ULMFIT_CACHE`` point at tmp dirs.
A test file loads the fixtures (``fake_registry``, ``fresh``) with ``pytest_plugins``; the
constants it imports. PYTEST_DONT_REWRITE: imported by the test files before pytest loads it as
a plugin, and it asserts nothing.
"""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from ulmfit_lesson import registry
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


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """No ULMFIT_DATA, no mirror, an empty cache: a self-learner's laptop."""
    for var in ("ULMFIT_DATA", "ULMFIT_DATA_BASE", registry.MIRROR_ENV, registry.PIN_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
