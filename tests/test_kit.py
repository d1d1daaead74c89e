"""ulmfit_lesson.course.kit: the offline kit (pack, extract, use as ULMFIT_DATA), downloading
now (``fetch``) and the room's mirror (``serve-kit``)."""

from __future__ import annotations

import os
import tarfile

import pytest

from tests.course_fakes import DS_FILES, MODEL_FILES, MODEL_TGZ, NAMES, sha
from ulmfit_lesson import registry
from ulmfit_lesson.course import cli_workshop, kit, plan
from ulmfit_lesson.registry import Entry, FileSpec

pytest_plugins = ["tests.course_fakes"]  # the fixtures fake_registry and fresh


def test_pack_kit_layout_and_checksums(fake_registry, tmp_path):
    archive = kit.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    with tarfile.open(archive) as tf:
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
    archive = kit.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    room = tmp_path / "room"
    registry.safe_extract(archive, room)  # what a participant does (or `tar xzf`)
    folder = room / "ulmfit-kit"
    assert kit.verify_kit(folder) == []
    # a fresh machine: only the kit, an empty cache
    monkeypatch.setenv("ULMFIT_DATA", str(folder))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    assert registry.fetch("fake_ds") == folder / "fake_ds"
    model_dir = registry.fetch("fake-fwd")  # verified and extracted from the kit's archive
    assert model_dir == tmp_path / "fresh-cache" / "fake-fwd"
    assert (model_dir / "lstm_fwd.pth").read_bytes() == MODEL_FILES["lstm_fwd.pth"]
    assert all(c.status == "ok" for c in registry.verify("fake_ds"))


def test_use_kit_extracts_verifies_and_sets_ulmfit_data(fake_registry, tmp_path, monkeypatch):
    archive = kit.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    monkeypatch.setenv("ULMFIT_DATA", "")
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    folder = kit.use_kit(archive, dest=tmp_path / "here", report=lambda _: None)
    assert folder == tmp_path / "here" / "ulmfit-kit"
    assert registry.fetch("fake_ds") == folder / "fake_ds"  # ULMFIT_DATA now holds the kit
    # a damaged copy is refused, naming the file
    (folder / "fake_ds" / "dev.tsv").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="fake_ds/dev.tsv"):
        kit.use_kit(folder, report=lambda _: None)


def test_pack_kit_refuses_corrupt_or_missing_files(fake_registry, tmp_path):
    (fake_registry / "fake_ds" / "train.tsv").write_bytes(b"not the course's file")
    with pytest.raises(registry.ChecksumError, match="train.tsv"):
        kit.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    assert not (tmp_path / "kit.tar.gz").exists()  # nothing half-written
    (fake_registry / "pretrained" / "fake-fwd.tgz").unlink()
    with pytest.raises(FileNotFoundError, match="fake-fwd"):
        kit.pack_kit(tmp_path / "kit.tar.gz", ["fake-fwd"], report=lambda _: None)


