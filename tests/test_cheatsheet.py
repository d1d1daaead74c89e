"""docs/cheatsheet.md: every constant on the page is the one the package uses (tools/cheatsheet.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import cheatsheet  # noqa: E402


def test_every_constant_on_the_page_is_the_codes():
    assert len(cheatsheet.rows()) >= 20
    assert cheatsheet.problems() == []


def test_a_number_that_drifted_is_caught():
    page = cheatsheet.PAGE.read_text().replace("| BPTT window | 70 |", "| BPTT window | 72 |")
    found = cheatsheet.problems(page)
    assert len(found) == 1 and "BPTT window" in found[0] and "[70.0]" in found[0]


def test_dropouts_and_pairs_are_read_in_the_pages_order():
    assert cheatsheet.lookup("config.CLAS_DROPOUTS") == [0.4, 0.3, 0.4, 0.05, 0.5]
    assert cheatsheet.lookup("config.ADAM_BETAS") == [0.7, 0.99]
    assert cheatsheet.lookup("AWDLSTMConfig.hidden_size") == [1152.0]


def test_the_figure_is_drawn_from_the_same_constants(tmp_path):
    out = cheatsheet.draw(tmp_path / "sheet.png")
    assert out.stat().st_size > 20_000
    assert cheatsheet.FIGURE.is_file(), "run python tools/cheatsheet.py"
