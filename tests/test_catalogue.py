"""catalogue.py: every entry is complete (licence, citation, a URL or a way to get it, a sha256)."""

import pytest

from ulmfit_lesson.catalogue import REGISTRY, get_entry


def test_unknown_entry_suggests_a_name():
    with pytest.raises(ValueError, match="Did you mean 'poem_sentiment'"):
        get_entry("poem_sentimnet")


def test_registry_entries_are_complete():
    for entry in REGISTRY.values():
        assert entry.kind in ("dataset", "pretrained")
        assert entry.licence and entry.citation and entry.description
        for f in entry.files:
            assert f.url or "workshop kit" in entry.note, (
                f"{entry.name}/{f.filename}: no URL, no note"
            )
            assert f.sha256 or "sha256" in entry.note, (
                f"{entry.name}/{f.filename}: unexplained missing sha256"
            )
            if f.sha256:
                assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0


def test_an_entry_names_its_files():
    entry = get_entry("poem_sentiment")
    assert get_entry(entry) is entry  # an Entry is returned as it is
    assert entry.file(entry.files[0].filename) is entry.files[0]
    with pytest.raises(ValueError, match="has no file 'nope'; its files are: "):
        entry.file("nope")