def test_pack_kit_from_an_extracted_model(fake_registry, tmp_path, monkeypatch):
    """Only the extracted folder is on the machine (no archive): its files go in as NAME/..."""
    registry.fetch("fake-fwd")  # extracts into the cache
    (fake_registry / "pretrained" / "fake-fwd.tgz").unlink()
    archive = kit.pack_kit(tmp_path / "kit.tar.gz", ["fake-fwd"], report=lambda _: None)
    room = tmp_path / "room"
    registry.safe_extract(archive, room)
    monkeypatch.setenv("ULMFIT_DATA", str(room / "ulmfit-kit"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    assert registry.fetch("fake-fwd") == room / "ulmfit-kit" / "fake-fwd"


def test_pack_and_unpack_cli(fake_registry, tmp_path, capsys):
    archive = tmp_path / "kit.tar.gz"
    assert cli_workshop.main(["pack-kit", "--out", str(archive), "--names", *NAMES]) == 0
    assert cli_workshop.main(["unpack-kit", str(archive), "--to", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert f'ULMFIT_DATA="{(tmp_path / "x" / "ulmfit-kit").resolve()}"' in out
    assert cli_workshop.main(["pack-kit", "--out", str(archive), "--names", "no_such_entry"]) == 1


def _serve_fake(fake_registry, tmp_path):
    """A loopback mirror of the fake entries (the local-only layout)."""
    from ulmfit_lesson import mirror

    mirror.build_mirror(tmp_path / "mirror", NAMES)
    return mirror.serve(tmp_path / "mirror")


def test_fetch_downloads_now(fake_registry, tmp_path, monkeypatch, capsys):
    fresh = tmp_path / "cache"  # fake_registry's, still empty
    with _serve_fake(fake_registry, tmp_path) as url:
        monkeypatch.delenv("ULMFIT_DATA")
        monkeypatch.setenv(registry.MIRROR_ENV, url)
        assert cli_workshop.main(["fetch", "fake_ds", "fake-fwd"]) == 0
    assert (fresh / "fake_ds" / "dev.tsv").read_bytes() == DS_FILES["dev.tsv"]
    assert (fresh / "fake-fwd" / "lstm_fwd.pth").is_file()
    assert f"fake-fwd: {fresh / 'fake-fwd'}" in capsys.readouterr().out
    assert cli_workshop.main(["fetch", "no_such_entry"]) == 1


def test_fetch_sha256_pins_a_file_without_a_published_digest(fresh, tmp_path, monkeypatch):
    """--sha256: a wrong value refuses the download (nothing kept); the right one is recorded."""
    from ulmfit_lesson import mirror

    entry = Entry(
        "unpinned-fwd",
        "pretrained",
        (FileSpec("unpinned-fwd.tgz", "https://example.invalid/models/unpinned-fwd.tgz", None),),
        "CC0",
        "Nobody 2024",
        "a model without a published sha256",
        extracts_to="fake-fwd",
    )
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    target = tmp_path / "mirror" / registry.mirror_path(entry, entry.files[0])
    target.parent.mkdir(parents=True)
    target.write_bytes(MODEL_TGZ)
    with mirror.serve(tmp_path / "mirror") as url:
        monkeypatch.setenv(registry.MIRROR_ENV, url)
        assert cli_workshop.main(["fetch", entry.name, "--sha256", "0" * 64]) == 1
        assert not (fresh / "unpinned-fwd.tgz").exists()
        assert not (fresh / "unpinned-fwd").exists()
        assert entry.files[0].filename not in registry.recorded_sha256()
        assert cli_workshop.main(["fetch", entry.name, "--sha256", sha(MODEL_TGZ).upper()]) == 0
    record = registry.recorded_sha256()[entry.files[0].filename]
    assert record["sha256"] == sha(MODEL_TGZ) and record["size"] == len(MODEL_TGZ)
    assert cli_workshop.main(["fetch", "fake_ds", "fake-fwd", "--sha256", "0" * 64]) == 2
    assert cli_workshop.main(["fetch", entry.name, "--sha256", "abc"]) == 2
    assert cli_workshop.main(["fetch", "general-fwd", "--sha256", "0" * 64]) == 2  # published
    assert registry.PIN_ENV not in os.environ  # the pin was for that run only


def test_serve_kit_out_writes_the_mirror_layout(fake_registry, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kit, "COURSE_ENTRIES", tuple(NAMES))
    out = tmp_path / "room"
    assert cli_workshop.main(["serve-kit", "--out", str(out)]) == 0
    local = out / registry.LOCAL_MIRROR_PATH
    assert (local / "fake_ds" / "dev.tsv").read_bytes() == DS_FILES["dev.tsv"]
    assert (local / "fake-fwd" / "fake-fwd.tgz").read_bytes() == MODEL_TGZ
    assert not (local / "fake-fwd" / "fake-fwd.tgz").is_symlink()  # a copy: movable
    assert "python -m http.server" in capsys.readouterr().out
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "empty-cache"))
    assert cli_workshop.main(["serve-kit", "--out", str(tmp_path / "x")]) == 1


def test_serve_kit_serves_a_kit_to_the_room(fake_registry, tmp_path, monkeypatch):
    """From a kit archive: verified, laid out, served; a participant's fresh machine fetches from
    it with ULMFIT_MIRROR; the printed line is the one participants set."""
    import threading

    monkeypatch.setattr(kit, "COURSE_ENTRIES", tuple(NAMES))
    archive = kit.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    monkeypatch.setenv("ULMFIT_DATA", "")
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=kit.serve_kit,
        kwargs=dict(kit=archive, host="127.0.0.1", port=0, report=lines.append, stop=stop),
    )
    thread.start()
    try:
        for _ in range(200):
            if any("Serving" in line for line in lines):
                break
            stop.wait(0.05)
        text = "\n".join(lines)
        assert "ULMFIT_MIRROR=http://127.0.0.1:" in text and "hostname -I" in text, text
        url = text.split("ULMFIT_MIRROR=", 1)[1].split()[0]
        monkeypatch.setenv("ULMFIT_DATA", "")  # the participant: no kit, an empty cache
        monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "participant"))
        monkeypatch.setenv(registry.MIRROR_ENV, url)
        assert registry.fetch("fake_ds") == tmp_path / "participant" / "fake_ds"
        assert (registry.fetch("fake-fwd") / "itos.pkl").read_bytes() == MODEL_FILES["itos.pkl"]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_lan_address_sends_nothing_and_is_not_loopback():
    address = kit.lan_address()
    assert address is None or (not address.startswith("127.") and address.count(".") == 3)


def test_the_mirror_serves_what_a_rebuild_of_the_corpus_reads():
    assert set(plan.CORPUS_SOURCES) <= set(kit.MIRROR_EXTRAS)
    assert not set(kit.MIRROR_EXTRAS) & set(kit.COURSE_ENTRIES)
