"""Configuration: the AWD-LSTM's sizes and dropouts, where data lives, and quick mode.

The dropout presets are fastai v2's (which equal the ULMFiT paper's values for the classifier,
ULMFiT §4.1, and the v0.7 fine-tuning values for the language model). Every probability ends in
``_p`` so one ``drop_mult`` can scale them all, as fastai does.

Deviation: fastai v1/v2 (and so the pretrained weights we load) use 1152 hidden units; the paper,
fastai v0.7 and salesforce/awd-lstm-lm use 1150. 1152 is a multiple of 8, which GPUs like.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Language-model dropouts (fastai `awd_lstm_lm_config`, ULMFiT v0.7 `finetune_lm.py`).
LM_DROPOUTS = dict(output_p=0.1, hidden_p=0.15, input_p=0.25, embed_p=0.02, weight_p=0.2)
# Classifier dropouts (ULMFiT §4.1; fastai `awd_lstm_clas_config`), used unscaled by default.
CLAS_DROPOUTS = dict(output_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5)


@dataclass(frozen=True)
class AWDLSTMConfig:
    """Sizes and dropouts of an AWD-LSTM (ULMFiT §4.1: emb 400, 3 layers, 1150 hidden)."""

    vocab_size: int
    emb_size: int = 400
    hidden_size: int = 1152
    n_layers: int = 3
    pad_token: int = 1
    input_p: float = LM_DROPOUTS["input_p"]
    hidden_p: float = LM_DROPOUTS["hidden_p"]
    weight_p: float = LM_DROPOUTS["weight_p"]
    embed_p: float = LM_DROPOUTS["embed_p"]
    output_p: float = LM_DROPOUTS["output_p"]

    def with_dropouts(self, dropouts: dict[str, float], drop_mult: float = 1.0) -> AWDLSTMConfig:
        """Return a copy with every ``*_p`` from ``dropouts`` multiplied by ``drop_mult``."""
        return replace(self, **{k: v * drop_mult for k, v in dropouts.items()})

    def to_dict(self) -> dict:
        return asdict(self)


def is_quick() -> bool:
    """True when ``ULMFIT_QUICK`` is set to a true value: small data, few epochs (CI and demos)."""
    return os.environ.get("ULMFIT_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


def _in_checkout() -> bool:
    """True when the package is imported from a clone of the repository (not an installed wheel)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for this course (what an installed package uses).

    Linux and others: ``$XDG_CACHE_HOME/ulmfit_lesson`` (``~/.cache/ulmfit_lesson``); macOS:
    ``~/Library/Caches/ulmfit_lesson``; Windows: ``%LOCALAPPDATA%\\ulmfit_lesson\\Cache``.
    """
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "ulmfit_lesson" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ulmfit_lesson"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ulmfit_lesson"


def cache_dir() -> Path:
    """Where downloads and extracted archives go: ``ULMFIT_CACHE`` if set; in a clone of the
    repository its git-ignored ``data/``; in an installed package the user's cache folder
    (never inside ``site-packages``)."""
    if os.environ.get("ULMFIT_CACHE"):
        return _resolve(os.environ["ULMFIT_CACHE"])
    return REPO_ROOT / "data" if _in_checkout() else user_cache_dir()


def _resolve(path: str) -> Path:
    """A path from the environment, made absolute.

    A relative path is read against the folder where it was meant: ``ULMFIT_DATA_BASE`` if set
    (the Makefile sets it to the folder make runs in), else the repository root in a clone, else the
    working directory. Why not simply the working directory: a Jupyter kernel starts in the
    notebook's folder, so ``ULMFIT_DATA=../shared/data`` set at the repository root would point
    somewhere else inside a notebook.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    base = os.environ.get("ULMFIT_DATA_BASE") or (REPO_ROOT if _in_checkout() else Path.cwd())
    return Path(base) / p


def _data_env_dirs() -> list[Path]:
    raw = os.environ.get("ULMFIT_DATA", "")
    return [_resolve(p.strip()) for p in raw.split(os.pathsep) if p.strip()]


def data_dirs() -> list[Path]:
    """Where data and weights are looked for, in order: each dir in ``ULMFIT_DATA``, then the cache."""
    return _data_env_dirs() + [cache_dir()]


def missing_data_dirs() -> list[Path]:
    """The folders named in ``ULMFIT_DATA`` that do not exist (a typo, an unmounted drive)."""
    return [d for d in _data_env_dirs() if not d.is_dir()]
