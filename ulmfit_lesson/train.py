"""Training a model: one optimisation step, one small loop, and the language model's recipe on it.

Stages 1 and 2 of ULMFiT (general-domain LM pretraining, §3.1; target-task LM fine-tuning, §3.2)
and stage 3 (classifier fine-tuning, §3.3) train the same way; only the data, the loss, the
learning rates and which layers are frozen differ. One step (:func:`train_step`)::

    out = model(*inputs)                          # LM: (x, hidden); classifier: (x, mask)
    loss, reg = loss_fn(out)                      # cross-entropy, and AR/TAR (AWD-LSTM §4.6)
    (loss + reg).backward(); clip the gradient norm
    optimizer.step()

and the loop (:func:`fit`) runs it over every batch of every epoch. What a real run needs around
it (the LR schedule, checkpoints and resuming, a planned stop, the best epoch, progress) hooks into
the loop as callbacks (``callbacks.py``), so the loop itself stays readable.

A language model carries its hidden state from one batch to the next (row i of a batch continues
row i of the previous one, see ``lm_loader.py``): :class:`LMStep` keeps it, detached after every
step (truncated BPTT: keep the values, cut the graph), and resets it to zeros at the start of every
epoch, when the streams restart from a new shuffle of the documents.

Optimizer: Adam with ULMFiT's betas (0.7, 0.99) (§4.1) and *decoupled* weight decay (AdamW,
Loshchilov & Hutter 2019): each step also shrinks every trained weight by ``lr * wd``, outside
Adam's moment estimates. This is fastai's default (``true_wd=True``); ``torch.optim.AdamW`` does
exactly this. ``eps=1e-5`` as fastai's Adam. With ``schedule='one_cycle'`` beta1 follows fastai's
momentum cycle (0.8, 0.7, 0.8) unless ``moms`` says otherwise.

Reference: pytorch/examples ``word_language_model/main.py`` and salesforce/awd-lstm-lm ``main.py``
(the loop, ``repackage_hidden``, clipping, the LR rescale), fastai v2 ``Learner`` + ``rnn_cbs``
(callbacks, AR/TAR, ``ModelResetter``).

Several GPUs under ``torchrun`` (``distributed.py``: ``RankSlice``, ``init_distributed``) and
Ctrl-C/SIGTERM (``interrupt.py``: the message names the checkpoint to resume from) have modules of
their own.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .awd_lstm import detach_hidden
from .callbacks import (
    Callback,
    LMCheckpoint,
    LMRecorder,
    LoaderEpoch,
    ScheduleLR,
    StopAfter,
    TimeEstimate,
    load_lm_train_state,
    resume_lm,
)
from .config import ADAM_BETAS, ADAM_EPS, AR_ALPHA, BPTT, BS, TAR_BETA, WEIGHT_DECAY, LMTrainConfig
from .distributed import (
    RankSlice,
    autocast,
    data_parallel,
    init_distributed,
    resolve_device,
    world_info,
)
from .interrupt import TrainingInterrupted, sigterm_as_keyboard_interrupt, stop_cleanly
from .lm_eval import LMMetrics, as_loader, evaluate_lm
from .lm_loader import LMBatch, LMLoader
from .losses import ar_tar_penalty, lm_loss
from .progress import make_progress
from .schedules import ONE_CYCLE_MOMS, ONE_CYCLE_PCT_START, Schedule, param_groups

GRAD_CLIP = LMTrainConfig.clip


# ---------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------


@dataclass
class History:
    """What ``fit_lm`` returns: one record per step and one per epoch (lists of dicts, for pandas).

    Step records: ``step, epoch, loss`` (cross-entropy of the batch, without AR/TAR), ``reg``
    (AR + TAR), ``lr`` (the top group's applied LR), ``lrs`` (every group's applied LR), ``mom``
    (Adam's beta1), ``seq_len``, ``lr_scale``, ``grad_norm`` (before clipping).
    Epoch records: ``epoch, train_loss`` (token-weighted), ``valid_loss, valid_accuracy,
    valid_perplexity`` (with a validation set), ``seconds``.
    """

    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    total_steps: int = 0
    stopped_early: bool = False
    stage: str = ""  # a recipe's name for this run, e.g. "frozen" or "unfrozen"
    # The validation metrics of the model as training left it: set by the last epoch's evaluation,
    # cleared by any step after it. A recipe reporting "after" reuses them instead of evaluating
    # the same weights a second time (on GoEmotions' dev set, 9 s of a 2-core CPU).
    final_valid: LMMetrics | None = None

    def to_plain(self) -> dict:
        return {
            "steps": self.steps,
            "epochs": self.epochs,
            "total_steps": self.total_steps,
            "stage": self.stage,
        }


def count_steps(loader: Any, epochs: int) -> int:
    """The number of optimizer steps of ``epochs`` epochs of ``loader``: the schedule's ``T``.

    With variable-length BPTT ``len(loader)`` is only an estimate; an ``LMLoader``'s lengths are
    fixed by its seed and epoch number, so we look them up (draw each epoch's layout without
    training on it) and get the exact count.
    """
    if not isinstance(loader, (LMLoader, RankSlice)):
        return len(loader) * epochs
    saved, total = loader.epoch, 0
    try:
        for k in range(epochs):
            loader.epoch = saved + k
            batches = iter(loader)
            if next(batches, None) is not None:  # the loader samples the epoch's lengths here
                total += len(loader.last_seq_lens)
    finally:
        loader.epoch = saved
    return total


# ---------------------------------------------------------------------------------------------------
# One step, one loop
# ---------------------------------------------------------------------------------------------------


def adamw(
    groups: Sequence, lrs: Sequence[float], betas=ADAM_BETAS, wd=WEIGHT_DECAY, model=None
) -> torch.optim.AdamW:
    """Adam with decoupled weight decay over the layer groups, one learning rate per group
    (discriminative fine-tuning, ULMFiT §3.2; groups: ``schedules.param_groups``).

    ``fused=True`` on a CPU or a GPU: one kernel updates each parameter in a single pass over its
    memory, where the default takes a dozen elementwise passes per tensor. The same update (to
    float rounding), about 5x faster on a CPU, where the optimizer was a tenth of a classifier step
    with the 27k-word embedding (``bench/bench_train_step.py``).
    """
    params = param_groups(groups, lrs, model=model)
    devices = {p.device.type for g in params for p in g["params"]}
    fused = devices <= {"cpu", "cuda"}  # elsewhere (MPS on an old torch): PyTorch's default
    return torch.optim.AdamW(
        params, lr=lrs[-1], betas=betas, eps=ADAM_EPS, weight_decay=wd, fused=fused or None
    )


class Step(NamedTuple):
    """What :func:`train_step` returns: the model's output, the data loss (without the
    regulariser), the regulariser (AR/TAR; 0 without) and the gradient norm before clipping."""

    out: Any
    loss: Tensor
    reg: Tensor | float
    grad_norm: Tensor


def train_step(
    model: nn.Module,
    inputs: tuple,
    loss_fn: Callable[[Any], tuple[Tensor, Tensor | float]],
    optimizer: torch.optim.Optimizer,
    clip: float | None = None,
    scaler: torch.amp.GradScaler | None = None,
    cast: Any = None,
) -> Step:
    """One optimisation step: forward, loss (+ AR/TAR), backward, clip, step.

    ``loss_fn(out) -> (loss, reg)``. ``clip``: the max gradient norm (``None``: no clipping; the
    norm is still measured). ``scaler``/``cast``: fp16 mixed precision's gradient scaler and the
    autocast context (default: plain float32). Frozen parameters get no gradient, so Adam and weight
    decay leave them exactly as they are.
    """
    with cast or nullcontext():
        out = model(*inputs)
    loss, reg = loss_fn(out)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        (loss + reg).backward()
    else:
        scaler.scale(loss + reg).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    trained = [p for p in model.parameters() if p.grad is not None]
    grad_norm = nn.utils.clip_grad_norm_(trained, clip if clip is not None else math.inf)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return Step(out, loss, reg, grad_norm)


@dataclass
class Run:
    """The state of one :func:`fit`, which callbacks read and change."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loader: Iterable
    epochs: int
    step: int = 0  # optimizer steps so far: the schedule's position
    epoch: int = 0  # the epoch under way (resuming: the first to run)
    skip: int = 0  # resuming mid-epoch: batches of the first epoch already trained on
    batch_in_epoch: int = 0
    stop: bool = False  # set by a callback: end after this step
    last: Step | None = None  # the last step's result


