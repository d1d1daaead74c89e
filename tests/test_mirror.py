"""The room's mirror: the pull-through layout, serving it, and the course's model chosen through it."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest

from ulmfit_lesson import mirror, registry
from ulmfit_lesson.registry import Entry, FileSpec


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in ("ULMFIT_DATA", "ULMFIT_MIRROR", "ULMFIT_SHA256"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    registry._on_mirror.clear()
    return tmp_path


def test_build_mirror_lays_files_out_at_host_path_and_serves_them(env, monkeypatch):
    data = env / "data"
    (data / "toy").mkdir(parents=True)
    (data / "toy" / "a.tsv").write_bytes(b"public")
    (data / "toy" / "b.jsonl").write_bytes(b"local only")
    toy = Entry(
        "toy",
        "dataset",
        (
            FileSpec("a.tsv", "https://example.org/x/a.tsv", sha(b"public")),
            FileSpec("b.jsonl", None, sha(b"local only")),
        ),
        "-",
        "-",
        "-",
    )
    monkeypatch.setenv("ULMFIT_DATA", str(data))
    root = mirror.build_mirror(env / "mirror", [toy])
    assert (root / "example.org/x/a.tsv").read_bytes() == b"public"
    assert (root / registry.LOCAL_MIRROR_PATH / "toy/b.jsonl").read_bytes() == b"local only"
    monkeypatch.delenv("ULMFIT_DATA")
    with mirror.serve(root) as url:
        monkeypatch.setenv("ULMFIT_MIRROR", url)
        with urllib.request.urlopen(f"{url}/example.org/x/a.tsv") as response:
            assert response.read() == b"public"
        folder = registry.fetch(toy)  # both files through the mirror, each checked on arrival
    assert (folder / "a.tsv").read_bytes() == b"public"
    assert (folder / "b.jsonl").read_bytes() == b"local only"

    monkeypatch.setenv("ULMFIT_DATA", str(data))
    (data / "toy" / "b.jsonl").unlink()
    (folder / "b.jsonl").unlink()  # the cache is a data directory too
    with pytest.raises(FileNotFoundError, match=r"'toy'.*b\.jsonl"):
        mirror.build_mirror(env / "mirror2", [toy])


def test_course_model_prefers_general_on_disk_or_on_the_mirror(env, monkeypatch):
    assert registry.course_model() == "wt103-fwd"
    assert registry.course_model("bwd") == "wt103-bwd"
    with pytest.raises(ValueError, match="'fwd' or 'bwd'"):
        registry.course_model("up")
    root = env / "mirror"
    path = root / registry.LOCAL_MIRROR_PATH / "general-fwd" / "general-fwd.tgz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"served")
    with mirror.serve(root) as url:
        monkeypatch.setenv("ULMFIT_MIRROR", url)
        assert registry.course_model() == "general-fwd"  # the room's mirror has the course's own
        assert registry.course_model("bwd") == "wt103-bwd"  # ... but not the backward one
    registry._on_mirror.clear()
    assert registry.course_model() == "wt103-fwd"  # mirror gone: fastai's public model
