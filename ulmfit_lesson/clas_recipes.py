"""Stage 3 of ULMFiT as a recipe: fine-tune a classifier on top of the fine-tuned language model.

``train_classifier`` does ULMFiT §3.3 ("Target task classifier fine-tuning") explicitly:

1. labels -> ids (names sorted; clear errors for missing labels, a single class, and labels in the
   validation set that training never saw);
2. texts -> tokens -> ids with the *language model's* vocabulary;
3. ``build_classifier``: the LM's encoder + a new head (two BatchNorm/Dropout/Linear blocks);
4. **gradual unfreezing** (§3.3): train only the head for one epoch, then unfreeze one more layer
   group per epoch, then train everything for the remaining epochs;
5. at every stage: **discriminative learning rates** (§3.2: the top group at ``lr``, each group
   below divided by 2.6) and a fresh **slanted triangular** schedule over the stage (§3.2);
6. Adam with betas (0.7, 0.99) (§4.1), gradient clipping, AR/TAR (alpha 2, beta 1) on the encoder's
   outputs (fastai applies them to the classifier too);
7. after every epoch: validation loss, accuracy and macro-F1. Multi-label (sigmoid + binary cross-
   entropy): at the end one threshold per label is tuned on the validation set (default 0.5).

Each switch is a parameter, so the paper's ablations (Table 6: LM fine-tuning variants, run through
``ulmfit_pipeline``; Table 7: classifier fine-tuning variants) are calls with different arguments::

    Table 7 row                 train_classifier(...)
    From scratch                lm=None (random encoder, vocab from the training texts)
    Full                        gradual_unfreezing=False, discriminative=False, schedule="constant"
    Full + discr                gradual_unfreezing=False, schedule="constant"
    Last                        stages=[(-1, epochs)]
    Freez                       discriminative=False, schedule="constant"
    Freez + discr               schedule="constant"
    Freez + stlr / + cos        discriminative=False, schedule="stlr" / "one_cycle"
    ULMFiT (Freez+discr+stlr)   the defaults

Three switches go beyond the paper, for small datasets (measured on the poems by
``experiments.tune_stage3``): ``stages`` entries may carry their own peak learning rate (fastbook's
plan lowers it as layers thaw), ``label_smoothing`` (MultiFiT's classifier) and ``keep_best`` (end on
the best validation epoch's weights). Two more, for imbalanced classes (GoEmotions), also beyond
the paper, which trains on plain cross-entropy and predicts the argmax: ``class_weights=
"balanced"`` (smoothed inverse-frequency weights in the loss, ``balanced_class_weights``) and
``tune_decision="macro_f1"`` (per-class offsets, or multi-label thresholds, tuned on the validation
set for macro-F1; stored with the classifier and used by ``predict``). Both are off by default;
which to turn on is to be chosen on dev (issue 22's experiments), never on test.

``ulmfit_pipeline`` chains stage 2 (``lm_recipes.finetune_lm``) and stage 3 for DataFrames; the CLI
and the notebooks use it. The metrics (accuracy, macro-F1, confusion matrix, per-label thresholds)
are in ``metrics.py``.

Reference: fastai v0.7 ``courses/dl2/imdb_scripts/train_clas.py`` (the paper's script), fastai v2
``text_classifier_learner`` + ``fit_one_cycle`` stages (fastbook ch. 10).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ulmfit_lesson.language_model import LanguageModel

from . import checkpoint as ckpt
from .clas_loader import ClasLoader
from .classifier import (
    BPTT,
    DROP_MULT,
    ULMFiTClassifier,
    build_classifier,
)
from .config import CLAS_DROPOUTS, AWDLSTMConfig
from .distributed import resolve_device
from .interrupt import sigterm_as_keyboard_interrupt, training_interrupted
from .losses import AR_ALPHA, TAR_BETA, masked_ar_tar
from .metrics import (
    DEFAULT_THRESHOLD,
    accuracy,
    confusion_matrix,
    f1_per_class,
    macro_f1,
    metrics_from_probs,
    multilabel_counts,
    multilabel_metrics,
    tune_class_offsets,
    tune_thresholds,
    tuned_and_untuned,
)
from .predict import TextClassifier, predict_logits
from .progress import make_progress
from .schedules import (
    DISCRIMINATIVE_FACTOR,
    ONE_CYCLE_MOMS,
    Schedule,
    UnfreezeStage,
    discriminative_lrs,
    freeze_to,
    gradual_unfreezing,
    one_cycle_moms,
    param_groups,
)
from .tokenizer import tokenize_texts
from .train import (
    ADAM_BETAS,
    ADAM_EPS,
    WEIGHT_DECAY,
    _rng_state,
    _set_rng_state,
)
from .vocab import Vocab

CLAS_LR = 0.01  # ULMFiT §4.1: "a base learning rate of ... 0.01 for fine-tuning the classifier"
CLAS_BS = 64  # ULMFiT §4.1: "a batch size of 64"
# 4 gradual-unfreezing epochs (5 groups) + 6 with everything unfrozen. The paper gives no epoch count;
# 3-fold cross-validation over the poems' training verses preferred 10 to 6 (README, "What moved it").
CLAS_EPOCHS = 10
CLAS_GRAD_CLIP = 25.0  # fastai v0.7 train_clas.py: learn.clip = 25
KEEP_BEST_METRICS = {"accuracy": max, "macro_f1": max, "valid_loss": min}  # metric -> better one
TRAIN_STATE_KIND = "classifier_train_state"  # extra["kind"] of train_classifier's checkpoints
CLASS_WEIGHT_POWER = 0.5  # class_weights="balanced": the square root of inverse frequency
CLASS_WEIGHTS = (None, "balanced")
TUNE_DECISIONS = (None, "macro_f1")


# ---------------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _where(split: str, sources: Mapping[str, str] | None) -> str:
    return f"{split} ({sources[split]})" if sources and split in sources else split


def _rows(rows: list[int]) -> str:
    """0-based indices shown as row numbers counted from 1, as ``datasets.read_table`` counts
    the data rows of a file (the header is not a row): at most 10 of them."""
    shown = ", ".join(str(r + 1) for r in rows[:10])
    return shown + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


class LabelWarning(UserWarning):
    """Labels that differed only by case or surrounding whitespace were merged into one."""


def _names_of(value: Any, multi_label: bool, delim: str) -> list[str]:
    """The label names in one target: one name, or (multi-label) the names of a list or string."""
    if _missing(value):
        return []
    if multi_label and isinstance(value, (list, tuple, set, np.ndarray)):
        return [str(v) for v in value if not _missing(v)]
    if multi_label:  # spaces after a delimiter ("joy, fear") are layout, not part of a name
        return [s.strip() for s in str(value).split(delim) if s.strip()]
    return [value] if isinstance(value, str) else []  # numbers are left as they are


def normalise_labels(
    splits: Mapping[str, Sequence],
    multi_label: bool = False,
    label_delim: str = ",",
    reference: Sequence[str] | None = None,
) -> dict[str, list]:
    """Labels of every split with names stripped and case variants merged, warning what merged.

    ``pos``, `` pos``, ``pos `` and ``Pos`` would otherwise be four classes: three of them with a
    handful of examples, and test rows marked wrong for a difference nobody meant. Whitespace
    around a name is removed; names equal but for case become the spelling most used in the
    ``train`` split (else in all splits; ties: the first in sorted order), or the one in
    ``reference`` (e.g. a trained classifier's label names). A ``LabelWarning`` says which names
    were merged into which and how many rows each had. Numbers and missing values pass unchanged
    (the later checks name missing ones). Multi-label targets come back as lists of names.
    """
    counts: dict[str, dict[str, int]] = {}  # casefolded name -> raw spelling -> rows
    train_counts: dict[str, int] = {}
    for split, labels in splits.items():
        for value in labels:
            for raw in _names_of(value, multi_label, label_delim):
                variants = counts.setdefault(raw.strip().casefold(), {})
                variants[raw] = variants.get(raw, 0) + 1
                if split == "train":
                    train_counts[raw.strip()] = train_counts.get(raw.strip(), 0) + 1
    known = {n.casefold(): n for n in reference or ()}
    canonical: dict[str, str] = {}
    merged = []
    for key, variants in counts.items():
        stripped = {}
        for raw, n in variants.items():
            stripped[raw.strip()] = stripped.get(raw.strip(), 0) + n
        best = known.get(key) or min(
            stripped, key=lambda name: (-train_counts.get(name, 0), -stripped[name], name)
        )
        for raw in variants:
            canonical[raw] = best
        if len(variants) > 1 or next(iter(variants)) != best:
            shown = ", ".join(
                f"{raw!r} ({n} row{'s' if n > 1 else ''})" for raw, n in sorted(variants.items())
            )
            merged.append(f"{shown} -> {best!r}")
    if merged:
        warnings.warn(
            "labels that differ only by case or surrounding whitespace were merged: "
            + "; ".join(sorted(merged)),
            LabelWarning,
            stacklevel=2,
        )

    def fix(value: Any) -> Any:
        if multi_label and not _missing(value):
            return [canonical[raw] for raw in _names_of(value, True, label_delim)]
        return canonical.get(value, value) if isinstance(value, str) else value

    return {split: [fix(v) for v in labels] for split, labels in splits.items()}


def check_labels(
    splits: Mapping[str, Sequence],
    multi_label: bool = False,
    label_delim: str = ",",
    sources: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, list]]:
    """Every split's labels checked before any training: ``(label names, normalised labels)``.

    ``splits``: ``{"train": [...], "valid": [...], "test": [...]}`` (any but train may be absent).
    Labels are normalised (:func:`normalise_labels`); then missing labels, a single class, and
    labels of another split that training never has raise ``ValueError`` naming the split, file,
    rows and labels - seconds after reading, not hours later after training.
    """
    labels = normalise_labels(splits, multi_label, label_delim)
    names = label_names_of(labels["train"], multi_label, label_delim, sources)
    for split, values in labels.items():
        encode_labels(values, names, multi_label, split, label_delim, sources)
    return names, labels


def _label_sets(labels: Sequence, delim: str, split: str, sources) -> list[list[str]]:
    """Multi-label targets as lists of names: lists/tuples/sets as they are, strings split."""
    out, missing = [], []
    for i, value in enumerate(labels):
        if isinstance(value, (list, tuple, set, np.ndarray)):
            out.append([str(v).strip() for v in value if not _missing(v)])
        elif _missing(value):
            missing.append(i)
        else:
            out.append([s.strip() for s in str(value).split(delim) if s.strip()])
    if missing:
        raise ValueError(
            f"missing label (NaN or empty) in {_where(split, sources)} at rows {_rows(missing)}"
        )
    return out


def label_names_of(
    labels: Sequence, multi_label: bool = False, label_delim: str = ",", sources=None
) -> list[str]:
    """The sorted label names of the training labels (numbers sorted as numbers).

    Raises ``ValueError`` naming the rows of missing (NaN/None/empty) labels, or the class when
    there is only one (a classifier needs two).
    """
    if multi_label:
        names = {n for s in _label_sets(labels, label_delim, "train", sources) for n in s}
    else:
        missing = [i for i, v in enumerate(labels) if _missing(v)]
        if missing:
            where = _where("train", sources)
            raise ValueError(f"missing label (NaN or empty) in {where} at rows {_rows(missing)}")
        values = set(labels)
        if all(isinstance(v, (int, np.integer)) for v in values):
            return [str(v) for v in sorted(values)]
        names = {str(v) for v in values}
    if len(names) < 2:
        raise ValueError(
            f"{_where('train', sources)} has a single class, {sorted(names)[:1]}: a classifier "
            "needs examples of at least two labels"
        )
    return sorted(names)


def encode_labels(
    labels: Sequence,
    label_names: Sequence[str],
    multi_label: bool = False,
    split: str = "train",
    label_delim: str = ",",
    sources: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Label names -> class ids (n,), or 0/1 rows (n, n_labels) for multi-label.

    Raises ``ValueError`` naming the split (and its file, from ``sources``) and the unknown labels:
    a label the training set never had cannot be predicted, so it is an error, not a silent miss.
    """
    index = {n: i for i, n in enumerate(label_names)}
    if multi_label:
        sets = _label_sets(labels, label_delim, split, sources)
        unknown = sorted({n for s in sets for n in s if n not in index})
        rows = [i for i, s in enumerate(sets) if any(n not in index for n in s)]
        out = np.zeros((len(sets), len(label_names)), dtype=np.float32)
        for i, s in enumerate(sets):
            for n in s:
                if n in index:
                    out[i, index[n]] = 1.0
    else:
        missing = [i for i, v in enumerate(labels) if _missing(v)]
        if missing:
            raise ValueError(
                f"missing label (NaN or empty) in {_where(split, sources)} at rows {_rows(missing)}"
            )
        names = [str(v) for v in labels]
        unknown = sorted({n for n in names if n not in index})
        rows = [i for i, n in enumerate(names) if n not in index]
        out = np.array([index.get(n, -1) for n in names], dtype=np.int64)
    if unknown:
        raise ValueError(
            f"label(s) {', '.join(repr(u) for u in unknown[:10])} in {_where(split, sources)} "
            f"(rows {_rows(rows)}) never appear in the training labels {list(label_names)}; "
            "the classifier can only predict labels it was trained on"
        )
    return out


# ---------------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------------


@dataclass
class ClassifierResult:
    """What ``train_classifier`` returns.

    ``history``: one record per epoch: ``epoch``, ``stage``, ``freeze_to``, ``trainable_groups``,
    ``train_loss``, ``valid_loss``, ``accuracy``, ``macro_f1``, ``lrs`` (the stage's peak LR per
    group), ``seconds``. ``metrics``: the final validation metrics, under the plain rule (argmax;
    0.5 per label) and, where one was tuned, under the tuned rule (``macro_f1_tuned``, ...;
    ``metrics.tuned_and_untuned``).
    ``best_epoch``: with ``keep_best``, the (0-based) epoch whose weights the model holds.
    ``offsets``: single-label with ``tune_decision``: the per-class log-probability offsets tuned on
    the validation set (``metrics.tune_class_offsets``), which ``classifier.predict`` applies.
    ``class_weights``: the loss weights used (``balanced_class_weights``), or None.
    """

    model: ULMFiTClassifier
    vocab: Vocab
    label_names: list[str]
    multi_label: bool = False
    thresholds: list[float] | None = None
    offsets: list[float] | None = None
    class_weights: list | None = None
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def classifier(self) -> TextClassifier:
        """The model ready for raw text (``predict``, ``contributions``, ``save``)."""
        return TextClassifier(
            self.model, self.vocab, self.label_names, self.multi_label, self.thresholds,
            self.settings, offsets=self.offsets,
        )  # fmt: skip


def plan_stages(n_groups: int, epochs: int, gradual: bool = True) -> list[UnfreezeStage]:
    """The unfreezing plan for ``epochs`` epochs over ``n_groups`` layer groups.

    Gradual (ULMFiT §3.3): one epoch with the top group, one more group each epoch, then all groups
    for the remaining epochs. With fewer epochs than groups, the last epoch trains everything anyway
    (the paper's "until convergence at the last iteration"). Not gradual: all groups throughout.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if not gradual:
        return [UnfreezeStage(0, epochs)]
    n_gradual = min(epochs - 1, n_groups - 1)
    return gradual_unfreezing(n_gradual + 1, epochs_after=epochs - n_gradual)


CHECKPOINT_NAMES = ("encoder.pt", "lm.pt", "classifier.pt")  # what a recipe's folder holds


def _checkpoint_file(path: Path) -> Path | None:
    """``path`` itself if it is one of our ``.pt`` checkpoints, or the one in a recipe's folder."""
    if path.is_dir():
        return next((path / n for n in CHECKPOINT_NAMES if (path / n).is_file()), None)
    return path if path.is_file() and path.suffix == ".pt" else None


def _resolve_lm(lm, vocab: Vocab | None) -> tuple[Any, Vocab | None]:
    """(encoder source for ``build_classifier``, vocabulary) from the many ways to name an LM."""
    if lm is None:
        return None, vocab
    if hasattr(lm, "model") and hasattr(lm, "vocab"):  # lm_recipes.LMResult
        return lm.model, vocab or lm.vocab
    if isinstance(lm, tuple):  # (model, itos), as load_fastai_lm returns
        return lm[0], vocab or Vocab(list(lm[1]))
    if isinstance(lm, (str, Path)):
        file = _checkpoint_file(Path(lm))
        if file is not None:  # one of ours: build_classifier reads the encoder from it
            from .checkpoint import load_checkpoint

            itos = load_checkpoint(file).get("itos")
            if vocab is None and itos is None:
                raise ValueError(f"{file} holds no vocabulary; pass vocab=")
            return file, vocab or Vocab(itos)
        from .lm_recipes import load_lm  # a registry name, a fastai folder or archive

        model, itos = load_lm(lm)
        return model, vocab or Vocab(itos)
    if vocab is None:
        raise ValueError(
            "pass vocab= (the vocabulary the language model was fine-tuned with) with a "
            f"{type(lm).__name__}"
        )
    return lm, vocab


def train_classifier(
    train_texts: Sequence[str],
    train_labels: Sequence,
    valid_texts: Sequence[str] | None = None,
    valid_labels: Sequence | None = None,
    *,
    lm: Any = None,
    vocab: Vocab | Sequence[str] | None = None,
    multi_label: bool = False,
    epochs: int = CLAS_EPOCHS,
    lr: float = CLAS_LR,
    bs: int = CLAS_BS,
    seed: int = 0,
    discriminative: bool = True,
    lr_factor: float = DISCRIMINATIVE_FACTOR,
    schedule: str = "stlr",
    gradual_unfreezing: bool = True,
    stages: Sequence[tuple[int, int]] | None = None,
    drop_mult: float = DROP_MULT,
    bptt: int = BPTT,
    max_len: int | None = None,
    wd: float = WEIGHT_DECAY,
    clip: float | None = CLAS_GRAD_CLIP,
    betas: tuple[float, float] = ADAM_BETAS,
    alpha: float = AR_ALPHA,
    beta: float = TAR_BETA,
    label_smoothing: float = 0.0,
    keep_best: str | None = None,
    class_weights: str | None = None,
    class_weight_power: float = CLASS_WEIGHT_POWER,
    tune_decision: str | None = None,
    label_names: Sequence[str] | None = None,
    label_delim: str = ",",
    tune_threshold: bool = True,
    sources: Mapping[str, str] | None = None,
    scratch_sizes: Mapping[str, int] | None = None,
    device: str = "auto",
    progress: bool = True,
    on_epoch: Callable[[dict, ULMFiTClassifier, torch.optim.Optimizer], None] | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
) -> ClassifierResult:
    """Stage 3 (ULMFiT §3.3): train a classifier on the fine-tuned LM (recipe: module docstring).

    Args:
        train_texts, train_labels: raw texts and their labels (names or ints; multi-label: lists of
            names, or strings joined by ``label_delim``).
        valid_texts, valid_labels: evaluated after every epoch (and used to tune multi-label
            thresholds and, with ``tune_decision``, single-label offsets).
        lm: the language model: an ``LMResult`` (``lm_recipes.finetune_lm``), a ``(model, itos)``
            pair, a ``LanguageModel`` (with ``vocab=``), a checkpoint file/folder (``lm.pt``,
            ``encoder.pt``), a registry name (``'general-fwd'``) - or ``None`` for a randomly
            initialised encoder (Table 7 "from scratch"; vocabulary from the training texts).
        vocab: the vocabulary the LM reads (taken from ``lm`` when it has one).
        epochs: in all; with gradual unfreezing the first ``n_groups - 1`` add one group each.
        lr: the top group's peak learning rate; with ``discriminative``, group ``l - 1`` gets
            ``lr_l / lr_factor`` (2.6).
        schedule: ``"stlr"`` (ULMFiT), ``"one_cycle"`` (fastai, cosine; beta1 cycles 0.8-0.7-0.8) or
            ``"constant"``; a fresh schedule spans each unfreezing stage.
        gradual_unfreezing: off = all groups train from the first epoch. ``stages`` overrides the
            plan: ``[(freeze_to, n_epochs), ...]``, e.g. ``[(-1, epochs)]`` trains only the head;
            a third item sets that stage's peak ``lr`` (fastbook: ``[(-1, 1, 2e-2), (-2, 1, 1e-2),
            (-3, 1, 5e-3), (0, 2, 1e-3)]``).
        drop_mult: scales the classifier dropouts (``CLAS_DROPOUTS``, ULMFiT §4.1).
        bptt, max_len: BPT3C chunk length and kept tokens (default ``20 * bptt``).
        wd, clip, betas, alpha, beta: AdamW weight decay, max gradient norm, Adam betas (ULMFiT: 0.7,
            0.99), AR/TAR weights.
        label_smoothing: single-label only: the target puts ``1 - label_smoothing`` on the true class
            and spreads the rest evenly (MultiFiT's classifier uses 0.1; softer targets keep a
            small-data head from growing over-confident).
        keep_best: ``"accuracy"``, ``"macro_f1"`` or ``"valid_loss"``: end with the weights of the epoch
            that scored best on it on the validation set (ties: the later epoch), not the last
            epoch's (fastai's ``SaveModelCallback``). On a few hundred examples the score jumps from
            epoch to epoch, and the last epoch is often not the best. ``result.best_epoch`` says which.
        class_weights: ``None`` (the paper: plain cross-entropy) or ``"balanced"`` (beyond the paper):
            each example's loss is weighted by its class's weight, smoothed inverse frequency with
            ``class_weight_power`` (formula: :func:`balanced_class_weights`). Multi-label: each
            label is a two-class problem (absent / present) weighted the same way, i.e. a per-label
            ``pos_weight`` of ``(n_absent / n_present) ** power``. The validation loss stays plain.
        tune_decision: ``None`` (argmax; multi-label thresholds as ``tune_threshold`` says) or
            ``"macro_f1"`` (beyond the paper): after training, the decision rule is tuned on the
            validation set for macro-F1: single-label, one offset per class on the log-probabilities
            (``metrics.tune_class_offsets``; ``result.offsets``); multi-label, one threshold per
            label (``metrics.tune_thresholds``). Needs a validation set. The rule is saved with the
            classifier and used by ``predict``; ``result.metrics`` holds both the untuned scores
            (``macro_f1``) and the tuned ones (``macro_f1_tuned``). Default off for now: the
            default is to be chosen on dev in issue 22's experiments.
        label_names: fix the label order (default: sorted training labels).
        sources: names for error messages, e.g. ``{"train": "data/train.csv", "valid": ...}``.
        scratch_sizes: ``emb_size``/``hidden_size``/``n_layers`` of the encoder when ``lm=None``.
        on_epoch: called after every epoch with ``(record, model, optimizer)`` (plots, snapshots).
        checkpoint_path: after every epoch save there, atomically, what continuing needs: weights,
            Adam's state, the shuffling and dropout random states, the history. resume: continue
            from ``checkpoint_path`` if it exists, skipping the epochs it holds (the same texts,
            labels, plan, ``bs`` and ``seed``: the same metrics as an uninterrupted run on the CPU).
            Ctrl-C or SIGTERM raise ``interrupt.TrainingInterrupted`` naming the last checkpoint; the
            epoch under way is lost, as nothing is saved mid-epoch.
    Returns: a :class:`ClassifierResult` (``.classifier`` is the ready-to-use ``TextClassifier``).
    """
    settings = {
        k: v for k, v in locals().items()
        if isinstance(v, (int, float, str, bool)) or v is None
    }  # fmt: skip
    start = time.time()
    device = resolve_device(device)
    if len(train_texts) != len(train_labels):
        raise ValueError(f"{len(train_texts)} training texts but {len(train_labels)} labels")
    if (valid_texts is None) != (valid_labels is None):
        raise ValueError("give both valid_texts and valid_labels, or neither")
    if bs < 2:
        raise ValueError(f"bs must be >= 2 (BatchNorm needs two examples), got {bs}")
    splits = {"train": train_labels} | ({"valid": valid_labels} if valid_labels is not None else {})
    splits = normalise_labels(splits, multi_label, label_delim, reference=label_names)
    train_labels, valid_labels = splits["train"], splits.get("valid")
    if label_names is None:
        names = label_names_of(train_labels, multi_label, label_delim, sources)
    else:
        names = [str(n) for n in label_names]
    y_train = encode_labels(train_labels, names, multi_label, "train", label_delim, sources)
    y_valid = None
    if valid_texts is not None:
        if len(valid_texts) != len(valid_labels):
            raise ValueError(f"{len(valid_texts)} validation texts but {len(valid_labels)} labels")
        y_valid = encode_labels(valid_labels, names, multi_label, "valid", label_delim, sources)

    # Texts -> ids with the language model's vocabulary.
    if vocab is not None and not isinstance(vocab, Vocab):
        vocab = Vocab(list(vocab))  # an itos list
    source, vocab = _resolve_lm(lm, vocab)
    train_tokens = tokenize_texts(train_texts)
    torch.manual_seed(seed)
    if source is None:  # Table 7 "from scratch": no pretrained knowledge at all
        vocab = vocab or Vocab.build(train_tokens)
        config = AWDLSTMConfig(len(vocab), **dict(scratch_sizes or {})).with_dropouts(
            CLAS_DROPOUTS, drop_mult
        )
        model = ULMFiTClassifier(config, len(names), bptt, max_len)
    else:
        model = build_classifier(source, len(names), vocab, drop_mult, bptt=bptt, max_len=max_len)
    model = model.to(device)

    def ids(token_lists):
        return [torch.as_tensor(vocab.numericalize(t), dtype=torch.long) for t in token_lists]

    train_loader = ClasLoader(ids(train_tokens), y_train, bs, bptt, shuffle=True, seed=seed)
    valid_loader = None
    if valid_texts is not None:
        valid_loader = ClasLoader(ids(tokenize_texts(valid_texts)), y_valid, bs, bptt)

    # Optimizer over all layer groups; frozen parameters get no gradient, so Adam skips them.
    groups = model.groups
    lrs = discriminative_lrs(lr, len(groups), lr_factor) if discriminative else [lr] * len(groups)
    optimizer = torch.optim.AdamW(
        param_groups(groups, lrs, model), lr=lr, betas=betas, eps=ADAM_EPS, weight_decay=wd
    )
    if stages:
        plan = [UnfreezeStage(*stage[:2]) for stage in stages]
        stage_lrs = [stage[2] if len(stage) > 2 else lr for stage in stages]
    else:
        plan = plan_stages(len(groups), epochs, gradual_unfreezing)
        stage_lrs = [lr] * len(plan)
    if keep_best is not None and keep_best not in KEEP_BEST_METRICS:
        raise ValueError(f"keep_best must be one of {sorted(KEEP_BEST_METRICS)}, got {keep_best!r}")
    if keep_best is not None and valid_texts is None:
        raise ValueError("keep_best needs valid_texts and valid_labels: it picks the epoch on them")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if multi_label and label_smoothing:
        raise ValueError("label_smoothing is for single-label targets; multi-label uses sigmoids")
    if class_weights not in CLASS_WEIGHTS:
        raise ValueError(f"class_weights must be None or 'balanced', got {class_weights!r}")
    if tune_decision not in TUNE_DECISIONS:
        raise ValueError(f"tune_decision must be None or 'macro_f1', got {tune_decision!r}")
    if tune_decision is not None and valid_texts is None:
        raise ValueError("tune_decision needs valid_texts and valid_labels: it tunes on them")
    weights = None
    if class_weights == "balanced":
        weights = torch.as_tensor(
            balanced_class_weights(y_train, len(names), multi_label, class_weight_power),
            dtype=torch.float32, device=device,
        )  # fmt: skip
    loss_fn = _loss_fn(multi_label, label_smoothing, weights)
    result = ClassifierResult(model, vocab, names, multi_label, settings=settings)
    if weights is not None:
        result.class_weights = weights.cpu().tolist()
    n_epochs = sum(s.n_epochs for s in plan)
    # What must not change between an interrupted run and its resumption.
    run = {"n_train": len(train_texts), "labels": names, "bs": bs, "seed": seed,
           "plan": [[*s, x] for s, x in zip(plan, stage_lrs)], "keep_best": keep_best,
           "class_weights": result.class_weights}  # fmt: skip
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    saved = None  # what the checkpoint on disk holds
    best = None  # keep_best: {"epoch", "score", "state" (a CPU copy of the weights)}
    if resume and checkpoint_path is not None and checkpoint_path.is_file():
        result.history, best = _resume(
            checkpoint_path, run, model, optimizer, train_loader, vocab.itos, device
        )
        saved = f"epoch {len(result.history)} of {n_epochs}"
    bar = make_progress(n_epochs * len(train_loader), "classifier", progress)
    epoch = 0
    try:
        with sigterm_as_keyboard_interrupt():  # kill, timeout, pre-emption: as Ctrl-C
            for stage_no, stage in enumerate(plan):
                freeze_to(groups, stage.freeze_to)
                total = stage.n_epochs * len(train_loader)
                scale = stage_lrs[stage_no] / lr  # a stage may set its own peak LR
                sched = Schedule(total, [x * scale for x in lrs], kind=schedule)
                step = 0
                for _ in range(stage.n_epochs):
                    if epoch < len(result.history):  # resumed: this epoch is in the checkpoint
                        step, epoch = step + len(train_loader), epoch + 1
                        continue
                    t0, loss_sum, n_seen = time.time(), 0.0, 0
                    model.train()
                    for batch in train_loader:
                        mom = betas[0]  # Adam's beta1 plays momentum; one-cycle cycles it
                        if schedule == "one_cycle":
                            mom = one_cycle_moms(step, total, ONE_CYCLE_MOMS)
                        for group, group_lr in zip(optimizer.param_groups, sched(step)):
                            group["lr"], group["betas"] = group_lr, (mom, betas[1])
                        x, mask, y = (t.to(device) for t in (batch.x, batch.mask, batch.y))
                        out = model(x, mask)
                        loss = loss_fn(out.logits, y)
                        reg = 0
                        if alpha or beta:
                            reg = masked_ar_tar(out.raw_output, out.mask, alpha, beta)
                        optimizer.zero_grad(set_to_none=True)
                        (loss + reg).backward()
                        trainable = [p for p in model.parameters() if p.grad is not None]
                        if clip is not None:
                            torch.nn.utils.clip_grad_norm_(trainable, clip)
                        optimizer.step()
                        step += 1
                        loss_sum += loss.item() * len(y)
                        n_seen += len(y)
                        bar.update({"loss": loss_sum / n_seen, "step": step})
                    record = {
                        "epoch": epoch,
                        "stage": stage_no,
                        "freeze_to": stage.freeze_to,
                        "trainable_groups": sum(
                            any(p.requires_grad for m in g for p in m.parameters()) for g in groups
                        ),
                        "train_loss": loss_sum / max(n_seen, 1),
                        "lrs": list(sched.lrs),
                    }
                    if valid_loader is not None:
                        record.update(_validate(model, valid_loader, y_valid, multi_label))
                    record["seconds"] = time.time() - t0
                    result.history.append(record)
                    if keep_best is not None:
                        best = _track_best(best, keep_best, record, model)
                    bar.epoch_end({k: v for k, v in record.items() if k != "lrs"})
                    if on_epoch is not None:
                        on_epoch(record, model, optimizer)
                    epoch += 1
                    if checkpoint_path is not None:
                        _save_train_state(
                            checkpoint_path,
                            run,
                            model,
                            optimizer,
                            train_loader,
                            result,
                            device,
                            best,
                        )
                        saved = f"epoch {epoch} of {n_epochs}"
    except KeyboardInterrupt as err:
        where = f"after {epoch} of {n_epochs} epochs"
        raise training_interrupted(err, where, checkpoint_path, saved) from None
    finally:
        bar.close()
        freeze_to(groups, 0)  # leave the model fully trainable, as a plain module would be
        model.eval()

    if best is not None:  # keep_best: back to the best epoch's weights
        model.load_state_dict(best["state"])
        result.best_epoch = int(best["epoch"])
    if multi_label:
        result.thresholds = [DEFAULT_THRESHOLD] * len(names)
    if valid_loader is not None:
        probs = _probabilities(predict_logits(model, valid_loader), multi_label).cpu().numpy()
        if multi_label and (tune_threshold or tune_decision == "macro_f1"):
            result.thresholds = tune_thresholds(probs, y_valid)
        if not multi_label and tune_decision == "macro_f1":
            result.offsets = tune_class_offsets(probs, y_valid, len(names))
        result.metrics = tuned_and_untuned(
            probs, y_valid, names, multi_label, result.thresholds, result.offsets
        )
    result.seconds = time.time() - start
    return result


def _track_best(best: dict | None, metric: str, record: dict, model) -> dict | None:
    """The new best (this epoch, with a CPU copy of its weights) if ``record`` ties or beats ``best``."""
    score = float(record[metric])
    if best is not None and KEEP_BEST_METRICS[metric](score, best["score"]) != score:
        return best
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return {"epoch": int(record["epoch"]), "score": score, "state": state}


def _save_train_state(path, run, model, optimizer, loader, result, device, best=None) -> None:
    """Write what resuming after this epoch needs (``train_classifier(checkpoint_path=...)``)."""
    train_state = {
        "run": run,
        "history": result.history,
        "loader_rng": loader.rng.bit_generator.state,  # the next epoch's shuffle
        "rng": _rng_state(device),  # the next epoch's dropout masks
        "best": best,  # keep_best's epoch, score and weights so far
    }
    extra = {"kind": TRAIN_STATE_KIND, "train_state": train_state}
    ckpt.save_checkpoint(path, model, result.vocab.itos, model.config, optimizer, extra=extra)


def _resume(path, run, model, optimizer, loader, itos, device) -> tuple[list[dict], dict | None]:
    """Load the state ``_save_train_state`` wrote into the fresh run; return the history so far and
    ``keep_best``'s best epoch so far."""
    state = ckpt.load_checkpoint(path)
    extra = state.get("extra") or {}
    if extra.get("kind") != TRAIN_STATE_KIND:
        raise ValueError(
            f"{path} holds no classifier training state (kind {extra.get('kind')!r}); "
            "resume from a file written by train_classifier(checkpoint_path=...)"
        )
    ts = extra["train_state"]
    changed = [f"{k}: {ts['run'].get(k)!r} then, {v!r} now" for k, v in run.items()
               if ts["run"].get(k) != v]  # fmt: skip
    if changed:
        raise ValueError(
            f"{path} belongs to another run ({'; '.join(changed)}); resume with the same texts, "
            "labels, epochs, bs and seed"
        )
    ckpt.load_into(model, state, itos, source=str(path))
    optimizer.load_state_dict(state["optimizer"])
    loader.rng.bit_generator.state = ts["loader_rng"]
    _set_rng_state(ts["rng"], device)
    return list(ts["history"]), ts.get("best")


def balanced_class_weights(
    y: np.ndarray, n_classes: int, multi_label: bool = False, power: float = CLASS_WEIGHT_POWER
) -> np.ndarray:
    """Smoothed inverse-frequency loss weights (``train_classifier(class_weights="balanced")``).

    Single-label, ``n`` examples, ``k`` classes, ``n_c`` examples of class ``c``::

        w_c = (n / (k * n_c)) ** power,  then scaled so that sum_c n_c w_c = n

    i.e. the weights average 1 over the training examples, so the loss keeps its scale and the
    learning rates tuned for plain cross-entropy still fit. ``power=1`` is scikit-learn's (and
    ``baselines.LogisticRegression``'s) ``"balanced"``: every class then weighs as much as any
    other in total. Why smooth (``power=0.5``, the square root): on GoEmotions' Ekman view full
    inverse frequency weighs a disgust comment (1.3 % of them) 30 times a joy comment (38.5 %);
    the few rare examples then dominate their batches, and a network that can memorise them learns
    to over-predict their class. The square root moves part of the way (a ratio of about 5.4); the
    experiments of issue 22 are to say whether 0.5 is right (``class_weight_power``). A class
    without training examples counts as one. Returns ``(k,)``.

    Multi-label (``y``: 0/1 rows, ``(n, k)``): each label is a two-class problem, absent vs
    present, weighted by the same formula; returns ``(k, 2)``: ``[w_absent, w_present]`` per label
    (their ratio is the ``pos_weight`` ``(n_absent / n_present) ** power``).
    """
    y = np.asarray(y)
    if multi_label:
        present = y.astype(bool).sum(0)
        return np.stack([_balanced([len(y) - p, p], power) for p in present])
    return _balanced(np.bincount(y.astype(int), minlength=n_classes), power)


def _balanced(counts, power: float) -> np.ndarray:
    """``balanced_class_weights``' formula for one set of class counts."""
    counts = np.asarray(counts, dtype=np.float64)
    n, k = counts.sum(), len(counts)
    w = (n / (k * np.maximum(counts, 1))) ** power
    return w * n / (counts * w).sum()


def _loss_fn(multi_label: bool, label_smoothing: float = 0.0, weights: Tensor | None = None):
    """The training loss: cross-entropy (softmax) or binary cross-entropy per label (sigmoids),
    each example (each label, multi-label) weighted by ``weights`` (``balanced_class_weights``):
    ``mean_i(w[y_i] * CE_i)``, not PyTorch's ``sum(w CE) / sum(w)``, so a batch of rare examples
    weighs more than a batch of common ones, as in the TF-IDF baseline's weighted loss."""
    if multi_label:
        if weights is None:
            return lambda logits, y: F.binary_cross_entropy_with_logits(logits.float(), y.float())

        def weighted_bce(logits, y):
            y = y.float()
            w = weights[:, 0] * (1 - y) + weights[:, 1] * y  # (bs, k): absent or present weight
            bce = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none")
            return (w * bce).mean()

        return weighted_bce
    if weights is None:
        return lambda logits, y: F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)

    def weighted_ce(logits, y):
        ce = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing, reduction="none")
        return (weights[y] * ce).mean()

    return weighted_ce


