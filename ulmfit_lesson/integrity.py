"""Integrity: how the package knows a file holds what was written, and fits the model it is for.

Three checks, each naming the file and the tensor or key at fault:

- **Weights.** ``save_checkpoint`` stores the sha256 of every weight tensor; :func:`check_weights`
  recomputes them and refuses weights that changed after they were written (bit rot, a partial copy,
  bytes overwritten) and any NaN or infinite weight. Why: ``torch.load`` reads damaged tensor bytes
  without complaint, and a model with a few wrong numbers answers ``nan`` or confidently wrong
  labels.
- **Runs.** Beside the files of a run (a folder of checkpoints and metrics), ``manifest.json``
  records the sha256 and size of each (:func:`write_manifest`, :func:`verify_manifest`); loading a
  file of a run checks it against that manifest first.
- **Fit.** :func:`check_fits` lists every missing key, unexpected key and shape mismatch between a
  state dict and the model it is meant for, all at once: ``load_state_dict(strict=True)`` stops at a
  terse message, and a learner who loads the wrong file (another architecture, 1150 instead of 1152
  hidden units, a classifier) needs the whole list.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

MANIFEST = "manifest.json"  # beside the files of a run: their sha256 and sizes
MANIFEST_FORMAT = "ulmfit_lesson.manifest"


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, not a checkpoint, or does not fit the model."""


