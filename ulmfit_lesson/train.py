"""Training and evaluating a language model: one plain loop, no callback framework.

Stages 1 and 2 of ULMFiT (general-domain LM pretraining, §3.1; target-task LM fine-tuning, §3.2)
train the same way; only the data, the learning rates and which layers are frozen differ. One step::

    hidden = detach(hidden)                       # truncated BPTT: keep the values, cut the graph
    out = model(x, hidden)                        # x, y: (bs, seq_len); logits (bs, seq_len, vocab)
    loss = cross_entropy(out.logits, y) + AR/TAR  # AWD-LSTM §4.6, alpha=2, beta=1
    loss.backward(); clip the gradient norm
    for each parameter group: lr = schedule(step) * batch.lr_scale   # STLR x variable-BPTT rescale
    optimizer.step()

The hidden state is carried from one batch to the next (row i of a batch continues row i of the
previous one, see ``lm_loader.py``) and reset to zeros at the start of every epoch, when the streams
restart from a new shuffle of the documents.

Optimizer: Adam with ULMFiT's betas (0.7, 0.99) (§4.1) and *decoupled* weight decay (AdamW,
Loshchilov & Hutter 2019): each step also shrinks every trained weight by ``lr * wd``, outside
Adam's moment estimates. This is fastai's default (``true_wd=True``); ``torch.optim.AdamW`` does
exactly this. ``eps=1e-5`` as fastai's Adam. With ``schedule='one_cycle'`` beta1 follows fastai's
momentum cycle (0.8, 0.7, 0.8) unless ``moms`` says otherwise.

Reference: pytorch/examples ``word_language_model/main.py`` and salesforce/awd-lstm-lm ``main.py``
(the loop, ``repackage_hidden``, clipping, the LR rescale), fastai v2 ``LMLearner`` + ``rnn_cbs``
(AR/TAR, ``ModelResetter``), fastai's ``LRFinder``.

Two helpers of the loop have modules of their own: ``distributed.py`` (several GPUs under
``torchrun``: ``RankSlice``, ``init_distributed``) and ``interrupt.py`` (Ctrl-C and SIGTERM end
with a message naming the checkpoint to resume from).
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from . import checkpoint as ckpt
from .awd_lstm import detach_hidden
from .distributed import RankSlice, _all_reduce_sum, init_distributed, resolve_device, world_info
from .interrupt import TrainingInterrupted, sigterm_as_keyboard_interrupt, training_interrupted
from .lm_loader import LMBatch, LMLoader
from .losses import AR_ALPHA, TAR_BETA, ar_tar_penalty, lm_loss
from .progress import make_progress
from .schedules import ONE_CYCLE_MOMS, ONE_CYCLE_PCT_START, Schedule, one_cycle_moms, param_groups

ADAM_BETAS = (
    0.7,
    0.99,
)  # ULMFiT §4.1: "Adam with beta1 = 0.7 instead of the default 0.9 and beta2 = 0.99"
ADAM_EPS = 1e-5  # fastai's Adam default (PyTorch's is 1e-8)
WEIGHT_DECAY = 0.01  # fastai's default wd (decoupled); the general-* models were trained with 0.1
GRAD_CLIP = 0.3  # max gradient norm: ULMFiT's LM fine-tuning script (fastai v0.7 finetune_lm.py)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------------------------------------------
# Mixed precision
# ---------------------------------------------------------------------------------------------------


def autocast(device: torch.device, amp: str | None):
    """The mixed-precision context for ``amp`` (``None``: plain float32).

    Only on GPUs: PyTorch's CPU autocast has no bf16/fp16 LSTM kernel on most CPUs (oneDNN fails
    with "could not create a primitive descriptor"), and a CPU gains little from it anyway.
    """
    if amp is None:
        return nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if device.type != "cuda":
        raise ValueError(
            f"amp={amp!r} (mixed precision) needs a GPU; on the {device.type} leave amp=None"
        )
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


# ---------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------


class LMMetrics(NamedTuple):
    """Language-model quality over ``n_tokens`` predicted tokens.

    loss: mean cross-entropy per token (nats); perplexity: ``exp(loss)``, the effective number of
    equally likely choices the model hesitates between; accuracy: how often the most likely next
    token is the right one.
    """

    loss: float
    accuracy: float
    perplexity: float
    n_tokens: int

    def as_dict(self) -> dict[str, float]:
        return self._asdict()


def _is_loader(data: Any) -> bool:
    return isinstance(data, (LMLoader, RankSlice)) or (
        isinstance(data, (list, tuple)) and bool(data) and isinstance(data[0], LMBatch)
    )


def _as_docs(data: Any) -> list:
    """Documents from a 1-D tensor / list of ids (one document) or a list of documents."""
    if isinstance(data, Tensor):
        return [data] if data.dim() == 1 else list(data)
    data = list(data)
    if data and isinstance(data[0], int):
        return [data]
    return data


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_lm(
    model: nn.Module,
    data: Any,
    bs: int = 64,
    bptt: int = 70,
    device: str | torch.device | None = None,
    amp: str | None = None,
    max_batches: int | None = None,
) -> LMMetrics:
    """Loss, accuracy and perplexity of a language model on held-out text.

    Args:
        model: a ``LanguageModel`` (or DDP wrapper); put in eval mode (no dropout) for the call and
            restored afterwards.
        data: an ``LMLoader`` (used as it is, so make it ``shuffle=False, variable_bptt=False``), a list
            of numericalized documents, or one 1-D tensor of ids.
        bs, bptt: the layout when ``data`` is not a loader: ``bs`` streams read in fixed ``bptt``
            windows, hidden state carried from window to window (from zeros at the start).
        device: default: where the model is. amp: ``None``, ``'bf16'`` or ``'fp16'``.
        max_batches: stop after that many windows (quick looks).
    Returns: :class:`LMMetrics`, every predicted token weighted equally (sums over all tokens divided
    by their number, not a mean of per-batch means). Under ``torchrun`` with a :class:`RankSlice`
    loader the sums are added over processes.

    To compare with fastai's reported validation numbers use its layout: ``bs=128, bptt=72`` for the
    ``general-*`` models (fastai weights each batch equally; the last, shorter window makes that
    differ from token weighting by well under 0.1%).
    """
    model = getattr(model, "module", model)
    device = torch.device(device) if device is not None else _model_device(model)
    loader = (
        data
        if _is_loader(data)
        else LMLoader(_as_docs(data), bs, bptt, shuffle=False, variable_bptt=False)
    )
    was_training = model.training
    model.eval()
    loss_sum = correct = n_tokens = 0.0
    hidden = None
    cast = autocast(device, amp)
    try:
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y = batch.x.to(device), batch.y.to(device)  # (bs, seq_len)
            with cast:
                raw, hidden = model.encoder(x, hidden)  # (bs, seq_len, emb_size)
            # The decoder's logits are (bs, seq_len, vocab): 9216 x 26856 floats (1 GB) for a
            # 128 x 72 window. Decode a few rows at a time to keep memory small.
            rows = max(1, (1 << 24) // max(1, raw.size(1) * model.config.vocab_size))
            for r in range(0, raw.size(0), rows):
                with cast:
                    logits, _ = model.decoder(raw[r : r + rows])  # (rows, seq_len, vocab)
                logits = logits.float().reshape(-1, logits.size(-1))
                target = y[r : r + rows].reshape(-1)
                loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
                correct += (logits.argmax(-1) == target).sum().item()
            n_tokens += y.numel()
    finally:
        model.train(was_training)
    if isinstance(loader, RankSlice):
        loss_sum, correct, n_tokens = _all_reduce_sum([loss_sum, correct, n_tokens], device)
    if n_tokens == 0:
        raise ValueError("no tokens to evaluate: the data is shorter than one window")
    loss = loss_sum / n_tokens
    return LMMetrics(loss, correct / n_tokens, math.exp(loss), int(n_tokens))


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


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _grad_params(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.grad is not None]


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
    Interruption: Ctrl-C, and SIGTERM too (:func:`sigterm_as_keyboard_interrupt`), raise
    :class:`TrainingInterrupted`, whose message names the last checkpoint and what it holds. Nothing
    is saved at that moment (a step may be half done); the last checkpoint on disk is whole, since
    every write is atomic, and ``resume=True`` continues from it: what ran after it is done again.
    Under ``torchrun`` (a process group is initialised) the model is wrapped in
    ``DistributedDataParallel`` and ``loader`` (an ``LMLoader`` over the *global* batch) is shared
    out by :class:`RankSlice`; metrics are averaged over processes and only rank 0 saves.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    rank, world = world_info()
    device = resolve_device(device)
    autocast(device, amp)  # check amp and device before any work
    if seed is not None:
        torch.manual_seed(seed + rank)
        random.seed(seed + rank)
    raw_model = getattr(model, "module", model).to(device)
    if world > 1 and isinstance(loader, LMLoader):
        seed_t = torch.tensor([loader.seed], dtype=torch.long, device=device)
        dist.broadcast(seed_t, 0)  # one shuffle and one set of BPTT lengths for every process
        loader.seed = int(seed_t.item())
        loader = RankSlice(loader, rank, world)
    train_model: nn.Module = raw_model
    if world > 1:
        train_model = nn.parallel.DistributedDataParallel(
            raw_model, device_ids=[device.index] if device.type == "cuda" else None
        )

    groups = groups if groups is not None else raw_model.groups
    lrs = [float(lr_max)] * len(groups) if isinstance(lr_max, (int, float)) else list(lr_max)
    if len(lrs) != len(groups):
        raise ValueError(f"got {len(lrs)} learning rates for {len(groups)} layer groups")
    optimizer = torch.optim.AdamW(
        param_groups(groups, lrs, model=raw_model),
        lr=lrs[-1],
        betas=betas,
        eps=ADAM_EPS,
        weight_decay=wd,
    )
    if moms is None and schedule == "one_cycle":
        moms = ONE_CYCLE_MOMS
    options = dict(schedule_options or {})
    pct_start = options.get("pct_start", ONE_CYCLE_PCT_START)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    cast = autocast(device, amp)
    if valid_loader is not None and not _is_loader(valid_loader):
        global_bs = getattr(loader, "bs", 64) * (world if isinstance(loader, RankSlice) else 1)
        valid_docs = _as_docs(valid_loader)
        valid_loader = LMLoader(
            valid_docs, global_bs, getattr(loader, "bptt", 70), shuffle=False, variable_bptt=False
        )
    if world > 1 and isinstance(valid_loader, LMLoader):
        valid_loader = RankSlice(valid_loader, rank, world)

    # Where to start: from scratch, or where a checkpoint of this run left off.
    step, start_epoch, skip, hidden, ts = 0, 0, 0, None, None
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and checkpoint_path is not None and checkpoint_path.is_file():
        state = ckpt.load_checkpoint(checkpoint_path, map_location="cpu")
        ts = (state.get("extra") or {}).get("train_state")
        if ts is None:
            raise ValueError(
                f"{checkpoint_path} holds no training state (saved by save_checkpoint, not fit_lm); "
                "load its weights with checkpoint.load_into and train without resume"
            )
        ckpt.load_into(raw_model, state, itos, source=str(checkpoint_path))
        optimizer.load_state_dict(state["optimizer"])
        if hasattr(loader, "seed"):  # the same shuffles and BPTT lengths as the interrupted run
            loader.seed, loader.epoch = ts["loader_seed"], ts["loader_base_epoch"]
    base_epoch = getattr(loader, "epoch", 0)
    total = count_steps(loader, epochs)
    sched = Schedule(max(total, 1), lrs, kind=schedule, options=options)
    history = History(total_steps=total)
    if ts is not None:
        if ts["total_steps"] != total:
            raise ValueError(
                f"{checkpoint_path} belongs to a run of {ts['total_steps']} steps, this one has "
                f"{total}: resume with the same data, bs, bptt and epochs"
            )
        step, start_epoch, skip = ts["step"], ts["epoch"], ts["batch_in_epoch"]
        if ts["hidden"] is not None:
            hidden = [(h.to(device), c.to(device)) for h, c in ts["hidden"]]
        if ts.get("scaler"):
            scaler.load_state_dict(ts["scaler"])
        _set_rng_state(ts["rng"], device)
        if rank > 0:  # only rank 0's RNG was saved: give the others their own stream again
            torch.manual_seed((seed or 0) + rank + 7919 * step)
        history = History(ts["history"]["steps"], ts["history"]["epochs"], total)
        history.stage = ts["history"].get("stage", "")

    saved = f"step {step} of {total}" if ts is not None else None  # what the file on disk holds

    def save(epoch: int, batch_in_epoch: int) -> None:
        nonlocal saved
        if checkpoint_path is None or rank != 0:
            return
        train_state = {
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "total_steps": total,
            "loader_seed": getattr(loader, "seed", None),
            "loader_base_epoch": base_epoch,
            "hidden": [(h.cpu(), c.cpu()) for h, c in hidden] if hidden is not None else None,
            "rng": _rng_state(device),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "history": history.to_plain(),
        }
        ckpt.save_checkpoint(
            checkpoint_path,
            raw_model,
            itos,
            optimizer=optimizer,
            extra={"train_state": train_state},
        )
        saved = f"step {step} of {total}"

    bar = make_progress(total, enabled=progress and rank == 0)
    train_model.train()
    epoch = start_epoch
    try:
        with sigterm_as_keyboard_interrupt():  # kill, timeout, pre-emption: as Ctrl-C
            for epoch in range(start_epoch, epochs):
                if hasattr(loader, "epoch"):  # epoch k always gets the same shuffle and lengths
                    loader.epoch = base_epoch + epoch
                batches: Iterator[LMBatch] = iter(loader)
                if skip:  # resuming mid-epoch: skip the batches already trained on, keep the hidden
                    batches = itertools.islice(batches, skip, None)
                else:
                    hidden = None  # a new epoch: the streams restart, so does the memory
                batch_in_epoch, skip = skip, 0
                t0, ce_sum, n_tok = time.time(), 0.0, 0
                for batch in batches:
                    x, y = batch.x.to(device), batch.y.to(device)  # (bs, seq_len)
                    applied = [lr * batch.lr_scale for lr in sched(step)]  # variable-BPTT rescale
                    mom = betas[0] if moms is None else one_cycle_moms(step, total, moms, pct_start)
                    for group, lr in zip(optimizer.param_groups, applied):
                        group["lr"] = lr
                        group["betas"] = (mom, betas[1])
                    with cast:
                        out = train_model(x, hidden)  # logits (bs, seq_len, vocab)
                    ce = lm_loss(out.logits, y)
                    reg = ar_tar_penalty(out.raw_output, out.dropped_output, alpha, beta)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(ce + reg).backward()
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    grad_norm = torch.nn.utils.clip_grad_norm_(
                        _grad_params(raw_model), clip if clip is not None else math.inf
                    )
                    scaler.step(optimizer)
                    scaler.update()
                    hidden = detach_hidden(out.hidden)  # truncated BPTT: keep values, cut graph
                    step += 1
                    batch_in_epoch += 1
                    ce_val, n = float(ce.item()), y.numel()
                    ce_total, n_total = _all_reduce_sum([ce_val * n, n], device)
                    ce_sum, n_tok = ce_sum + ce_total, n_tok + n_total
                    record = {
                        "step": step - 1,
                        "epoch": epoch,
                        "loss": ce_total / n_total,
                        "reg": float(reg.item()),
                        "lr": applied[-1],
                        "lrs": applied,
                        "mom": mom,
                        "seq_len": batch.seq_len,
                        "lr_scale": batch.lr_scale,
                        "grad_norm": float(grad_norm),
                    }
                    history.steps.append(record)
                    bar.update(record)
                    if on_step is not None:
                        on_step(record)
                    if stop_after is not None and step >= stop_after:
                        save(epoch, batch_in_epoch)
                        history.stopped_early = True
                        return history
                    if save_every and step % save_every == 0:
                        save(epoch, batch_in_epoch)
                epoch_record = {"epoch": epoch, "train_loss": ce_sum / max(n_tok, 1)}
                if valid_loader is not None:
                    metrics = evaluate_lm(raw_model, valid_loader, device=device, amp=amp)
                    epoch_record.update({f"valid_{k}": v for k, v in metrics.as_dict().items()})
                    train_model.train()
                epoch_record["seconds"] = time.time() - t0
                history.epochs.append(epoch_record)
                bar.epoch_end(epoch_record)
                if on_epoch is not None:
                    on_epoch(epoch_record)
                hidden = None
                save(epoch + 1, 0)
    except KeyboardInterrupt as err:
        where = f"after {step} of {total} steps (epoch {epoch})"
        raise training_interrupted(err, where, checkpoint_path, saved) from None
    finally:
        bar.close()
        if world > 1:
            dist.barrier()  # nobody reads a checkpoint rank 0 is still writing
    return history


# ---------------------------------------------------------------------------------------------------
# LR finder
# ---------------------------------------------------------------------------------------------------


class LRFinderResult(NamedTuple):
    """``lrs`` and smoothed ``losses`` to plot (log x axis), and the suggested LR.

    ``suggested``: the *steepest* point: where the smoothed loss falls fastest per unit of
    ``log(lr)`` (Smith 2017; fastai's ``steep`` suggestion), ignoring the first tenth of the curve and
    its last five points. Pick a value at or a little below it; the minimum itself is too high.
    """

    lrs: list[float]
    losses: list[float]
    suggested: float


def lr_find(
    model: nn.Module,
    loader: Iterable[LMBatch],
    start: float = 1e-7,
    end: float = 10.0,
    n: int = 100,
    *,
    wd: float = WEIGHT_DECAY,
    betas: tuple[float, float] = ADAM_BETAS,
    alpha: float = AR_ALPHA,
    beta: float = TAR_BETA,
    device: str | torch.device = "auto",
    stop_div: bool = True,
) -> LRFinderResult:
    """The learning-rate range test: train ``n`` steps with the LR growing exponentially from
    ``start`` to ``end``, record the loss, then put everything back.

    Every group gets the same LR (times the batch's ``lr_scale``); frozen groups stay frozen. Stops
    early once the smoothed loss exceeds 4x its minimum (``stop_div``). Afterwards the weights,
    ``requires_grad`` flags, train/eval mode, the loader's epoch counter and torch's RNG are restored
    exactly, so the model is as if ``lr_find`` had never run.
    """
    device = resolve_device(device)
    model = model.to(device)
    saved_weights = copy.deepcopy(model.state_dict())
    saved_grad = [p.requires_grad for p in model.parameters()]
    saved_mode, saved_rng = model.training, torch.get_rng_state()
    saved_epoch = getattr(loader, "epoch", None)
    optimizer = torch.optim.AdamW(
        param_groups(model.groups, [start] * len(model.groups), model=model),
        lr=start, betas=betas, eps=ADAM_EPS, weight_decay=wd,
    )  # fmt: skip
    lrs, losses = [], []
    avg, best, hidden = 0.0, math.inf, None

    def batches() -> Iterator[LMBatch]:
        while True:  # as many epochs as n steps need
            got = False
            for b in loader:
                got = True
                yield b
            if not got:
                return

    model.train()
    try:
        for i, batch in enumerate(itertools.islice(batches(), n)):
            lr = start * (end / start) ** (i / max(n - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr * batch.lr_scale
            x, y = batch.x.to(device), batch.y.to(device)
            out = model(x, hidden)
            ce = lm_loss(out.logits, y)
            loss = ce + ar_tar_penalty(out.raw_output, out.dropped_output, alpha, beta)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            hidden = detach_hidden(out.hidden)
            avg = 0.98 * avg + 0.02 * float(ce.item())
            smoothed = avg / (1 - 0.98 ** (i + 1))
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if stop_div and (not math.isfinite(smoothed) or smoothed > 4 * best):
                break
    finally:
        model.load_state_dict(saved_weights)
        for p, flag in zip(model.parameters(), saved_grad):
            p.requires_grad_(flag)
        model.train(saved_mode)
        torch.set_rng_state(saved_rng)
        if saved_epoch is not None:
            loader.epoch = saved_epoch
    return LRFinderResult(lrs, losses, suggest_lr(lrs, losses))


def suggest_lr(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The LR of steepest descent of ``losses`` against ``log(lrs)`` (see :class:`LRFinderResult`)."""
    if len(lrs) < 3:
        return float(lrs[0]) if lrs else float("nan")
    lo, hi = len(lrs) // 10, max(len(lrs) - 5, len(lrs) // 10 + 2)
    slopes = np.gradient(np.asarray(losses[lo:hi], dtype=float), np.log(np.asarray(lrs[lo:hi])))
    slopes = np.where(np.isfinite(slopes), slopes, np.inf)
    return float(lrs[lo + int(np.argmin(slopes))])


__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "WEIGHT_DECAY",
    "GRAD_CLIP",
    "History",
    "LMMetrics",
    "LRFinderResult",
    "RankSlice",
    "count_steps",
    "evaluate_lm",
    "fit_lm",
    "init_distributed",
    "lr_find",
    "resolve_device",
    "suggest_lr",
    "sigterm_as_keyboard_interrupt",
    "TrainingInterrupted",
    "world_info",
]
