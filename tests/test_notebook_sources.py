"""Each notebook and its jupytext source (jupytext.toml pairs them) hold the same cells, the
shared cells (tools/notebook_cells.py) are the same everywhere, and tools/check_notebook_sources.py
finds and fixes what it says it does."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import check_notebook_sources as sources  # noqa: E402
import notebook_cells  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
IDS = [str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS]
PERCENT = {"extension": ".py", "format_name": "percent"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_matches_its_source_and_the_shared_cells(path):
    src, fmt = sources.source_of(path)
    assert src == path.parent / "src" / f"{path.stem}.py" and fmt == PERCENT
    notebook = nbformat.read(path, as_version=4)
    assert sources.sync_differences(notebook, jupytext.read(src, fmt=fmt), fmt) == [], (
        f"run: jupytext --sync {path.relative_to(ROOT)}"
    )
    assert sources.shared_cell_problems(notebook, notebook_cells.shared_cells()) == [], (
        "run: python tools/check_notebook_sources.py --fix"
    )
    # The source alone rebuilds the notebook: every cell's text and metadata (the slide tags), and
    # the kernel; only the cell ids are the .ipynb's own (a sync keeps them).
    alone = jupytext.read(src)
    assert sources.cell_contents(alone) == sources.cell_contents(notebook)
    assert alone.metadata["kernelspec"] == notebook.metadata["kernelspec"]


def test_the_whole_check_passes_on_the_repository():
    assert sources.check(ROOT / "notebooks", notebook_cells.COLAB_DOC) == []
    # The pretrained choice is a shared cell that most notebooks hold: the check does look at it.
    texts = [p.read_text(encoding="utf-8") for p in NOTEBOOKS]
    assert sum("PRETRAINED = pretrained.course_model()" in t for t in texts) >= 8


# ------------------------------------------------------------------ the check, on a copy of two


@pytest.fixture
def course(tmp_path):
    """Two notebooks (one in a subfolder), their sources, the pairing and docs/colab.md."""
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    folder = tmp_path / "notebooks"
    for rel in ("01_tokens_and_vocabulary", "talk/talk_demo"):
        nb = ROOT / "notebooks" / f"{rel}.ipynb"
        target = folder / f"{rel}.ipynb"
        (target.parent / "src").mkdir(parents=True, exist_ok=True)
        shutil.copy(nb, target)
        shutil.copy(nb.parent / "src" / f"{nb.stem}.py", target.parent / "src")
    shutil.copy(notebook_cells.COLAB_DOC, tmp_path / "colab.md")
    return tmp_path


def run_check(course: Path, *args: str) -> tuple[int, str]:
    """The tool's exit status and output on ``course`` (in this process: one jupytext import)."""
    argv = [*args, str(course / "notebooks"), "--colab-doc", str(course / "colab.md")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = sources.main(argv)
    return code, out.getvalue()


def paths(course: Path) -> tuple[Path, Path]:
    nb = course / "notebooks" / "01_tokens_and_vocabulary.ipynb"
    return nb, nb.parent / "src" / "01_tokens_and_vocabulary.py"


def snapshot(course: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(course.rglob("*")) if p.is_file()}


def rewrite_pair(course: Path, edit) -> None:
    """Apply ``edit`` to the notebook and write both files, consistently (as a sync would)."""
    nb_path, src = paths(course)
    nb = nbformat.read(nb_path, as_version=4)
    edit(nb)
    nb_path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    src.write_text(jupytext.writes(nb, fmt=PERCENT), encoding="utf-8")


def test_a_copy_passes_and_fix_writes_nothing(course):
    before = snapshot(course)
    tool = [sys.executable, str(ROOT / "tools" / "check_notebook_sources.py")]
    cli = subprocess.run(
        [*tool, str(course / "notebooks"), "--colab-doc", str(course / "colab.md")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    code, out = run_check(course, "--fix")
    assert code == 0 and "wrote" not in out
    assert snapshot(course) == before


def test_an_edit_to_the_source_is_reported_until_synced(course):
    nb_path, src = paths(course)
    before = nbformat.read(nb_path, as_version=4)
    src.write_text(src.read_text().replace("mode:", "mode is:", 1), encoding="utf-8")
    code, out = run_check(course)
    assert code == 1
    assert f"{nb_path} and {src}: cell 2 (code, '%matplotlib inline'): its text differs" in out
    assert f"run `jupytext --sync {nb_path}`" in out

    future = nb_path.stat().st_mtime + 10
    os.utime(src, (future, future))  # the source is the newer file: the sync copies it over
    sync = [sys.executable, "-m", "jupytext", "--sync", str(nb_path)]
    subprocess.run(sync, check=True, capture_output=True, timeout=120)
    assert run_check(course)[0] == 0
    after = nbformat.read(nb_path, as_version=4)
    assert 'print("mode is:"' in after.cells[2].source
    assert [c.id for c in after.cells] == [c.id for c in before.cells]  # ids kept: a small diff


def test_a_lost_slide_tag_or_an_extra_cell_is_reported(course):
    nb_path, src = paths(course)
    nb = nbformat.read(ROOT / "notebooks/talk/talk_demo.ipynb", as_version=4)
    slide = next(i for i, c in enumerate(nb.cells) if c.metadata.get("slideshow"))
    del nb.cells[slide].metadata["slideshow"]
    talk = course / "notebooks/talk/talk_demo.ipynb"
    talk.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    src.write_text(src.read_text() + "\n# %%\nprint('one more')\n", encoding="utf-8")
    code, out = run_check(course)
    assert code == 1
    assert f"cell {slide} (markdown, " in out and "its metadata differs" in out
    n = len(nbformat.read(nb_path, as_version=4).cells)
    assert f"{n} cells in the notebook, {n + 1} in its source" in out


def test_a_notebook_without_source_and_a_source_without_notebook(course):
    nb_path, src = paths(course)
    src.unlink()
    stray = course / "notebooks/talk/src/old_demo.py"
    stray.write_text("# %%\n1\n", encoding="utf-8")
    code, out = run_check(course)
    assert code == 1
    assert f"{nb_path}: no source {src}" in out
    assert f"{stray}: a source without its notebook" in out


def test_shared_cell_drift_is_found_and_fixed_in_both_files(course):
    before = snapshot(course)

    def drift(nb):
        cell = next(c for c in nb.cells if "pretrained.course_model()" in c.source)
        cell.source = cell.source.replace("chosen in one place", "chosen here")

    rewrite_pair(course, drift)
    code, out = run_check(course)
    assert code == 1 and "differs from the shared pretrained choice cell" in out
    code, out = run_check(course, "--fix")
    assert code == 0, out
    assert snapshot(course) == before  # both files back to the shared text, byte for byte


def test_fix_restores_metadata_and_a_missing_setup_cell(course):
    nb_path, src = paths(course)
    expected = [c.source for c in nbformat.read(nb_path, as_version=4).cells]

    def damage(nb):
        del nb.cells[1]  # the setup cell (first code cell)
        nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}  # a Lab save

    rewrite_pair(course, damage)
    code, out = run_check(course)
    assert "the first code cell is not the setup cell" in out
    assert "notebook metadata is" in out
    assert run_check(course, "--fix")[0] == 0
    fixed = nbformat.read(nb_path, as_version=4)
    assert [c.source for c in fixed.cells] == expected
    assert dict(fixed.metadata) == notebook_cells.NOTEBOOK_METADATA
    assert [c.source for c in jupytext.read(src).cells] == expected


def test_fix_leaves_a_pair_out_of_sync_to_the_developer(course):
    nb_path, src = paths(course)
    src.write_text(src.read_text().replace("mode:", "mode is:", 1), encoding="utf-8")
    before = snapshot(course)
    code, out = run_check(course, "--fix")
    assert code == 1 and "jupytext --sync" in out
    assert snapshot(course) == before


def test_the_colab_doc_shows_the_setup_cell(course):
    doc = course / "colab.md"
    before = doc.read_bytes()
    doc.write_text(doc.read_text().replace("KIT = ''", "").replace('KIT = ""', 'KIT = "x"'))
    code, out = run_check(course)
    assert code == 1 and f"{doc}: the setup cell differs" in out
    assert run_check(course, "--fix")[0] == 0
    assert doc.read_bytes() == before


# ------------------------------------------------------------------------------ the shared text


def test_the_setup_cell_comes_from_pyproject():
    urls = {"Repository": "https://example.org/me/fork/"}
    project = {"urls": urls, "dependencies": ["torch>=2.4", "numpy"]}
    cell = notebook_cells.setup_cell(project)
    assert '%pip install -q "ulmfit-lesson @ git+https://example.org/me/fork"' in cell.source
    assert "# Its dependencies (torch>=2.4, numpy) are already on Colab" in cell.source
    assert cell.source.splitlines()[-1] == cell.marker == "plan.hosted_setup(KIT)"

    with pytest.raises(SystemExit, match="pins"):
        notebook_cells.setup_cell({**project, "dependencies": ["torch==2.13.0"]})
    with pytest.raises(SystemExit, match="Repository"):
        notebook_cells.setup_cell({**project, "urls": {"Repository": "git@github.com:me/fork"}})
    repo = notebook_cells.read_project()["urls"]["Repository"].rstrip("/")
    assert f"git+{repo}" in notebook_cells.setup_cell().source
