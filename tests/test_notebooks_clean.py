"""Committed notebooks are clean (no outputs, no execution counts), and the tool that checks and
strips them (tools/check_notebooks.py, also the pre-commit hook) does what it says."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "check_notebooks.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_spec = importlib.util.spec_from_file_location("check_notebooks", TOOL)
check_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_notebooks)


def run_tool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=60
    )


def clean_notebook() -> dict:
    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "title",
                "metadata": {},
                "source": ["# Title\n", "text"],
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "code-1",
                "metadata": {"tags": ["keep-me"]},
                "outputs": [],
                "source": ["x = 1\n", "x"],
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def dirty_notebook() -> dict:
    nb = clean_notebook()
    code = nb["cells"][1]
    code["execution_count"] = 3
    code["outputs"] = [
        {
            "data": {"text/plain": ["1"]},
            "execution_count": 3,
            "metadata": {},
            "output_type": "execute_result",
        }
    ]
    code["metadata"]["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00Z"}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def write(path: Path, nb: dict) -> Path:
    path.write_text(check_notebooks.dumps(nb), encoding="utf-8")
    return path


def test_the_course_has_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb (nbval would collect nothing)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_is_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = check_notebooks.problems(nb)
    assert not found, (
        f"{path.name} has outputs or run-time state (fix: python tools/check_notebooks.py --strip):\n"
        + "\n".join(found)
    )


def test_problems_lists_each_kind_of_dirt():
    found = check_notebooks.problems(dirty_notebook())
    assert found == [
        "notebook metadata 'widgets'",
        "cell 1 (code): 1 output(s)",
        "cell 1 (code): execution_count 3",
        "cell 1 (code): metadata 'execution'",
    ]
    assert check_notebooks.problems(clean_notebook()) == []


def test_strip_restores_the_clean_notebook():
    stripped = check_notebooks.strip(dirty_notebook())
    assert stripped == clean_notebook()  # sources, tags and kernelspec untouched
    assert check_notebooks.strip(copy.deepcopy(stripped)) == stripped  # idempotent


def test_cli_detects_a_dirty_notebook(tmp_path):
    write(tmp_path / "a_clean.ipynb", clean_notebook())
    dirty = write(tmp_path / "b_dirty.ipynb", dirty_notebook())
    result = run_tool(tmp_path)
    assert result.returncode == 1
    assert f"{dirty}: not clean" in result.stdout
    assert "a_clean.ipynb" not in result.stdout
    assert "execution_count 3" in result.stdout
    assert "--strip" in result.stderr


def test_cli_strip_cleans_in_place(tmp_path):
    clean = write(tmp_path / "a_clean.ipynb", clean_notebook())
    before = clean.stat().st_mtime_ns
    dirty = write(tmp_path / "b_dirty.ipynb", dirty_notebook())

    result = run_tool("--strip", tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(dirty.read_text(encoding="utf-8")) == clean_notebook()
    # Byte-identical to a notebook saved clean: stripping does not reflow the JSON.
    assert dirty.read_text(encoding="utf-8") == clean.read_text(encoding="utf-8")
    assert clean.stat().st_mtime_ns == before  # clean files are not rewritten

    assert run_tool(tmp_path).returncode == 0


def test_cli_skips_checkpoints_and_reports_bad_json(tmp_path):
    checkpoints = tmp_path / ".ipynb_checkpoints"
    checkpoints.mkdir()
    write(checkpoints / "x-checkpoint.ipynb", dirty_notebook())
    assert run_tool(tmp_path).returncode == 0

    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    result = run_tool(tmp_path)
    assert result.returncode == 1
    assert "broken.ipynb: not valid notebook JSON" in result.stderr
    assert run_tool(tmp_path / "missing.ipynb").returncode == 2


def test_serialisation_matches_nbformat():
    """What --strip writes is what nbformat (so JupyterLab) writes: no spurious diffs."""
    nbformat = pytest.importorskip("nbformat")
    for nb in (clean_notebook(), check_notebooks.strip(dirty_notebook())):
        assert check_notebooks.dumps(nb) == nbformat.writes(nbformat.from_dict(nb)) + "\n"
