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

Beyond the paper, each off by default and chosen on validation data, never on test: per-stage
peak learning rates in ``stages`` (fastbook), ``label_smoothing`` (MultiFiT), ``keep_best`` and
``patience`` (end on the best validation epoch; stop once it stops improving), and for imbalanced
classes ``class_weights="balanced"`` and ``tune_decision="macro_f1"`` (``labels``, ``metrics``).
``pipeline.ulmfit_pipeline`` chains stage 2 and stage 3 on DataFrames; the CLI and notebooks use it.

Reference: fastai v0.7 ``courses/dl2/imdb_scripts/train_clas.py`` (the paper's script), fastai v2
``text_classifier_learner`` + ``fit_one_cycle`` stages (fastbook ch. 10).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from .callbacks import ScheduleLR, TimeEstimate
from .clas_callbacks import (
    KEEP_BEST_METRICS,
    ClasCheckpoint,
    EarlyStopping,
    EpochCount,
    EpochRecorder,
    KeepBest,
    resume_classifier,
)
from .clas_eval import evaluate_classifier, probabilities, validation_scores
from .clas_loader import ClasLoader
from .classifier import ULMFiTClassifier, build_classifier
from .config import CLAS_DROPOUTS, AWDLSTMConfig, ClasTrainConfig
from .distributed import resolve_device
from .interrupt import stop_cleanly
from .labels import (
    LabelWarning,
    balanced_class_weights,
    check_labels,
    encode_labels,
    label_names_of,
    normalise_labels,
    prepare_labels,
)
from .losses import classification_loss, masked_ar_tar
from .metrics import (
    DEFAULT_THRESHOLD,
    confusion_matrix,
    metrics_from_probs,
    tune_class_offsets,
    tune_thresholds,
    tuned_and_untuned,
)
from .model_source import ModelSource, resolve
from .predict import TextClassifier, predict_logits
from .progress import make_progress
from .schedules import (
    ONE_CYCLE_MOMS,
    Schedule,
    UnfreezeStage,
    discriminative_lrs,
    freeze_to,
    gradual_unfreezing,
)
from .tokenizer import tokenize_texts
from .train import Run, Step, adamw, fit, train_step
from .vocab import Vocab

DEFAULTS = ClasTrainConfig()  # stage 3's settings (config.py: ULMFiT §4.1, fastai v0.7)
CLAS_LR = DEFAULTS.lr
CLAS_BS = DEFAULTS.bs
CLAS_EPOCHS = DEFAULTS.epochs


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
    ``best_epoch``: with ``keep_best`` or ``patience``, the (0-based) epoch whose weights the model
    holds. ``stopped_after``: with ``patience``, the epoch after which training stopped early (None:
    it ran every epoch).
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
    stopped_after: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def classifier(self) -> TextClassifier:
        """The model ready for raw text (``predict``, ``contributions``, ``save``)."""
        return TextClassifier(
            self.model,
            self.vocab,
            self.label_names,
            self.multi_label,
            self.thresholds,
            self.settings,
            offsets=self.offsets,
        )


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


def _resolve_lm(lm, vocab: Vocab | None) -> tuple[ModelSource | None, Vocab | None]:
    """(the LM's encoder, read once, for ``build_classifier``; the vocabulary to numericalize with).

    ``lm``: anything ``model_source.resolve`` accepts, or ``None`` (a classifier from scratch).
    ``vocab`` defaults to the LM's own.
    """
    if lm is None:
        return None, vocab
    source = resolve(lm)
    if vocab is None:
        if source.itos is None:
            raise ValueError(
                f"{source.name} holds no vocabulary; pass vocab= (the vocabulary the language "
                "model was fine-tuned with)"
            )
        vocab = source.vocab or Vocab(source.itos)
    return source, vocab


def train_classifier(
    train_texts: Sequence[str],
    train_labels: Sequence,
    valid_texts: Sequence[str] | None = None,
    valid_labels: Sequence | None = None,
    *,
    lm: Any = None,
    vocab: Vocab | Sequence[str] | None = None,
    multi_label: bool = False,
    epochs: int = DEFAULTS.epochs,
    lr: float = DEFAULTS.lr,
    bs: int = DEFAULTS.bs,
    seed: int = DEFAULTS.seed,
    discriminative: bool = DEFAULTS.discriminative,
    lr_factor: float = DEFAULTS.lr_factor,
    schedule: str = DEFAULTS.schedule,
    gradual_unfreezing: bool = DEFAULTS.gradual_unfreezing,
    stages: Sequence[tuple[int, int]] | None = None,
    drop_mult: float = DEFAULTS.drop_mult,
    bptt: int = DEFAULTS.bptt,
    max_len: int | None = DEFAULTS.max_len,
    wd: float = DEFAULTS.wd,
    clip: float | None = DEFAULTS.clip,
    betas: tuple[float, float] = DEFAULTS.betas,
    alpha: float = DEFAULTS.alpha,
    beta: float = DEFAULTS.beta,
    label_smoothing: float = DEFAULTS.label_smoothing,
    keep_best: str | None = DEFAULTS.keep_best,
    patience: int | None = DEFAULTS.patience,
    class_weights: str | None = DEFAULTS.class_weights,
    class_weight_power: float = DEFAULTS.class_weight_power,
    tune_decision: str | None = DEFAULTS.tune_decision,
    label_names: Sequence[str] | None = None,
    label_delim: str = ",",
    tune_threshold: bool = True,
    sources: Mapping[str, str] | None = None,
    scratch_sizes: Mapping[str, int] | None = None,
    device: str = DEFAULTS.device,
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
        patience: stop once the validation metric (``keep_best``'s; ``"valid_loss"`` if that is
            None) has not improved for ``patience`` epochs of the last, fully unfrozen stage, and end
            with the best epoch's weights (fastai's ``EarlyStoppingCallback``). ``None``: every epoch.
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
            (``macro_f1``) and the tuned ones (``macro_f1_tuned``). Off by default.
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
    config = ClasTrainConfig(
        bs=bs,
        bptt=bptt,
        epochs=epochs,
        lr=lr,
        lr_factor=lr_factor,
        discriminative=discriminative,
        gradual_unfreezing=gradual_unfreezing,
        schedule=schedule,
        wd=wd,
        clip=clip,
        betas=tuple(betas),
        alpha=alpha,
        beta=beta,
        drop_mult=drop_mult,
        max_len=max_len,
        label_smoothing=label_smoothing,
        keep_best=keep_best,
        patience=patience,
        class_weights=class_weights,
        class_weight_power=class_weight_power,
        tune_decision=tune_decision,
        device=str(device),
        seed=seed,
    )
    settings = config.to_dict() | _scalars(
        lm=lm,
        multi_label=multi_label,
        label_delim=label_delim,
        tune_threshold=tune_threshold,
        progress=progress,
        checkpoint_path=checkpoint_path,
        resume=resume,
    )
    start = time.time()
    device = resolve_device(device)
    if len(train_texts) != len(train_labels):
        raise ValueError(f"{len(train_texts)} training texts but {len(train_labels)} labels")
    if (valid_texts is None) != (valid_labels is None):
        raise ValueError("give both valid_texts and valid_labels, or neither")
    if bs < 2:
        raise ValueError(f"bs must be >= 2 (BatchNorm needs two examples), got {bs}")
    if valid_texts is not None and len(valid_texts) != len(valid_labels):
        raise ValueError(f"{len(valid_texts)} validation texts but {len(valid_labels)} labels")
    names, y_train, y_valid = prepare_labels(
        train_labels, valid_labels, multi_label, label_delim, label_names, sources
    )

    # Texts -> ids with the language model's vocabulary.
    if vocab is not None and not isinstance(vocab, Vocab):
        vocab = Vocab(list(vocab))  # an itos list
    source, vocab = _resolve_lm(lm, vocab)
    train_tokens = tokenize_texts(train_texts)
    torch.manual_seed(seed)
    if source is None:  # Table 7 "from scratch": no pretrained knowledge at all
        vocab = vocab or Vocab.build(train_tokens)
        sizes = dict(scratch_sizes or {})
        arch = AWDLSTMConfig(len(vocab), **sizes).with_dropouts(CLAS_DROPOUTS, drop_mult)
        model = ULMFiTClassifier(arch, len(names), bptt, max_len)
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
    optimizer = adamw(groups, lrs, betas, wd, model)
    if stages:
        plan = [UnfreezeStage(*stage[:2]) for stage in stages]
        stage_lrs = [stage[2] if len(stage) > 2 else lr for stage in stages]
    else:
        plan = plan_stages(len(groups), epochs, gradual_unfreezing)
        stage_lrs = [lr] * len(plan)
    if keep_best is not None and keep_best not in KEEP_BEST_METRICS:
        raise ValueError(f"keep_best must be one of {sorted(KEEP_BEST_METRICS)}, got {keep_best!r}")
    if patience is not None:  # its range, and the others' below, are checked by ClasTrainConfig
        if valid_texts is None:
            raise ValueError("patience needs valid_texts and valid_labels: it watches their score")
        keep_best = keep_best or "valid_loss"  # stopping early keeps the best epoch, not the last
    if keep_best is not None and valid_texts is None:
        raise ValueError("keep_best needs valid_texts and valid_labels: it picks the epoch on them")
    if multi_label and label_smoothing:
        raise ValueError("label_smoothing is for single-label targets; multi-label uses sigmoids")
    if tune_decision is not None and valid_texts is None:
        raise ValueError("tune_decision needs valid_texts and valid_labels: it tunes on them")
    weights = None
    if class_weights == "balanced":
        w = balanced_class_weights(y_train, len(names), multi_label, class_weight_power)
        weights = torch.as_tensor(w, dtype=torch.float32, device=device)
    loss_fn = classification_loss(multi_label, label_smoothing, weights)
    result = ClassifierResult(model, vocab, names, multi_label, settings=settings)
    if weights is not None:
        result.class_weights = weights.cpu().tolist()
    n_epochs = sum(s.n_epochs for s in plan)
    # What must not change between an interrupted run and its resumption.
    run_id = {
        "n_train": len(train_texts),
        "labels": names,
        "bs": bs,
        "seed": seed,
        "plan": [[*s, x] for s, x in zip(plan, stage_lrs)],
        "keep_best": keep_best,
        "class_weights": result.class_weights,
    }
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    best = None  # keep_best: {"epoch", "score", "state" (a CPU copy of the weights)}
    if resume and checkpoint_path is not None and checkpoint_path.is_file():
        result.history, best = resume_classifier(
            checkpoint_path, run_id, model, optimizer, train_loader, vocab.itos, device
        )

    def step(batch) -> Step:
        x, mask, y = (t.to(device) for t in (batch.x, batch.mask, batch.y))

        def loss_and_reg(out):  # AR/TAR on the encoder's outputs, as fastai's classifier
            reg = masked_ar_tar(out.raw_output, out.mask, alpha, beta) if alpha or beta else 0
            return loss_fn(out.logits, y), reg

        return train_step(model, (x, mask), loss_and_reg, optimizer, clip)

    validate = None  # after each epoch: validation loss, accuracy, macro-F1
    if valid_loader is not None:
        validate = partial(validation_scores, model, valid_loader, y_valid, multi_label)
    keeper = KeepBest(keep_best, result.history, best)
    stopper = EarlyStopping(keep_best, patience, result.history)
    saver = ClasCheckpoint(
        checkpoint_path, run_id, vocab, train_loader, result.history, device, keeper, n_epochs
    )
    bar = make_progress(n_epochs * len(train_loader), "classifier", progress)
    recorder = EpochRecorder(result.history, groups, bar, keeper, validate, on_epoch, start)
    finished = EpochCount(len(result.history))
    what = "classifier" + (
        " (paced on the head alone: later stages are slower)" * gradual_unfreezing
    )
    estimate = TimeEstimate((n_epochs - len(result.history)) * len(train_loader), what, bar.note)
    where = lambda: f"after {finished.n} of {n_epochs} epochs"  # noqa: E731
    earlier = 0  # epochs of the stages before this one
    try:
        with stop_cleanly(where, checkpoint_path, lambda: saver.saved):
            for stage_no, stage in enumerate(plan):
                freeze_to(groups, stage.freeze_to)
                scale = stage_lrs[stage_no] / lr  # a stage may set its own peak LR
                total = stage.n_epochs * len(train_loader)  # a fresh schedule spans each stage
                sched = Schedule(total, [x * scale for x in lrs], kind=schedule)
                moms = ONE_CYCLE_MOMS if schedule == "one_cycle" else None
                done = min(max(len(result.history) - earlier, 0), stage.n_epochs)  # resumed
                run = Run(
                    model, optimizer, train_loader, stage.n_epochs, done * len(train_loader), done
                )
                recorder.stage(stage_no, stage, sched, earlier)
                if stage_no == len(plan) - 1:  # patience counts in the last stage only
                    stopper.start = earlier
                fit(
                    run,
                    step,
                    [ScheduleLR(sched, betas, moms), recorder, finished, saver, stopper, estimate],
                )
                earlier += stage.n_epochs
    finally:
        bar.close()
        freeze_to(groups, 0)  # leave the model fully trainable, as a plain module would be
        model.eval()

    best = keeper.best
    if best is not None:  # keep_best: back to the best epoch's weights
        model.load_state_dict(best["state"])
        result.best_epoch = int(best["epoch"])
    result.stopped_after = stopper.stopped_after
    if multi_label:
        result.thresholds = [DEFAULT_THRESHOLD] * len(names)
    if valid_loader is not None:
        probs = probabilities(predict_logits(model, valid_loader), multi_label).cpu().numpy()
        if multi_label and (tune_threshold or tune_decision == "macro_f1"):
            result.thresholds = tune_thresholds(probs, y_valid)
        if not multi_label and tune_decision == "macro_f1":
            result.offsets = tune_class_offsets(probs, y_valid, len(names))
        result.metrics = tuned_and_untuned(
            probs, y_valid, names, multi_label, result.thresholds, result.offsets
        )
    result.seconds = time.time() - start
    return result


def _scalars(**options: Any) -> dict[str, Any]:
    """The options of a run that are plain values (paths as text), to record in its settings."""
    out = {}
    for key, value in options.items():
        value = str(value) if isinstance(value, Path) else value
        if value is None or isinstance(value, (int, float, str, bool)):
            out[key] = value
    return out


__all__ = [
    "CLAS_LR",
    "CLAS_BS",
    "CLAS_EPOCHS",
    "ClassifierResult",
    "confusion_matrix",
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
]