def check_fits(
    expected: Mapping[str, Tensor], found: Mapping[str, Tensor], source: str, target: str
) -> None:
    """Raise ``CheckpointError`` listing every missing key, unexpected key and shape mismatch.

    ``expected``: the state dict of the model to fill; ``found``: the weights read from ``source``
    (a file name, for the message); ``target``: what the model is, e.g. ``"this model"``.
    """
    want = {k: tuple(v.shape) for k, v in expected.items()}
    got = {k: tuple(v.shape) for k, v in found.items()}
    problems = [f"missing {k} {want[k]}" for k in want if k not in got]
    problems += [f"unexpected {k} {got[k]}" for k in got if k not in want]
    problems += [
        f"shape of {k}: found {got[k]}, expected {want[k]}"
        for k in want
        if k in got and got[k] != want[k]
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit {target}:\n  " + "\n  ".join(problems))


def weight_digests(weights: Mapping[str, Any]) -> dict[str, str]:
    """``tensor_sha256`` of every tensor, each shared tensor (the tied embedding) hashed once."""
    seen: dict[tuple, str] = {}
    out = {}
    for key, value in weights.items():
        if not isinstance(value, Tensor):
            continue
        ident = (value.data_ptr(), value.dtype, tuple(value.shape), value.stride())
        if ident not in seen or not value.numel():
            seen[ident] = tensor_sha256(value)
        out[key] = seen[ident]
    return out


def tensor_sha256(tensor: Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (the same on every machine for the same values)."""
    tensor = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    if tensor.numel():
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def check_weights(
    weights: Mapping[str, Any], digests: Mapping[str, str] | None, source: str
) -> None:
    """Raise ``CheckpointError`` naming ``source`` and the tensor if a weight is not what was saved.

    Two checks: each tensor's sha256 against ``digests`` (when the file has them), and every
    floating-point weight finite. A NaN weight makes every output NaN; an infinite one, most.
    """
    if digests is not None:
        unlisted = sorted(set(weights) ^ set(digests))
        if unlisted:
            raise CheckpointError(
                f"{source} is damaged: its weights and their recorded sha256 digests name "
                f"different tensors ({', '.join(unlisted[:5])}). Restore it from a backup or "
                "retrain."
            )
        found = weight_digests(weights)
        for key in weights:
            if found.get(key) != digests[key]:
                raise CheckpointError(
                    f"{source} is damaged: the weights {key!r} do not match the sha256 recorded "
                    "when the file was written, so its bytes changed since (a partial copy, a disk "
                    "error, an edit). Restore it from a backup or retrain."
                )
    for key, value in weights.items():
        if isinstance(value, Tensor) and value.is_floating_point() and value.numel():
            # A float64 sum is NaN or infinite exactly when a value is (float32 values cannot
            # overflow it), and reads the tensor once without allocating a mask.
            if not bool(torch.isfinite(value.sum(dtype=torch.float64))):
                n_bad = int((~torch.isfinite(value)).sum())
                raise CheckpointError(
                    f"{source}: the weights {key!r} hold {n_bad:,} NaN or infinite values; a model "
                    "with them predicts nothing meaningful (did training diverge? lower the "
                    "learning rate). Use an earlier checkpoint."
                )


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (a checkpoint can be larger than memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | Path) -> Path:
    """Write ``folder/manifest.json``: the sha256 and size of every file below ``folder``."""
    folder = Path(folder)
    files = {
        p.relative_to(folder).as_posix(): {"sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"format": MANIFEST_FORMAT, "version": 1, "files": files}
    path = folder / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def verify_manifest(folder: str | Path, only: list[str] | None = None) -> bool:
    """Check the files of ``folder`` against its ``manifest.json``; ``False`` if it has none.

    ``only``: check just these files (relative names), e.g. the one checkpoint being loaded.
    Raises: ``CheckpointError`` naming the first file that is missing, or whose size or sha256
    differs from the manifest, or a manifest that cannot be read.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
            raise ValueError("not a manifest")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is damaged: not a readable manifest ({err})") from None
    for name in only if only is not None else sorted(files):
        entry = files.get(name)
        if entry is None:
            raise CheckpointError(f"{folder / name} is not listed in {path}: not part of this run")
        file = folder / name
        if not file.is_file():
            raise CheckpointError(f"{file} is missing: {path} lists it as part of this run")
        size = file.stat().st_size
        if size != entry.get("bytes") or file_sha256(file) != entry.get("sha256"):
            raise CheckpointError(
                f"{file} is damaged: its {'sha256' if size == entry.get('bytes') else 'size'} "
                f"differs from the one {path} recorded when the run was written "
                f"({size:,} bytes now, {entry.get('bytes'):,} then). Restore the run from a backup "
                "or rerun it."
            )
    return True


def _run_manifest(path: Path) -> tuple[Path, str] | None:
    """``(run folder, name in its manifest)`` if a run's manifest lists ``path``, else ``None``."""
    for root in (path.parent, path.parent.parent):
        manifest = root / MANIFEST
        if manifest.is_file():
            name = path.resolve().relative_to(root.resolve()).as_posix()
            try:
                files = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
            except (ValueError, AttributeError, UnicodeDecodeError):
                return root, name  # let verify_manifest name the damaged manifest
            return (root, name) if name in files else None
    return None


def verify_in_run(path: Path) -> None:
    """Check ``path`` against the manifest of the run holding it (its folder or the one above:
    ``run/lm/lm.pt`` is listed in ``run/manifest.json``), if there is one that lists it."""
    found = _run_manifest(path)
    if found is not None:
        root, name = found
        verify_manifest(root, only=[name])


def update_run_manifest(path: Path) -> None:
    """After the package rewrites a file of a run (``TextClassifier.save`` into its folder), record
    its new sha256 and size, so that the manifest keeps describing the files as they are."""
    found = _run_manifest(path)
    if found is None:
        return
    root, name = found
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["files"][name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    except (ValueError, KeyError, TypeError, AttributeError):
        return  # a damaged manifest stays damaged; loading will say so
    tmp = manifest_path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, manifest_path)


__all__ = [
    "MANIFEST",
    "CheckpointError",
    "check_fits",
    "weight_digests",
    "tensor_sha256",
    "check_weights",
    "file_sha256",
    "write_manifest",
    "verify_manifest",
    "verify_in_run",
    "update_run_manifest",
]
