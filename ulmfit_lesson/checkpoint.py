"""Checkpoints: save and load a language model with its vocabulary and config, safely and atomically.

What a checkpoint holds (one ``torch.save`` file, a plain dict)::

    {"format": "ulmfit_lesson.checkpoint", "version": 1,
     "config": {...AWDLSTMConfig fields...},      # enough to rebuild the model
     "itos": ["xxunk", "xxpad", ...],             # the vocabulary: token id -> string
     "model": state_dict,                         # our key names (encoder.*, decoder.*)
     "optimizer": optimizer.state_dict() or None, # to resume training exactly
     "extra": {...}}                              # anything else: training state, history, metrics

Three promises:

- **Only tensors and plain Python values** (dict, list, tuple, str, int, float, bool, None) go in,
  so ``torch.load(weights_only=True)`` reads it back. A pickle is a program; a checkpoint from
  someone else must not be able to run code on your machine. ``save_checkpoint`` checks this
  *before* writing and names the offending key.
- **Atomic writes.** The file is written to a temporary name in the same folder, flushed to disk
  (``fsync``) and renamed over the old one (``os.replace``, atomic on POSIX and Windows). A crash
  or a full disk mid-write leaves the previous checkpoint intact, never a half file.
- **Verified loads.** ``save_checkpoint`` stores the sha256 of every weight tensor (``"sha256"``);
  ``load_checkpoint`` recomputes them and refuses a file whose weights changed after it was written
  (bit rot, a partial copy, bytes overwritten), and any file holding a NaN or infinite weight
  (``integrity.check_weights``). A file without recorded digests still loads; only the finiteness
  check applies to it. A file listed in a run's ``manifest.json`` is checked against it first.

A *run* (a folder of these files, written whole) is ``runs.py``'s business; the checks are
``integrity.py``'s.

The language-model stages (ULMFiT §3.1-3.2) save the whole LM; the classifier (§3.3) needs only
the encoder, which :func:`encoder_state_dict` extracts (fastai's ``save_encoder``).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .awd_lstm import AWDLSTM
from .config import AWDLSTMConfig
from .integrity import (
    CheckpointError,
    check_fits,
    check_weights,
    update_run_manifest,
    verify_in_run,
    weight_digests,
)
from .language_model import LanguageModel

FORMAT = "ulmfit_lesson.checkpoint"
VERSION = 1  # bump when the layout changes; load_checkpoint refuses files from the future

_PLAIN = (str, int, float, bool, type(None))


DIGESTS = "sha256"  # state[DIGESTS]: {weight key: sha256 of its dtype, shape and bytes}

# The files of a run, written by the recipes; a folder given as a model source is searched for
# them in this order (the encoder is what the next stage needs, ULMFiT §3.3).
ENCODER_FILE = "encoder.pt"
LM_FILE = "lm.pt"
CLASSIFIER_FILE = "classifier.pt"
RUN_FILES = (ENCODER_FILE, LM_FILE, CLASSIFIER_FILE)


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
    state[DIGESTS] = weight_digests(sd)
    atomic_torch_save(state, path)
    update_run_manifest(Path(path))
    return Path(path)


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
    verify_in_run(path)
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
    check_fits(model.state_dict(), weights, source, "this model (architecture mismatch)")
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


def encoder_weights(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The AWD-LSTM encoder's weights (keys of ``AWDLSTM.state_dict()``) in a state dict.

    An encoder's own state dict is returned whole; a ``LanguageModel``'s or a classifier's keeps
    its encoder under ``encoder.`` (``encoder.rnns.0...``), which is removed, and the rest (the LM
    decoder, the classifier head) dropped. This is fastai's ``save_encoder``/``load_encoder``: the
    classifier (ULMFiT §3.3) reuses the fine-tuned encoder and drops the LM decoder.
    """
    if not any(k.startswith("encoder.rnns.") for k in weights):
        return dict(weights)
    prefix = "encoder."
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}


def encoder_state_dict(state: Mapping[str, Any]) -> dict[str, Tensor]:
    """The encoder's weights of a checkpoint: an ``encoder.pt`` (the encoder alone, as the recipes
    write it), an ``lm.pt`` or a ``classifier.pt`` (:func:`encoder_weights`)."""
    return encoder_weights(state["model"])


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


__all__ = [
    "FORMAT",
    "VERSION",
    "ENCODER_FILE",
    "LM_FILE",
    "CLASSIFIER_FILE",
    "RUN_FILES",
    "CheckpointError",
    "atomic_torch_save",
    "save_checkpoint",
    "load_checkpoint",
    "load_into",
    "load_language_model",
    "check_vocab",
    "encoder_weights",
    "encoder_state_dict",
    "load_encoder",
]
