"""Check that committed notebooks are clean, or clean them (``--strip``).

A clean notebook has no outputs, no execution counts, no saved widget state and no per-cell
execution timings: the repository holds the lesson, and every reader runs it themselves.
Executed copies are build output (``make course`` writes them to ``build/notebooks/``).

    python tools/check_notebooks.py                 # check notebooks/, exit 1 listing dirty ones
    python tools/check_notebooks.py --strip         # clean them in place
    python tools/check_notebooks.py a.ipynb b.ipynb # only these (pre-commit passes file names)

Standard library only (json), so it runs before anything is installed. The output format matches
nbformat's (indent 1, sorted keys, trailing newline), so stripping does not reflow a notebook.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# Notebook-level metadata written by running a notebook, not by writing it.
DIRTY_NOTEBOOK_METADATA = ("widgets",)
# Cell-level metadata written by running a cell (JupyterLab's "record timing", old "scrolled").
DIRTY_CELL_METADATA = ("execution", "collapsed", "scrolled")


def find_notebooks(paths: list[Path]) -> list[Path]:
    """Expand directories into their ``*.ipynb`` files (skipping checkpoints), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such notebook or directory")
    return found


def problems(nb: dict) -> list[str]:
    """Describe what makes a parsed notebook dirty; an empty list means it is clean."""
    found = []
    for key in DIRTY_NOTEBOOK_METADATA:
        if key in nb.get("metadata", {}):
            found.append(f"notebook metadata '{key}'")
    for i, cell in enumerate(nb.get("cells", [])):
        where = f"cell {i} ({cell.get('cell_type', '?')})"
        if cell.get("outputs"):
            found.append(f"{where}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"{where}: execution_count {cell['execution_count']}")
        for key in DIRTY_CELL_METADATA:
            if key in cell.get("metadata", {}):
                found.append(f"{where}: metadata '{key}'")
    return found


def strip(nb: dict) -> dict:
    """Clear outputs, execution counts and run-time metadata, in place; returns ``nb``."""
    for key in DIRTY_NOTEBOOK_METADATA:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:  # malformed, but seen in hand-edited notebooks
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        for key in DIRTY_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
    return nb


def dumps(nb: dict) -> str:
    """Serialise like nbformat does, so a stripped notebook diffs only where it changed."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid notebook JSON ({err})") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks or directories")
    parser.add_argument("--strip", action="store_true", help="clean the notebooks in place")
    args = parser.parse_args(argv)

    try:
        notebooks = find_notebooks(args.paths or [DEFAULT_DIR])
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    dirty = 0
    for path in notebooks:
        try:
            nb = read(path)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            dirty += 1
            continue
        found = problems(nb)
        if not found:
            continue
        if args.strip:
            path.write_text(dumps(strip(nb)), encoding="utf-8")
            print(f"stripped {path} ({len(found)} item(s))")
        else:
            dirty += 1
            print(f"{path}: not clean")
            for item in found:
                print(f"    {item}")
    if dirty and not args.strip:
        print(
            f"\n{dirty} of {len(notebooks)} notebook(s) have outputs or run-time state. "
            "Clean them with: python tools/check_notebooks.py --strip",
            file=sys.stderr,
        )
        return 1
    if dirty:  # unreadable files, even when stripping
        return 1
    print(f"{len(notebooks)} notebook(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
