"""Execute the course notebooks in order into ``build/notebooks/`` and print a wall-time table.

    python tools/run_notebooks.py                       # full mode, every notebooks/*.ipynb
    python tools/run_notebooks.py --quick               # ULMFIT_QUICK=1: small data, few epochs
    python tools/run_notebooks.py notebooks/03_*.ipynb  # just some, still in name order

Each notebook runs top to bottom in a fresh kernel of *this* Python environment (not whichever
"python3" kernel a user's Jupyter configuration points to), with the notebook's own folder as
working directory, exactly as in JupyterLab. The executed copies are written even when a cell
fails, so the traceback can be read there; they are build output and never committed.
Notebooks run in order because later ones may read what earlier ones saved, so the run stops
at the first failure unless ``--keep-going``. The timing table is also saved as ``timings.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent


class CurrentEnvKernelSpecManager(KernelSpecManager):
    """Resolve every kernel name to ipykernel in the running interpreter (as nbval does)."""

    def get_kernel_spec(self, kernel_name: str):
        return self.kernel_spec_class(
            resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
        )


class CurrentEnvKernelManager(AsyncKernelManager):
    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_spec_manager", CurrentEnvKernelSpecManager())
        super().__init__(**kwargs)


def run_notebook(src: Path, dst: Path, timeout: int | None) -> tuple[bool, str]:
    """Execute ``src`` into ``dst``; return (succeeded, one-line error or '')."""
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=CurrentEnvKernelManager,
        resources={"metadata": {"path": str(src.parent.resolve())}},
    )
    error = ""
    try:
        client.execute()
    except CellTimeoutError as err:
        error = f"timeout: {str(err).splitlines()[0]}"
    except CellExecutionError as err:
        error = f"{err.ename}: {err.evalue}"
    finally:
        dst.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dst)
    return not error, error


def fmt_seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "notebooks")
    parser.add_argument("--quick", action="store_true", help="set ULMFIT_QUICK=1 (CI-sized run)")
    parser.add_argument(
        "--timeout",
        type=int,
        default=1800,
        help="seconds per cell before it counts as hung (default 1800; no cell needs that long)",
    )
    parser.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    args = parser.parse_args(argv)

    notebooks = sorted(args.notebooks or (ROOT / "notebooks").glob("*.ipynb"), key=lambda p: p.name)
    if not notebooks:
        print("error: no notebooks to run", file=sys.stderr)
        return 2
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2

    # The kernels inherit this environment: quick mode is all or nothing for the run.
    if args.quick:
        os.environ["ULMFIT_QUICK"] = "1"
    else:
        os.environ.pop("ULMFIT_QUICK", None)
    mode = "quick" if args.quick else "full"
    print(f"Running {len(notebooks)} notebook(s) in {mode} mode into {args.out}")
    print(f"ULMFIT_DATA={os.environ.get('ULMFIT_DATA', '(unset: downloads into data/)')}")

    rows: list[tuple[str, str, float]] = []
    failed = 0
    start_all = time.perf_counter()
    for src in notebooks:
        print(f"-> {src.name} ...", flush=True)
        start = time.perf_counter()
        ok, error = run_notebook(src, args.out / src.name, args.timeout)
        elapsed = time.perf_counter() - start
        rows.append((src.name, "ok" if ok else "FAILED", elapsed))
        print(f"   {'ok' if ok else 'FAILED'} in {fmt_seconds(elapsed)}", flush=True)
        if not ok:
            failed += 1
            print(f"   {error}\n   (see {args.out / src.name})", flush=True)
            if not args.keep_going:
                break
    total = time.perf_counter() - start_all
    not_run = [p.name for p in notebooks[len(rows) :]]

    width = max(len("notebook"), *(len(p.name) for p in notebooks))
    lines = [
        f"| {'notebook':<{width}} | status  | wall time |",
        f"|{'-' * (width + 2)}|---------|-----------|",
    ]
    lines += [
        f"| {name:<{width}} | {status:<7} | {fmt_seconds(t):>9} |" for name, status, t in rows
    ]
    lines += [f"| {name:<{width}} | not run | {'':>9} |" for name in not_run]
    lines.append(f"| {'total (' + mode + ')':<{width}} | {'':<7} | {fmt_seconds(total):>9} |")
    table = "\n".join(lines)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "timings.md").write_text(table + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
