"""cli_args.py: argument ranges, text sources and disk-space estimates shared by the commands."""

import argparse

import pytest

from ulmfit_lesson.cli_args import at_least, bytes_needed, read_texts


def test_at_least_accepts_the_range_and_names_what_it_refuses():
    assert at_least(1)("3") == 3
    assert at_least(0.0, float, strict=True)("0.5") == 0.5
    for parse, text, message in [
        (at_least(1), "0", "must be >= 1, got 0"),
        (at_least(0.0, float, strict=True), "0", "must be > 0.0, got 0"),
        (at_least(1), "two", "expected an integer, got 'two'"),
        (at_least(0.0, float), "nan", "expected a finite number, got 'nan'"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)


def test_bytes_needed_scales_with_the_source_and_the_copies(tmp_path):
    archive = tmp_path / "m.tgz"
    archive.write_bytes(b"x" * 1000)
    checkpoint = tmp_path / "lm.pt"
    checkpoint.write_bytes(b"x" * 1000)
    assert bytes_needed(archive, 2) == 5400  # compressed float16: 2.7 times per copy
    assert bytes_needed(checkpoint, 3) == 3990
    assert bytes_needed(tmp_path, 1) == int(1.33 * 2000)
    assert bytes_needed("general-fwd", 1) == 200 * 2**20  # a registry name not on disk


def test_read_texts_from_lines_and_folders(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\n  \ntwo\n", encoding="utf-8")
    assert read_texts(str(tmp_path / "a.txt")) == ["one", "two"]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "1.txt").write_text("first doc", encoding="utf-8")
    (folder / "2.txt").write_text("second\\ndoc", encoding="utf-8")
    assert read_texts(str(folder)) == ["first doc", "second\\ndoc"]
