"""Configuration: the AWD-LSTM's sizes and dropouts, the training settings, where data lives, and
quick mode.

The dropout presets are fastai v2's (which equal the ULMFiT paper's values for the classifier,
ULMFiT §4.1, and the v0.7 fine-tuning values for the language model). Every probability ends in
``_p`` so one ``drop_mult`` can scale them all, as fastai does.

The training settings of the language model (stages 1 and 2) and of the classifier (stage 3) are
two frozen dataclasses, :class:`LMTrainConfig` and :class:`ClasTrainConfig`: ULMFiT's values
(§4.1) are written once, here, and every recipe and loop reads them from here.

Deviation: fastai v1/v2 (and so the pretrained weights we load) use 1152 hidden units; the paper,
fastai v0.7 and salesforce/awd-lstm-lm use 1150. 1152 is a multiple of 8, which GPUs like.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# Language-model dropouts (fastai `awd_lstm_lm_config`, ULMFiT v0.7 `finetune_lm.py`).
LM_DROPOUTS = dict(output_p=0.1, hidden_p=0.15, input_p=0.25, embed_p=0.02, weight_p=0.2)
# Classifier dropouts (ULMFiT §4.1; fastai `awd_lstm_clas_config`), used unscaled by default.
CLAS_DROPOUTS = dict(output_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5)


# ULMFiT §4.1: "a batch size of 64, a BPTT batch size of 70"; the LM and the classifier share them.
BS = 64
BPTT = 70
# ULMFiT §4.1: "Adam with beta1 = 0.7 instead of the default 0.9 and beta2 = 0.99".
ADAM_BETAS = (0.7, 0.99)
ADAM_EPS = 1e-5  # fastai's Adam default (PyTorch's is 1e-8)
WEIGHT_DECAY = 0.01  # fastai's default wd (decoupled); the general-* models were trained with 0.1
AR_ALPHA = 2.0  # AWD-LSTM §4.6 / fastai's RNNRegularizer: activation regularisation weight
TAR_BETA = 1.0  # AWD-LSTM §4.6 / fastai's RNNRegularizer: temporal activation regularisation weight
AMP_CHOICES = (None, "bf16", "fp16")


def scaled_dropouts(dropouts: dict[str, float], drop_mult: float = 1.0) -> dict[str, float]:
    """Every probability of ``dropouts`` times ``drop_mult``: fastai's one knob for all of them."""
    return {k: v * drop_mult for k, v in dropouts.items()}


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
        return replace(self, **scaled_dropouts(dropouts, drop_mult))

    def to_dict(self) -> dict:
        return asdict(self)


class _TrainConfig:
    """What both training configurations share: ``replace`` and ``to_dict``."""

    def replace(self, **overrides: Any):
        """A copy with ``overrides`` (``dataclasses.replace``: unknown names are an error)."""
        return replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists) for checkpoints and ``metrics.json``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class LMTrainConfig(_TrainConfig):
    """How a language model is trained; the defaults are stage 2, target-task LM fine-tuning (§3.2).

    ``PRETRAIN_LM`` holds stage 1's values (how the course's ``general-fwd`` was trained).
    """

    bs: int = BS  # ULMFiT §4.1
    bptt: int = BPTT  # ULMFiT §4.1
    frozen_epochs: int = 1  # fastbook ch. 10: one epoch with only embeddings + decoder trainable
    frozen_lr: float = 2e-2  # fastbook ch. 10: the frozen epoch, fit_one_cycle(1, 2e-2)
    # None: scaled to the target corpus, 2-4 epochs (schedules.finetune_epochs); fastbook ch. 10
    # fine-tunes the unfrozen LM for "a few" epochs (10 there)
    epochs: int | None = None
    lr: float = 4e-3  # ULMFiT §4.1: "a base learning rate of 0.004 ... for fine-tuning the LM"
    schedule: str = "stlr"  # ULMFiT §3.2: slanted triangular learning rates
    wd: float = WEIGHT_DECAY
    clip: float | None = 0.3  # max gradient norm: fastai v0.7 finetune_lm.py, the paper's script
    betas: tuple[float, float] = ADAM_BETAS
    alpha: float = AR_ALPHA
    beta: float = TAR_BETA
    drop_mult: float = 0.3  # fastbook ch. 10: language_model_learner(..., drop_mult=0.3)
    device: str = "auto"  # distributed.resolve_device: the GPU if there is one
    amp: str | None = None  # mixed precision: None, "bf16" or "fp16" (GPU only)
    seed: int = 0

    def quick(self) -> LMTrainConfig:
        """The quick variant (``ULMFIT_QUICK``, CI, demos): one frozen and one unfrozen epoch."""
        return self.replace(frozen_epochs=min(self.frozen_epochs, 1), epochs=1)