def _probabilities(logits: Tensor, multi_label: bool) -> Tensor:
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def _validate(model, loader, y_true, multi_label) -> dict[str, float]:
    logits = predict_logits(model, loader)  # input order
    y = torch.as_tensor(y_true, device=logits.device)
    loss = float(_loss_fn(multi_label)(logits, y))  # plain cross-entropy, comparable across runs
    probs = _probabilities(logits, multi_label).cpu().numpy()
    m = metrics_from_probs(probs, y_true, None, multi_label)
    return {"valid_loss": loss, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def evaluate_classifier(
    classifier: TextClassifier,
    texts: Sequence[str],
    labels: Sequence,
    bs: int = 64,
    split: str = "test",
    label_delim: str = ",",
    sources: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, confusion matrix (single-label) of ``classifier`` on labelled texts.

    Under the plain rule (argmax; 0.5 per label) as ``accuracy``, ``macro_f1``, ...; where the
    classifier holds a tuned rule (single-label ``offsets``; multi-label ``thresholds``) also under
    it, as ``accuracy_tuned``, ``macro_f1_tuned``, ... (``metrics.tuned_and_untuned``).
    Labels are normalised to the classifier's names first (stripped, case variants merged with a
    ``LabelWarning``); labels it was not trained on are an error naming them and the split.
    """
    labels = normalise_labels({split: labels}, classifier.multi_label, label_delim,
                              reference=classifier.label_names)[split]  # fmt: skip
    y = encode_labels(labels, classifier.label_names, classifier.multi_label, split, label_delim,
                      sources)  # fmt: skip
    probs = classifier.predict_proba(list(texts), bs).numpy()
    return tuned_and_untuned(
        probs, y, classifier.label_names, classifier.multi_label, classifier.thresholds,
        classifier.offsets,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Stages 2 + 3
# ---------------------------------------------------------------------------------------------------


@dataclass
class PipelineResult:
    """``classifier``: the stage-3 result; ``lm``: the stage-2 ``LMResult`` (None if skipped)."""

    classifier: ClassifierResult
    lm: Any = None
    seconds: float = 0.0


def ulmfit_pipeline(
    train_df,
    valid_df=None,
    pretrained: str | Path | tuple[LanguageModel, Sequence[str]] | None = None,
    finetune_lm: bool = True,
    *,
    text_col: str = "text",
    label_col: str = "label",
    lm_options: Mapping[str, Any] | None = None,
    lm_extra_texts: Sequence[str] | None = None,
    lm_out_dir: str | Path | None = None,
    min_freq: int = 3,
    progress: bool = True,
    device: str = "auto",
    **classifier_options: Any,
) -> PipelineResult:
    """ULMFiT stages 2 and 3 on DataFrames (columns ``text_col``, ``label_col``).

    Stage 2 (``finetune_lm=True``, ULMFiT §3.2): ``lm_recipes.finetune_lm`` extends the pretrained
    vocabulary with the training texts' new words (count >= ``min_freq``), moves the embeddings
    (new words start at the mean vector) and fine-tunes the LM on the training texts (plus
    ``lm_extra_texts``, e.g. unlabelled ones), validating on ``valid_df``'s texts. ``lm_options``
    go to ``finetune_lm`` (``epochs``, ``lr``, ``max_tokens``, ...).
    Without stage 2 (Table 6 "no LM fine-tuning"), the vocabulary is extended and the embeddings
    moved the same way, but the LM is not trained on the target texts.
    ``pretrained``: a registry name, a fastai folder/archive, one of our LM checkpoints, a loaded
    ``(model, itos)``, or ``None`` for ``pretrained.course_model()``.
    Stage 3: ``train_classifier(...)`` with ``classifier_options`` (``epochs``, ``lr``, ``bs``,
    ``multi_label``, ``seed``, the ablation switches, ...).
    """
    from . import lm_recipes
    from .pretrained import course_model, match_embeddings

    start = time.time()
    if pretrained is None:  # the course's model: general-fwd where present, else wt103-fwd
        pretrained = course_model()
    train_texts = train_df[text_col].astype(str).tolist()
    valid_texts = valid_df[text_col].astype(str).tolist() if valid_df is not None else None
    lm_texts = train_texts + list(lm_extra_texts or [])
    lm_result = None
    if finetune_lm:
        options = dict(progress=progress, device=device, min_freq=min_freq) | dict(lm_options or {})
        options.setdefault("seed", classifier_options.get("seed", 0))
        lm_result = lm_recipes.finetune_lm(
            pretrained, lm_texts, valid_texts, out_dir=lm_out_dir, **options
        )
        lm = lm_result
    else:
        if isinstance(pretrained, tuple):
            old_model, old_itos = pretrained
        else:
            old_model, old_itos = lm_recipes.load_lm(pretrained)
        vocab = lm_recipes.finetune_vocab(old_itos, tokenize_texts(lm_texts), min_freq)
        lm = (match_embeddings(old_model, list(old_itos), vocab.itos), vocab.itos)
    valid_labels = valid_df[label_col].tolist() if valid_df is not None else None
    clas = train_classifier(
        train_texts, train_df[label_col].tolist(), valid_texts, valid_labels, lm=lm,
        progress=progress, device=device, **classifier_options,
    )  # fmt: skip
    return PipelineResult(clas, lm_result, time.time() - start)


__all__ = [
    "CLAS_LR",
    "CLAS_BS",
    "CLAS_EPOCHS",
    "ClassifierResult",
    "PipelineResult",
    "accuracy",
    "confusion_matrix",
    "f1_per_class",
    "macro_f1",
    "multilabel_counts",
    "multilabel_metrics",
    "tune_thresholds",
    "tune_class_offsets",
    "tuned_and_untuned",
    "balanced_class_weights",
    "label_names_of",
    "encode_labels",
    "normalise_labels",
    "check_labels",
    "LabelWarning",
    "plan_stages",
    "train_classifier",
    "metrics_from_probs",
    "evaluate_classifier",
    "ulmfit_pipeline",
]