def fit(run: Run, step: Callable[[Any], Step], callbacks: Sequence[Callback] = ()) -> Run:
    """The training loop: ``step(batch)`` on every batch of every epoch, callbacks around it.

    The language model and the classifier both train with it; ``step`` is :class:`LMStep` or the
    classifier's step, each a :func:`train_step` with its own inputs and loss.
    """

    def call(moment: str, *args) -> None:
        for cb in callbacks:
            getattr(cb, moment)(run, *args)

    for epoch in range(run.epoch, run.epochs):
        run.epoch = epoch
        run.model.train()
        call("before_epoch")  # e.g. the loader's epoch: each epoch has its own fixed shuffle
        batches = itertools.islice(iter(run.loader), run.skip, None)
        run.batch_in_epoch, run.skip = run.skip, 0
        for batch in batches:
            call("before_step", batch)  # the learning rates of this step
            run.last = step(batch)
            run.step += 1
            run.batch_in_epoch += 1
            call("after_step", batch)  # records, progress, checkpoints
            if run.stop:
                return run
        call("after_epoch")  # validation, records, checkpoints, early stopping
        if run.stop:
            return run
    return run


# ---------------------------------------------------------------------------------------------------
# The language model's step and records
# ---------------------------------------------------------------------------------------------------


class LMStep(Callback):
    """One language-model step, with the hidden state carried from batch to batch.

    ``hidden`` is detached after every step (truncated BPTT) and reset at the start of an epoch
    (unless resuming mid-epoch) and at its end.
    """

    def __init__(
        self, model, optimizer, device, alpha, beta, clip, scaler=None, cast=None, words=None
    ):
        self.model, self.optimizer, self.device = model, optimizer, device
        self.alpha, self.beta, self.clip, self.scaler, self.cast = alpha, beta, clip, scaler, cast
        self.hidden = None
        self.words = self.position = None
        if words is not None:  # the softmax covers only these ids; a target's class is its place
            self.words = words.to(device)
            self.position = torch.full((int(words.max()) + 1,), -1, dtype=torch.long, device=device)
            self.position[self.words] = torch.arange(len(words), device=device)

    def __call__(self, batch: LMBatch) -> Step:
        x, y = batch.x.to(self.device), batch.y.to(self.device)  # (bs, seq_len)
        if self.words is not None:
            y = self.position[y]  # token id -> its column among the scored words

        def loss_fn(out):  # out.logits: (bs, seq_len, vocab or n_words)
            reg = ar_tar_penalty(out.raw_output, out.dropped_output, self.alpha, self.beta)
            return lm_loss(out.logits, y), reg

        inputs = (x, self.hidden) if self.words is None else (x, self.hidden, self.words)
        step = train_step(
            self.model, inputs, loss_fn, self.optimizer, self.clip, self.scaler, self.cast
        )
        self.hidden = detach_hidden(step.out.hidden)
        return step

    def before_epoch(self, run) -> None:
        if not run.skip:  # a new epoch: the streams restart, so does the memory
            self.hidden = None

    def after_epoch(self, run) -> None:
        self.hidden = None