# Stage 1 (§3.1) as the course's general-fwd was trained: fastai's fit_one_cycle, lr 5e-3, wd 0.1,
# dropouts unscaled (shared/pretrained/README.md).
PRETRAIN_LM = LMTrainConfig(
    frozen_epochs=0, epochs=1, lr=5e-3, schedule="one_cycle", wd=0.1, drop_mult=1.0
)


@dataclass(frozen=True)
class ClasTrainConfig(_TrainConfig):
    """How the classifier is fine-tuned (stage 3, ULMFiT §3.3)."""

    bs: int = BS  # ULMFiT §4.1
    bptt: int = BPTT  # ULMFiT §4.1; BPT3C's chunk length (§3.3)
    # 4 gradual-unfreezing epochs (5 groups) + 6 with everything unfrozen. The paper gives no epoch
    # count; 3-fold cross-validation over the poems' training verses preferred 10 to 6 (README).
    epochs: int = 10
    lr: float = 0.01  # ULMFiT §4.1: "a base learning rate of ... 0.01" for the classifier
    lr_factor: float = 2.6  # ULMFiT §3.2: discriminative fine-tuning, eta^(l-1) = eta^l / 2.6
    discriminative: bool = True  # ULMFiT §3.2
    gradual_unfreezing: bool = True  # ULMFiT §3.3
    schedule: str = "stlr"  # ULMFiT §3.2
    wd: float = WEIGHT_DECAY
    clip: float | None = 25.0  # fastai v0.7 train_clas.py: learn.clip = 25
    betas: tuple[float, float] = ADAM_BETAS
    alpha: float = AR_ALPHA  # fastai keeps AR/TAR on for the classifier too
    beta: float = TAR_BETA
    # ULMFiT §4.1's classifier dropouts unscaled. fastai's text_classifier_learner scales them by
    # 0.5; on the poems, 3-fold cross-validation over the training verses preferred 1.0 (README).
    drop_mult: float = 1.0
    max_len: int | None = None  # BPT3C's kept tokens; None: 20 * bptt (fastai v0.7 train_clas.py)
    label_smoothing: float = 0.0  # beyond the paper: MultiFiT's classifier uses 0.1
    keep_best: str | None = None  # beyond the paper: fastai's SaveModelCallback
    # Beyond the paper: stop once the validation metric (keep_best's, else valid_loss) has not
    # improved for this many epochs of the last, fully unfrozen stage, and keep the best weights
    # (fastai's EarlyStoppingCallback). None: train every epoch.
    patience: int | None = None
    class_weights: str | None = None  # beyond the paper: None or "balanced" (imbalanced classes)
    class_weight_power: float = 0.5  # "balanced": the square root of inverse frequency
    tune_decision: str | None = None  # beyond the paper: None or "macro_f1" (tuned on dev)
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        """Settings that cannot work are refused here, before any data is read."""
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {self.patience}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.class_weights not in (None, "balanced"):
            raise ValueError(
                f"class_weights must be None or 'balanced', got {self.class_weights!r}"
            )
        if self.tune_decision not in (None, "macro_f1"):
            raise ValueError(
                f"tune_decision must be None or 'macro_f1', got {self.tune_decision!r}"
            )

    def quick(self) -> ClasTrainConfig:
        """The quick variant (``ULMFIT_QUICK``, CI, demos): 4 epochs: the head, then one and two
        more layer groups, then all of them."""
        return self.replace(epochs=4)


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
