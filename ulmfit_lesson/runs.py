"""Runs: a folder of checkpoints and metrics, written whole or not at all.

A command that trains (``pretrain``, ``finetune-lm``, ``train-classifier``) writes several files
that only make sense together. :func:`whole_run` builds them in a fresh temporary folder beside the
destination, writes ``manifest.json`` (the sha256 and size of every file, checked when a file of the
run is loaded: ``integrity.verify_manifest``) and renames the folder into place only at the end,
under a lock that refuses a second run on the same folder. Before any work, :func:`check_output_dir`
and :func:`check_free_space` refuse a destination that cannot take the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .integrity import write_manifest


class RunExistsError(FileExistsError):
    """An output folder holds an earlier run, or another run is writing it right now."""


class NotEnoughSpaceError(OSError):
    """Too little free disk space for the files a run will write."""


def check_output_dir(out: str | Path, overwrite: bool = False, option: str = "--out") -> Path:
    """Refuse an output location before any work: a file, an earlier run, a folder not writable.

    An empty folder is fine. ``overwrite=True`` accepts a folder holding an earlier run (the new run
    replaces it as a whole when it finishes). Raises ``RunExistsError``, ``FileExistsError`` or
    ``PermissionError`` naming the path. Returns ``out`` as a ``Path``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{option} {out} is a file, not a folder; choose another {option}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        shown = ", ".join(sorted(p.name for p in out.iterdir())[:6])
        raise RunExistsError(
            f"{option} {out} already holds files ({shown}), an earlier run? Nothing was changed. "
            f"Pass --overwrite to replace it as a whole when the new run finishes, or choose "
            f"another {option}."
        )
    # Try it rather than ask os.access: root passes every permission check, yet cannot write to a
    # read-only file system.
    parent = _existing_parent(out.absolute().parent)
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.probe-"))
    except OSError as err:
        raise PermissionError(
            f"{option} {out}: cannot write in {parent} ({err.strerror or err}); choose a folder "
            "you can write to"
        ) from None
    return out


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(folder: str | Path, needed: int, what: str) -> None:
    """Raise ``NotEnoughSpaceError`` if the disk holding ``folder`` has less than ``needed`` bytes."""
    where = _existing_parent(Path(folder).absolute())
    free = shutil.disk_usage(where).free
    if free < needed:
        raise NotEnoughSpaceError(
            f"not enough disk space in {where} for {what}: about {needed / 2**20:,.0f} MiB needed, "
            f"{free / 2**20:,.0f} MiB free. Free some space or choose another folder."
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except (OSError, ValueError):
        return False
    return True


@contextmanager
def run_lock(out: str | Path) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``out`` while a run writes it; refuse a second run.

    The lock file holds the writer's process id. A lock left by a process that no longer exists (a
    crash, ``kill -9``) is stale and taken over. Raises ``RunExistsError`` naming the other run.
    """
    out = Path(out)
    lock = out.absolute().parent / f".{out.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text(encoding="utf-8").split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if pid > 0 and _pid_alive(pid):
                raise RunExistsError(
                    f"another run (process {pid}) is writing {out} right now (lock {lock}); wait "
                    "for it to finish or choose another --out. If no such run exists, delete the "
                    "lock file."
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise RunExistsError(f"cannot take the lock {lock} for {out}; another run took it first")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


@contextmanager
def whole_run(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Write a run into a fresh temporary folder beside ``out``; move it into place at the end.

    ``with whole_run("runs/mine") as tmp: ...write files into tmp...``. On success the folder gets a
    ``manifest.json`` and replaces ``out`` as a whole (an earlier run only with ``overwrite``).
    On any error, Ctrl-C included, the temporary folder is removed and ``out`` is as it was: never a
    folder that mixes two runs. A lock refuses a second run on the same ``out``.
    """
    out = check_output_dir(out, overwrite)
    with run_lock(out):
        check_output_dir(out, overwrite)  # again: another run may have finished meanwhile
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.absolute().parent, prefix=f".{out.name}.partial-"))
        try:
            yield tmp
            write_manifest(tmp)
            _replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _replace_dir(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an existing ``out`` is moved aside first and deleted after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)  # put the earlier run back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "RunExistsError",
    "NotEnoughSpaceError",
    "check_output_dir",
    "check_free_space",
    "run_lock",
    "whole_run",
]
