"""Checkpoints: save and load a language model with its vocabulary and config, safely and atomically.

What a checkpoint holds (one ``torch.save`` file, a plain dict)::

    {"format": "ulmfit_lesson.checkpoint", "version": 1,
     "config": {...AWDLSTMConfig fields...},      # enough to rebuild the model
     "itos": ["xxunk", "xxpad", ...],             # the vocabulary: token id -> string
     "model": state_dict,                         # our key names (encoder.*, decoder.*)
     "optimizer": optimizer.state_dict() or None, # to resume training exactly
     "extra": {...}}                              # anything else: training state, history, metrics

Two promises:

- **Only tensors and plain Python values** (dict, list, tuple, str, int, float, bool, None) go in,
  so ``torch.load(weights_only=True)`` reads it back. A pickle is a program; a checkpoint from
  someone else must not be able to run code on your machine. ``save_checkpoint`` checks this
  *before* writing and names the offending key.
- **Atomic writes.** The file is written to a temporary name in the same folder, flushed to disk
  (``fsync``) and renamed over the old one (``os.replace``, atomic on POSIX and Windows). A crash
  or a full disk mid-write leaves the previous checkpoint intact, never a half file.
- **Verified loads.** ``save_checkpoint`` stores the sha256 of every weight tensor (``"sha256"``);
  ``load_checkpoint`` recomputes them and refuses a file whose weights changed after it was written
  (bit rot, a partial copy, bytes overwritten), and any file holding a NaN or infinite weight. Why:
  ``torch.load`` reads damaged tensor bytes without complaint, and a model with a few wrong numbers
  answers ``nan`` or confidently wrong labels. Files saved before the digests existed still load;
  only the finiteness check applies to them.

A *run* (a folder of checkpoints and metrics) is written whole: :func:`whole_run` builds it in a fresh
temporary folder beside its destination, writes ``manifest.json`` (the sha256 and size of every file,
checked by :func:`verify_manifest`) and renames it into place only at the end, under a lock that
refuses a second run on the same folder.

The language-model stages (ULMFiT §3.1-3.2) save the whole LM; the classifier (§3.3) needs only
the encoder, which :func:`encoder_state_dict` extracts (fastai's ``save_encoder``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ulmfit_lesson.language_model import LanguageModel

from .awd_lstm import AWDLSTM
from .config import AWDLSTMConfig

FORMAT = "ulmfit_lesson.checkpoint"
VERSION = 1  # bump when the layout changes; load_checkpoint refuses files from the future

_PLAIN = (str, int, float, bool, type(None))


DIGESTS = "sha256"  # state[DIGESTS]: {weight key: sha256 of its dtype, shape and bytes}
MANIFEST = "manifest.json"  # beside the files of a run: their sha256 and sizes
MANIFEST_FORMAT = "ulmfit_lesson.manifest"


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, not a checkpoint, or does not fit the model."""


class RunExistsError(FileExistsError):
    """An output folder holds an earlier run, or another run is writing it right now."""


class NotEnoughSpaceError(OSError):
    """Too little free disk space for the files a run will write."""


def _check_plain(obj: Any, where: str) -> None:
    """Raise ``TypeError`` naming ``where`` if ``obj`` holds anything but tensors and plain values."""
    if isinstance(obj, _PLAIN) or isinstance(obj, Tensor):
        return
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}, not str or int")
            _check_plain(value, f"{where}[{key!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}; a checkpoint holds only "
        "tensors, dicts, lists, tuples, str, int, float, bool and None (so that "
        "torch.load(weights_only=True) can read it). Convert it, e.g. to a list or a str."
    )


def _itos_of(vocab: Any) -> list[str] | None:
    """A vocabulary as a plain list of strings: accepts a list, or any object with ``itos``."""
    if vocab is None:
        return None
    itos = getattr(vocab, "itos", vocab)
    itos = list(itos)
    if not all(isinstance(s, str) for s in itos):
        raise TypeError("the vocabulary must be a list of str (or have an .itos list of str)")
    return itos