# ---------------------------------------------------------------------------------------------------
# Training a language model
# ---------------------------------------------------------------------------------------------------


def fit_lm(
    model: nn.Module,
    loader: Iterable[LMBatch],
    epochs: int = 1,
    lr_max: float | Sequence[float] = 1e-3,
    *,
    schedule: str = "stlr",
    groups: list[list[nn.Module]] | None = None,
    wd: float = WEIGHT_DECAY,
    clip: float | None = GRAD_CLIP,
    betas: tuple[float, float] = ADAM_BETAS,
    moms: tuple[float, float, float] | None = None,
    alpha: float = AR_ALPHA,
    beta: float = TAR_BETA,
    valid_loader: Any = None,
    on_step: Callable[[dict], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    progress: bool = True,
    device: str | torch.device = "auto",
    amp: str | None = None,
    checkpoint_path: str | Path | None = None,
    save_every: int | None = None,
    itos: list[str] | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    seed: int | None = None,
    schedule_options: dict[str, float] | None = None,
    softmax_words: torch.Tensor | None = None,
) -> History:
    """Train a language model for ``epochs`` epochs; return the :class:`History`.

    Args:
        model: a ``LanguageModel``; trained in place and left on ``device``. Freeze layer groups
            before calling (``schedules.freeze_to``): frozen parameters get no gradient, so Adam and
            weight decay leave them exactly as they are.
        loader: yields ``LMBatch(x, y, seq_len, lr_scale)``, usually an ``LMLoader``.
        epochs: passes over the loader. lr_max: the peak LR, one float for every layer group or one
            per group, lowest first (``schedules.discriminative_lrs(lr, 4)``: ULMFiT §3.2's /2.6).
        schedule: ``'stlr'`` (ULMFiT §3.2), ``'one_cycle'`` (fastai) or ``'constant'``;
            ``schedule_options`` go to it (``cut_frac``, ``ratio``, ``pct_start``, ...).
        groups: layer groups, lowest first; default ``model.groups`` (3 LSTMs, then embedding + decoder).
        wd: decoupled weight decay. clip: max gradient norm (``None``: no clipping).
        betas: Adam's (beta1, beta2). moms: beta1 cycle for one-cycle, default (0.8, 0.7, 0.8).
        alpha, beta: AR and TAR weights (AWD-LSTM §4.6); 0 turns them off.
        valid_loader: evaluated after every epoch: an ``LMLoader`` or numericalized documents (then
            read with the training loader's ``bs`` and ``bptt``).
        on_step, on_epoch: called with each step / epoch record. progress: show a tqdm bar or, in a
            notebook, a live loss plot.
        device: ``'auto'``, ``'cpu'``, ``'cuda'``... amp: ``None``, ``'bf16'`` or ``'fp16'`` (with a
            gradient scaler) mixed precision via ``torch.autocast``.
        checkpoint_path: save model, optimizer, RNG states, loader position and carried hidden state
            here after every epoch (and every ``save_every`` steps), atomically; ``itos`` is stored
            with it. resume: continue from ``checkpoint_path`` if it exists, exactly where it stopped
            (single process, same loader seed: bit-for-bit the same parameters as an uninterrupted run).
        stop_after: stop after this many steps in total (the schedule still spans all ``epochs``):
            a planned interruption, for demos and tests of ``resume``.
        seed: seeds torch's generator (the dropout masks); under ``torchrun`` each process uses
            ``seed + rank``. The loader has its own seed.
        softmax_words: token ids (``LMLoader.words()``, at least every word the loader's corpus
            holds): each training step's softmax ranges over these only, not the whole vocabulary.
            The loss and its gradient are then those of predicting the next word among the words
            the corpus uses (the recorded training loss too); validation still scores every
            word. ``None``: the whole vocabulary.
    Interruption: Ctrl-C, and SIGTERM too, raise :class:`TrainingInterrupted`, whose message names
    the last checkpoint and what it holds. Nothing is saved at that moment (a step may be half
    done); the last checkpoint on disk is whole, since every write is atomic, and ``resume=True``
    continues from it: what ran after it is done again.
    Under ``torchrun`` (a process group is initialised) the model is wrapped in
    ``DistributedDataParallel`` and ``loader`` (an ``LMLoader`` over the *global* batch) is shared
    out by :class:`RankSlice`; metrics are averaged over processes and only rank 0 saves.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if softmax_words is not None and hasattr(loader, "words"):
        corpus = loader.words()
        missing = corpus[~torch.isin(corpus, softmax_words.cpu())]
        if len(missing):
            raise ValueError(
                f"softmax_words lacks token id {int(missing[0])} (and {len(missing) - 1} more), "
                "which the training corpus holds: every target must be among the scored words"
            )
    rank, world = world_info()
    device = resolve_device(device)
    cast = autocast(device, amp)  # checks amp and device before any work
    if seed is not None:
        torch.manual_seed(seed + rank)
        random.seed(seed + rank)
    raw_model = getattr(model, "module", model).to(device)
    if valid_loader is not None:  # documents are read in the training loader's layout
        bs = getattr(loader, "bs", BS) * (world if isinstance(loader, RankSlice) else 1)
        valid_loader = as_loader(valid_loader, bs, getattr(loader, "bptt", BPTT))
    train_model, loader, valid_loader = data_parallel(raw_model, loader, valid_loader, device)

    groups = groups if groups is not None else raw_model.groups
    lrs = [float(lr_max)] * len(groups) if isinstance(lr_max, (int, float)) else list(lr_max)
    if len(lrs) != len(groups):
        raise ValueError(f"got {len(lrs)} learning rates for {len(groups)} layer groups")
    optimizer = adamw(groups, lrs, betas, wd, model=raw_model)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    ts = None  # the train state of the run being resumed
    if resume and checkpoint_path is not None and checkpoint_path.is_file():
        ts = load_lm_train_state(checkpoint_path, raw_model, optimizer, loader, itos)
    base_epoch = getattr(loader, "epoch", 0)
    total = count_steps(loader, epochs)
    options = dict(schedule_options or {})
    if moms is None and schedule == "one_cycle":
        moms = ONE_CYCLE_MOMS
    sched = ScheduleLR(
        Schedule(max(total, 1), lrs, kind=schedule, options=options),
        betas,
        moms,
        options.get("pct_start", ONE_CYCLE_PCT_START),
        total,
    )
    run = Run(train_model, optimizer, loader, epochs)
    lm_step = LMStep(
        train_model, optimizer, device, alpha, beta, clip, scaler, cast, words=softmax_words
    )
    history = History(total_steps=total)
    if ts is not None:
        resume_lm(ts, run, total, lm_step, scaler, device, seed, rank, checkpoint_path)
        history = History(ts["history"]["steps"], ts["history"]["epochs"], total)
        history.stage = ts["history"].get("stage", "")
    saver = LMCheckpoint(
        checkpoint_path,
        itos=itos,
        loader=loader,
        base_epoch=base_epoch,
        total=total,
        scaler=scaler,
        device=device,
        lm_step=lm_step,
        history=history,
        save_every=save_every,
        rank=rank,
        saved=f"step {run.step} of {total}" if ts is not None else None,
    )
    stop = StopAfter(stop_after)
    bar = make_progress(total, enabled=progress and rank == 0)
    recorder = LMRecorder(history, sched, bar, device, valid_loader, amp, on_step, on_epoch)
    loader_epoch = LoaderEpoch(loader, base_epoch)
    where = lambda: f"after {run.step} of {total} steps (epoch {run.epoch})"  # noqa: E731
    try:
        with stop_cleanly(where, checkpoint_path, lambda: saver.saved):
            estimate = TimeEstimate(total - run.step, "language model", bar.note)
            fit(run, lm_step, [loader_epoch, lm_step, sched, stop, recorder, saver, estimate])
    finally:
        bar.close()
        if world > 1:
            dist.barrier()  # nobody reads a checkpoint rank 0 is still writing
    return history


__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "WEIGHT_DECAY",
    "GRAD_CLIP",
    "History",
    "LMMetrics",
    "LMStep",
    "RankSlice",
    "Run",
    "Step",
    "adamw",
    "count_steps",
    "evaluate_lm",
    "fit",
    "fit_lm",
    "init_distributed",
    "resolve_device",
    "sigterm_as_keyboard_interrupt",
    "train_step",
    "TrainingInterrupted",
    "world_info",
]
