"""Check that every notebook says what its source says, and that shared cells are shared.

    python tools/check_notebook_sources.py        # exit 1, naming each notebook out of step
    python tools/check_notebook_sources.py --fix  # rewrite shared cells and metadata in both files

Each ``notebooks/**/NAME.ipynb`` (what learners open, committed clean) is paired by
``jupytext.toml`` with a jupytext percent-format source, ``src/NAME.py`` beside it (what a diff or
an editor reads). Either may be edited; ``jupytext --sync`` then rewrites the older one. This
check fails, naming the notebook, when

1. a notebook has no source or a source has no notebook;
2. the two hold different cells (kind, text, metadata such as slide tags), or kernels: both are
   converted by jupytext in memory and compared, so only what a sync would change counts;
3. the notebook's metadata is not ``notebook_cells.NOTEBOOK_METADATA``;
4. the first code cell is not the setup cell, or a copy of a shared cell (``tools/notebook_cells.py``)
   differs from the shared text; ``docs/colab.md``'s copy of the setup cell included.

``--fix`` repairs 3 and 4 (in the notebook and its source alike, and in docs/colab.md), so a shared
cell is edited once, in ``tools/notebook_cells.py``. It refuses a pair that is out of sync: which
side is right is for ``jupytext --sync`` (the newer file) or the developer to say.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jupytext
import nbformat
import notebook_cells
from jupytext.config import load_jupytext_config
from jupytext.paired_paths import paired_paths
from nbformat.v4 import new_code_cell
from notebook_cells import NOTEBOOK_METADATA, SharedCell

DEFAULT_DIR = notebook_cells.ROOT / "notebooks"


def source_of(notebook: Path) -> tuple[Path, dict]:
    """The text file that ``jupytext.toml`` pairs with ``notebook``, and its jupytext format."""
    config = load_jupytext_config(str(notebook.parent))
    formats = config.default_formats(str(notebook)) if config else None
    if not formats:
        raise SystemExit(f"{notebook}: no jupytext.toml above it pairs it with a source file")
    for path, fmt in paired_paths(str(notebook), "ipynb", formats):
        if fmt["extension"] != ".ipynb":
            return Path(path), {k: fmt[k] for k in ("extension", "format_name") if k in fmt}
    raise SystemExit(f"{notebook}: jupytext.toml pairs it with no text file")


def find_pairs(folder: Path) -> tuple[list[tuple[Path, Path, dict]], list[str]]:
    """``(notebook, source, format)`` for each notebook under ``folder``, and the problems of
    notebooks without a source and sources without a notebook."""
    notebooks = [p for p in sorted(folder.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    pairs = [(nb, *source_of(nb)) for nb in notebooks]
    problems = [
        f"{nb}: no source {src} (run: jupytext --sync {nb})"
        for nb, src, _ in pairs
        if not src.exists()
    ]
    paired = {src.resolve() for _, src, _ in pairs}
    problems += [
        f"{py}: a source without its notebook (run: jupytext --sync {py}, or delete it)"
        for py in sorted(folder.rglob("*.py"))
        if py.resolve() not in paired and ".ipynb_checkpoints" not in py.parts
    ]
    return [pair for pair in pairs if pair[1].exists()], problems


def cell_contents(nb) -> list[tuple[str, str, dict]]:
    """What a pair must agree on, cell by cell: kind, text and metadata (ids are the .ipynb's own)."""
    return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


def sync_differences(notebook, source, fmt: dict) -> list[str]:
    """Where ``notebook`` (from the .ipynb) and ``source`` (read from the .py) differ, as jupytext
    sees them: the notebook goes through the text format and back, so metadata that jupytext
    does not keep in text (cell ids, run-time state) cannot differ."""
    as_text = jupytext.reads(jupytext.writes(notebook, fmt=fmt), fmt=fmt)
    ours, theirs = cell_contents(as_text), cell_contents(source)
    found = []
    if as_text.metadata.get("kernelspec") != source.metadata.get("kernelspec"):
        found.append("the kernelspec differs")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            what = "kind" if a[0] != b[0] else "text" if a[1] != b[1] else "metadata"
            first_line = a[1].partition("\n")[0][:60]
            found.append(
                f"cell {i} ({a[0]}, {first_line!r}): its {what} differs (first difference)"
            )
            break
    if len(ours) != len(theirs):
        found.append(f"{len(ours)} cells in the notebook, {len(theirs)} in its source")
    return found


def _is_copy(cell, shared: SharedCell) -> bool:
    return cell.cell_type == "code" and shared.marker in (
        line.strip() for line in cell.source.splitlines()
    )


def _title_cell(nb):
    return next(
        (c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# ")), None
    )


def site_link_problem(nb, stem: str | None) -> str | None:
    """A lesson's title cell must link to its page on the course site (``notebook_cells.site_link``)."""
    if stem is None or not notebook_cells.LESSON.match(stem):
        return None
    title = _title_cell(nb)
    if title is None or notebook_cells.site_link(stem) not in title.source:
        return "its title cell does not link to its page on the course site"
    return None


def add_site_link(nb, stem: str) -> None:
    """Put the site link right under the title (replacing an older link line)."""
    title = _title_cell(nb)
    if title is None:
        return
    lines = [ln for ln in title.source.split("\n") if "on the course site](" not in ln]
    lines[1:1] = ["", notebook_cells.site_link(stem)]
    title.source = "\n".join(lines).replace("\n\n\n", "\n\n")


def shared_cell_problems(nb, cells: list[SharedCell], stem: str | None = None) -> list[str]:
    """What differs from the shared cells (``cells[0]`` is the setup cell), the metadata, and (for
    a lesson named ``stem``) the link to its page on the course site."""
    found = [p for p in [site_link_problem(nb, stem)] if p]
    if dict(nb.metadata) != NOTEBOOK_METADATA:
        found.append(f"notebook metadata is {dict(nb.metadata)}, not {NOTEBOOK_METADATA}")
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code or not _is_copy(code[0], cells[0]):
        found.append("the first code cell is not the setup cell")
    for i, cell in enumerate(nb.cells):
        for shared in cells:
            if _is_copy(cell, shared) and cell.source != shared.source:
                found.append(f"cell {i}: differs from the shared {shared.name} cell")
    return found


def fix_shared_cells(nb, cells: list[SharedCell], stem: str | None = None):
    """A copy of ``nb`` with every shared cell's text and the metadata restored; a missing setup
    cell is inserted before the first code cell, a missing site link under the title."""
    nb = copy.deepcopy(nb)
    if site_link_problem(nb, stem):
        add_site_link(nb, stem)
    nb.metadata = nbformat.from_dict(copy.deepcopy(NOTEBOOK_METADATA))
    setup = cells[0]
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    if not code or not _is_copy(nb.cells[code[0]], setup):
        nb.cells.insert(code[0] if code else len(nb.cells), new_code_cell(setup.source))
    for cell in nb.cells:
        for shared in cells:
            if _is_copy(cell, shared):
                cell.source = shared.source
    return nb


def _write_if_changed(path: Path, text: str) -> bool:
    if path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return True


def check(folder: Path, colab: Path | None, fix: bool = False) -> list[str]:
    """Every problem found (after fixing what ``fix`` can), one line each, naming the file."""
    cells = notebook_cells.shared_cells()
    pairs, problems = find_pairs(folder)
    for path, src, fmt in pairs:
        notebook = nbformat.read(path, as_version=4)
        try:
            nbformat.validate(notebook)
        except nbformat.ValidationError as err:
            problems.append(f"{path}: not a valid notebook ({err.message})")
            continue
        out_of_sync = sync_differences(notebook, jupytext.read(src, fmt=fmt), fmt)
        problems += [f"{path} and {src}: {p}" for p in out_of_sync]
        if out_of_sync:
            problems.append(f"{path}: run `jupytext --sync {path}` (the newer file wins)")
            continue
        stem = path.stem if path.parent == DEFAULT_DIR else None
        found = shared_cell_problems(notebook, cells, stem)
        if found and fix:
            fixed = fix_shared_cells(notebook, cells, stem)
            _write_if_changed(path, nbformat.writes(fixed) + "\n")
            _write_if_changed(src, jupytext.writes(fixed, fmt=fmt))
            found = shared_cell_problems(fixed, cells, stem)
        problems += [f"{path}: {p}" for p in found]
    if colab is not None:
        text = colab.read_text(encoding="utf-8")
        expected = notebook_cells.colab_doc(text, cells[0])
        if expected != text and not (fix and _write_if_changed(colab, expected)):
            problems.append(f"{colab}: the setup cell differs from tools/notebook_cells.py")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--colab-doc", type=Path, default=notebook_cells.COLAB_DOC)
    parser.add_argument("--fix", action="store_true", help="rewrite shared cells and metadata")
    args = parser.parse_args(argv)
    problems = check(args.folder, args.colab_doc, fix=args.fix)
    for problem in problems:
        print(problem)
    if problems:
        if not args.fix:
            print("Shared cells and metadata: python tools/check_notebook_sources.py --fix")
        return 1
    print(f"{args.folder}: every notebook matches its source and the shared cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