def _config_dict(config: Any) -> dict:
    if config is None:
        return {}
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)`` via a temporary file in the same folder, ``fsync`` and ``os.replace``.

    Why the same folder: ``os.replace`` is only atomic within one file system. Why ``fsync``: without
    it a power cut just after the rename can leave a renamed but empty file on some file systems.
    On any error the temporary file is removed and the old ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes it private (0600); use the usual mode
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    vocab_itos: Any,
    config: AWDLSTMConfig | Mapping | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (its state dict), its vocabulary and config atomically to ``path``.

    Args:
        path: the file to write (conventionally ``*.pt``); parent folders are created.
        model: a ``LanguageModel`` (or any module; an ``nn.parallel.DistributedDataParallel`` wrapper
            is unwrapped).
        vocab_itos: the vocabulary: a list of token strings, a ``Vocab`` (its ``itos``), or ``None``.
        config: the architecture (``AWDLSTMConfig`` or a dict); default ``model.config``.
        optimizer: also save its state (Adam's moments and step counts) to resume training.
        extra: more plain values (training state, history, metrics, the recipe's settings).
    Returns: ``path``.
    Raises: ``TypeError`` naming the key of any value that is not a tensor or plain Python value.
    """
    model = getattr(model, "module", model)  # DDP keeps the real model in .module
    if config is None:
        config = getattr(model, "config", None)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "config": _config_dict(config),
        "itos": _itos_of(vocab_itos),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    # The .cpu() copies of the tied embedding/decoder are one tensor on the CPU but three on a GPU:
    # re-tie them so the matrix is stored once.
    sd, seen = state["model"], {}
    for key, value in model.state_dict().items():
        ptr = value.data_ptr()
        if value.numel() and ptr in seen and seen[ptr][1].shape == value.shape:
            sd[key] = sd[seen[ptr][0]]
        else:
            seen[ptr] = (key, value)
    _check_plain(state, "checkpoint")
    state[DIGESTS] = _digests(sd)
    atomic_torch_save(state, path)
    _update_run_manifest(Path(path))
    return Path(path)


def _digests(weights: Mapping[str, Any]) -> dict[str, str]:
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
        found = _digests(weights)
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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    Returns the dict described in the module docstring.
    Raises: ``FileNotFoundError``; ``CheckpointError`` if the file is truncated or corrupt, holds
    anything but tensors and plain values, is not one of our checkpoints, comes from a newer
    version of this package, or holds weights that differ from their recorded sha256 or are not
    finite (:func:`check_weights`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (resolved to {path.resolve()})")
    _verify_in_run(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a damaged file can fail anywhere in the zip or pickle readers
        msg = str(err)
        if "Unsupported global" in msg:  # well-formed, but asks to import something
            detail = next(line for line in msg.splitlines() if "Unsupported global" in line)
            raise CheckpointError(
                f"{path} holds Python objects other than tensors and plain values; refusing to "
                f"unpickle it (it could run code). {detail.strip()}"
            ) from err
        raise CheckpointError(
            f"{path} is corrupt or truncated ({os.path.getsize(path):,} bytes): not a complete "
            f"checkpoint file. Was it copied or written only partly? "
            f"({type(err).__name__}: {msg.splitlines()[0].split('. ')[0] if msg else ''})"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        keys = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a ulmfit_lesson checkpoint (no format={FORMAT!r}; found {keys}). "
            "A fastai model? Use pretrained.load_fastai_lm."
        )
    version = state.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}; this ulmfit_lesson reads versions up to "
            f"{VERSION}. Upgrade the package."
        )
    if not isinstance(state.get("model"), Mapping):
        raise CheckpointError(f"{path} is damaged: it holds no weights ('model' is missing)")
    check_weights(state["model"], state.get(DIGESTS), str(path))
    return state


def check_vocab(expected_itos: list[str], found_itos: list[str] | None, source: str) -> None:
    """Raise ``CheckpointError`` if two vocabularies differ: size, and the first differing token ids.

    Why it matters: a model reads token *ids*. The same weights with another vocabulary run without
    error but read every word as some other word.
    """
    if found_itos is None:
        return
    if list(expected_itos) == list(found_itos):
        return
    diffs = [
        f"id {i}: {a!r} vs {b!r}"
        for i, (a, b) in enumerate(zip(expected_itos, found_itos))
        if a != b
    ]
    raise CheckpointError(
        f"vocabulary mismatch with {source}: the model's vocabulary has {len(expected_itos)} tokens, "
        f"the checkpoint's {len(found_itos)}"
        + (f"; first differences: {diffs[:5]}" if diffs else "")
    )


def load_into(
    model: nn.Module,
    state: Mapping[str, Any],
    itos: list[str] | None = None,
    source: str = "checkpoint",
) -> nn.Module:
    """Load a checkpoint's weights into an existing ``model``, checking vocabulary and shapes first.

    Args:
        model: the model to fill (e.g. a freshly built ``LanguageModel``).
        state: a dict from :func:`load_checkpoint`.
        itos: the vocabulary the model is meant to use; if given, it must equal the checkpoint's.
        source: the file name, for error messages.
    Raises: ``CheckpointError`` naming the vocabulary sizes / first differing ids, or every missing
    key, unexpected key and shape mismatch, all at once.
    """
    model = getattr(model, "module", model)
    weights = state["model"]
    config = state.get("config") or {}
    model_vocab = getattr(getattr(model, "config", None), "vocab_size", None)  # LM or AWDLSTM
    if model_vocab is not None and "vocab_size" in config and config["vocab_size"] != model_vocab:
        raise CheckpointError(
            f"vocabulary size mismatch: {source} was saved with a vocabulary of "
            f"{config['vocab_size']} tokens, the model has {model_vocab}"
        )
    if itos is not None:
        check_vocab(list(itos), state.get("itos"), source)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    problems = [f"missing key {k} {expected[k]}" for k in expected if k not in found]
    problems += [f"unexpected key {k} {found[k]}" for k in found if k not in expected]
    problems += [
        f"shape of {k}: checkpoint {found[k]}, model {expected[k]}"
        for k in expected
        if k in found and found[k] != expected[k]
    ]
    if problems:
        raise CheckpointError(
            f"{source} does not fit this model (architecture mismatch):\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(weights, strict=True)
    return model


def load_language_model(
    path: str | Path, map_location: str | torch.device = "cpu", **config_overrides: Any
) -> tuple[LanguageModel, list[str] | None]:
    """Rebuild the ``LanguageModel`` saved in ``path`` from its config and load its weights.

    ``config_overrides`` change fields of the saved config (e.g. ``output_p=0.0``); the sizes must
    stay those of the file. Returns ``(model, itos)``, the model in eval mode on ``map_location``,
    the same pair as ``pretrained.load_fastai_lm``.
    """
    state = load_checkpoint(path, map_location="cpu")
    fields = {f.name for f in dataclasses.fields(AWDLSTMConfig)}
    config_dict = {k: v for k, v in (state.get("config") or {}).items() if k in fields}
    if "vocab_size" not in config_dict:
        raise CheckpointError(f"{path} has no model config (vocab_size missing); cannot rebuild it")
    config = AWDLSTMConfig(**{**config_dict, **config_overrides})
    model = LanguageModel(config)
    load_into(model, state, source=str(path))
    return model.to(map_location).eval(), state.get("itos")


def encoder_state_dict(state: Mapping[str, Any]) -> dict[str, Tensor]:
    """The AWD-LSTM encoder's weights (keys of ``AWDLSTM.state_dict()``) from a checkpoint.

    Works for an ``encoder.pt`` (the encoder alone, as the recipes write it) and for a whole LM
    checkpoint (``lm.pt``: the ``encoder.`` keys, prefix removed). This is fastai's
    ``save_encoder``/``load_encoder``: the classifier (ULMFiT §3.3) reuses the fine-tuned encoder and
    drops the LM decoder.
    """
    if (state.get("extra") or {}).get("kind") == "encoder":
        return dict(state["model"])
    prefix = "encoder."
    return {k[len(prefix) :]: v for k, v in state["model"].items() if k.startswith(prefix)}


def load_encoder(
    path: str | Path, map_location: str | torch.device = "cpu", **config_overrides: Any
) -> tuple[AWDLSTM, list[str] | None]:
    """Rebuild the AWD-LSTM encoder of ``encoder.pt`` (or of an ``lm.pt``); return ``(encoder, itos)``.

    ``config_overrides`` set the dropouts for the next stage, e.g. the classifier's
    (``CLAS_DROPOUTS`` times 0.5). Raises ``CheckpointError`` naming mismatched keys or shapes.
    """
    state = load_checkpoint(path, map_location="cpu")
    fields = {f.name for f in dataclasses.fields(AWDLSTMConfig)}
    config_dict = {k: v for k, v in (state.get("config") or {}).items() if k in fields}
    if "vocab_size" not in config_dict:
        raise CheckpointError(f"{path} has no model config (vocab_size missing); cannot rebuild it")
    encoder = AWDLSTM(AWDLSTMConfig(**{**config_dict, **config_overrides}))
    load_into(encoder, {**state, "model": encoder_state_dict(state)}, source=str(path))
    return encoder.to(map_location), state.get("itos")


# ---------------------------------------------------------------------------------------------------
# Whole runs: a folder of files written together, verified together
# ---------------------------------------------------------------------------------------------------


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


def _verify_in_run(path: Path) -> None:
    """Check ``path`` against the manifest of the run holding it (its folder or the one above:
    ``run/lm/lm.pt`` is listed in ``run/manifest.json``), if there is one that lists it."""
    found = _run_manifest(path)
    if found is not None:
        root, name = found
        verify_manifest(root, only=[name])


def _update_run_manifest(path: Path) -> None:
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
    "CheckpointError",
    "RunExistsError",
    "NotEnoughSpaceError",
    "tensor_sha256",
    "check_weights",
    "file_sha256",
    "write_manifest",
    "verify_manifest",
    "check_output_dir",
    "check_free_space",
    "run_lock",
    "whole_run",
    "FORMAT",
    "VERSION",
    "atomic_torch_save",
    "save_checkpoint",
    "load_checkpoint",
    "load_into",
    "load_language_model",
    "check_vocab",
    "encoder_state_dict",
    "load_encoder",
]
