"""Configuration: the AWD-LSTM's sizes and dropouts, where data lives, and quick mode.

The dropout presets are fastai v2's (which equal the ULMFiT paper's values for the classifier,
ULMFiT §4.1, and the v0.7 fine-tuning values for the language model). Every probability ends in
``_p`` so one ``drop_mult`` can scale them all, as fastai does.

Deviation: fastai v1/v2 (and so the pretrained weights we load) use 1152 hidden units; the paper,
fastai v0.7 and salesforce/awd-lstm-lm use 1150. 1152 is a multiple of 8, which GPUs like.
"""

from __future__ import annotations

import os
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


def cache_dir() -> Path:
    """The project's own, git-ignored download cache (``data/`` at the repo root)."""
    return Path(os.environ.get("ULMFIT_CACHE", REPO_ROOT / "data"))


def data_dirs() -> list[Path]:
    """Where data and weights are looked for, in order: each dir in ``ULMFIT_DATA``, then the cache."""
    dirs = [Path(p) for p in os.environ.get("ULMFIT_DATA", "").split(os.pathsep) if p.strip()]
    return dirs + [cache_dir()]
