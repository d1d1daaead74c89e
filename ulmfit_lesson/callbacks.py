"""What happens around the training loop, as small callbacks (fastai's idea, without its framework).

``train.fit`` only loops: for each epoch, for each batch, one ``train_step``. Everything else a
real run needs hooks into four moments of that loop (``before_epoch``, ``before_step``,
``after_step``, ``after_epoch``) and lives here, one class per concern:

- :class:`ScheduleLR`: each step's learning rate per layer group (STLR or one-cycle, ULMFiT §3.2)
  times the batch's variable-BPTT ``lr_scale``, and Adam's beta1 (one-cycle momentum);
- :class:`StopAfter`: a planned stop after ``n`` steps (demos and tests of resuming);
- :class:`TimeEstimate`: after the first few steps, how long the whole run will take;
- :class:`LoaderEpoch`: epoch k reads the loader's epoch k (the same shuffle when resumed);
- :class:`LMRecorder`: the language model's records per step and per epoch (validated), shown by
  the progress bar or plot;
- :class:`LMCheckpoint` and :func:`resume_lm`: save and resume a language model's training
  exactly where it was (weights, Adam's moments, random states, loader position, hidden state);
- :func:`rng_state` / :func:`set_rng_state`: the random generators a resumed run must continue.

Mixed precision and data-parallel training are in ``train_step``'s ``scaler``/``cast`` and in
``distributed.py``; Ctrl-C and SIGTERM in ``interrupt.stop_cleanly``; the progress bar and plot in
``progress.py``; the classifier's own callbacks (best epoch, per-epoch checkpoints) in
``clas_callbacks.py``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch
from torch import nn

from . import checkpoint as ckpt
from .distributed import all_reduce_sum
from .lm_eval import evaluate_lm
from .schedules import ONE_CYCLE_PCT_START, Schedule, one_cycle_moms


class Callback:
    """A no-op at every moment of ``train.fit``; subclasses override the moments they need.

    ``run`` is the loop's :class:`train.Run` (model, optimizer, step, epoch, ...); a callback may
    set ``run.stop`` to end training after the current step.
    """

    def before_epoch(self, run) -> None:
        pass

    def before_step(self, run, batch) -> None:
        pass

    def after_step(self, run, batch) -> None:
        pass

    def after_epoch(self, run) -> None:
        pass


# ---------------------------------------------------------------------------------------------------
# Learning rates and momentum
# ---------------------------------------------------------------------------------------------------


class ScheduleLR(Callback):
    """Before each step: every group's LR from ``schedule`` and Adam's (beta1, beta2).

    The LR is ``schedule(step)[group] * batch.lr_scale``: a variable-BPTT window shorter or longer
    than ``bptt`` gets a proportionally smaller or larger LR (AWD-LSTM §4.1; a classifier batch has
    no ``lr_scale``, i.e. 1). beta1 plays the momentum: fixed at ``betas[0]`` (ULMFiT §4.1's 0.7)
    or, with ``moms``, fastai's one-cycle momentum cycle. ``lrs`` and ``mom`` keep what was applied.
    """

    def __init__(
        self,
        schedule: Schedule,
        betas: tuple[float, float],
        moms: tuple[float, float, float] | None = None,
        pct_start: float = ONE_CYCLE_PCT_START,
        total: int | None = None,
    ):
        self.schedule, self.betas, self.moms, self.pct_start = schedule, betas, moms, pct_start
        self.total = schedule.total if total is None else total
        self.lrs: list[float] = []
        self.mom = betas[0]

    def before_step(self, run, batch) -> None:
        scale = getattr(batch, "lr_scale", 1.0)
        self.lrs = [lr * scale for lr in self.schedule(run.step)]
        if self.moms is not None:
            self.mom = one_cycle_moms(run.step, self.total, self.moms, self.pct_start)
        for group, lr in zip(run.optimizer.param_groups, self.lrs):
            group["lr"], group["betas"] = lr, (self.mom, self.betas[1])


class StopAfter(Callback):
    """Stop after ``n`` optimizer steps in all (the schedule still spans the whole run)."""

    def __init__(self, n: int | None):
        self.n = n

    def after_step(self, run, batch) -> None:
        if self.n is not None and run.step >= self.n:
            run.stop = True


# ---------------------------------------------------------------------------------------------------
# Language model: the loader's epochs, the records
# ---------------------------------------------------------------------------------------------------


class TimeEstimate(Callback):
    """After the first ``after`` steps, say (``say(text)``) how long ``total`` steps take at that
    pace. One object can span several ``fit`` calls (the classifier's unfreezing stages): it counts
    its own steps. The first step is left out of the pace: it pays for warm-up (allocations, the
    first batch), which would inflate the estimate.

    Why: a learner should know before waiting whether a run takes two minutes or an hour.
    """

    def __init__(self, total: int, what: str, say, after: int = 4, clock=time.perf_counter):
        self.total, self.what, self.say, self.after, self.clock = total, what, say, after, clock
        self.n, self.t1, self.done = 0, None, False

    def after_step(self, run, batch) -> None:
        self.n += 1
        if self.n == 1:
            self.t1 = self.clock()  # the pace is measured from the end of the first step
        elif self.n == self.after + 1 and not self.done:
            per = (self.clock() - self.t1) / self.after
            seconds = per * self.total
            about = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
            self.say(
                f"{self.what}: {per:.2f} s per step over steps 2-{self.n}, so about "
                f"{about} for all {self.total} steps on this machine"
            )
            self.done = True


class LoaderEpoch(Callback):
    """Epoch k of a run always reads the loader's epoch ``base + k``: the same shuffle and BPTT
    lengths, whether the run was resumed or not."""

    def __init__(self, loader, base_epoch: int):
        self.loader, self.base_epoch = loader, base_epoch

    def before_epoch(self, run) -> None:
        if hasattr(self.loader, "epoch"):
            self.loader.epoch = self.base_epoch + run.epoch


class LMRecorder(Callback):
    """The language model's :class:`History`: a record per step and per epoch (validated), shown by
    the progress display and passed to ``on_step``/``on_epoch``. Under ``torchrun`` the losses are
    summed over processes first."""

    def __init__(
        self,
        history,
        schedule: ScheduleLR,
        bar,
        device,
        valid=None,
        amp=None,
        on_step=None,
        on_epoch=None,
        stop: StopAfter | None = None,
    ):
        self.history, self.schedule, self.bar, self.device = history, schedule, bar, device
        self.valid, self.amp, self.on_step, self.on_epoch = valid, amp, on_step, on_epoch
        self.t0, self.ce_sum, self.n_tok = 0.0, 0.0, 0

    def before_epoch(self, run) -> None:
        self.t0, self.ce_sum, self.n_tok = time.time(), 0.0, 0

    def after_step(self, run, batch) -> None:
        self.history.final_valid = None  # the weights moved: the last evaluation is stale
        last = run.last
        n = batch.y.numel()
        ce_total, n_total = all_reduce_sum([float(last.loss.item()) * n, n], self.device)
        self.ce_sum, self.n_tok = self.ce_sum + ce_total, self.n_tok + n_total
        record = {
            "step": run.step - 1,
            "epoch": run.epoch,
            "loss": ce_total / n_total,
            "reg": float(last.reg.item()),
            "lr": self.schedule.lrs[-1],
            "lrs": self.schedule.lrs,
            "mom": self.schedule.mom,
            "seq_len": batch.seq_len,
            "lr_scale": batch.lr_scale,
            "grad_norm": float(last.grad_norm),
        }
        self.history.steps.append(record)
        self.bar.update(record)
        if self.on_step is not None:
            self.on_step(record)
        if run.stop:
            self.history.stopped_early = True

    def after_epoch(self, run) -> None:
        record = {"epoch": run.epoch, "train_loss": self.ce_sum / max(self.n_tok, 1)}
        if self.valid is not None:
            model = getattr(run.model, "module", run.model)
            metrics = evaluate_lm(model, self.valid, device=self.device, amp=self.amp)
            record.update({f"valid_{k}": v for k, v in metrics.as_dict().items()})
            self.history.final_valid = metrics
        record["seconds"] = time.time() - self.t0
        self.history.epochs.append(record)
        self.bar.epoch_end(record)
        if self.on_epoch is not None:
            self.on_epoch(record)


# ---------------------------------------------------------------------------------------------------
# Random states
# ---------------------------------------------------------------------------------------------------


def rng_state(device: torch.device) -> dict:
    """torch's and Python's random generators (and the GPU's): the dropout masks still to come."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Put back what :func:`rng_state` saved (a checkpoint stores Python's state as lists)."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------------------------------------------
# Language model: save mid-run, resume exactly
# ---------------------------------------------------------------------------------------------------


class LMCheckpoint(Callback):
    """Save what resuming needs after every epoch, every ``save_every`` steps and at a planned stop.

    The file holds the model, Adam's state and ``extra["train_state"]``: the position (step, epoch,
    batch in the epoch), the loader's seed and first epoch (so the same shuffles and BPTT lengths
    come again), the hidden state carried into the next batch (``lm_step.hidden``), the random
    states, the gradient scaler and the history so far. Writes are atomic (``checkpoint.py``), so
    the file on disk is always whole. Only rank 0 writes. ``saved`` says what the file holds.
    """

    def __init__(
        self,
        path,
        *,
        itos,
        loader,
        base_epoch,
        total,
        scaler,
        device,
        lm_step,
        history,
        save_every=None,
        rank=0,
        saved=None,
    ):
        self.path, self.itos, self.loader, self.base_epoch = path, itos, loader, base_epoch
        self.total, self.scaler, self.device, self.lm_step = total, scaler, device, lm_step
        self.history, self.save_every, self.rank, self.saved = history, save_every, rank, saved

    def after_step(self, run, batch) -> None:
        if run.stop or (self.save_every and run.step % self.save_every == 0):
            self.save(run, run.epoch, run.batch_in_epoch)

    def after_epoch(self, run) -> None:
        self.save(run, run.epoch + 1, 0)

    def save(self, run, epoch: int, batch_in_epoch: int) -> None:
        if self.path is None or self.rank != 0:
            return
        hidden = self.lm_step.hidden
        train_state = {
            "step": run.step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "total_steps": self.total,
            "loader_seed": getattr(self.loader, "seed", None),
            "loader_base_epoch": self.base_epoch,
            "hidden": [(h.cpu(), c.cpu()) for h, c in hidden] if hidden is not None else None,
            "rng": rng_state(self.device),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "history": self.history.to_plain(),
        }
        model = getattr(run.model, "module", run.model)
        extra = {"train_state": train_state}
        ckpt.save_checkpoint(self.path, model, self.itos, optimizer=run.optimizer, extra=extra)
        self.saved = f"step {run.step} of {self.total}"


def load_lm_train_state(path: Path, model: nn.Module, optimizer, loader, itos) -> dict:
    """Weights and Adam's state from an :class:`LMCheckpoint` file into ``model`` and
    ``optimizer``, the loader put back on its seed and first epoch; returns the ``train_state``."""
    state = ckpt.load_checkpoint(path, map_location="cpu")
    ts = (state.get("extra") or {}).get("train_state")
    if ts is None:
        raise ValueError(
            f"{path} holds no training state (saved by save_checkpoint, not fit_lm); "
            "load its weights with checkpoint.load_into and train without resume"
        )
    ckpt.load_into(model, state, itos, source=str(path))
    optimizer.load_state_dict(state["optimizer"])
    if hasattr(loader, "seed"):  # the same shuffles and BPTT lengths as the interrupted run
        loader.seed, loader.epoch = ts["loader_seed"], ts["loader_base_epoch"]
    return ts


def resume_lm(ts: dict, run, total: int, lm_step, scaler, device, seed, rank, path) -> None:
    """Continue ``run`` where the train state ``ts`` stopped: position, hidden state, scaler, RNG."""
    if ts["total_steps"] != total:
        raise ValueError(
            f"{path} belongs to a run of {ts['total_steps']} steps, this one has "
            f"{total}: resume with the same data, bs, bptt and epochs"
        )
    run.step, run.epoch, run.skip = ts["step"], ts["epoch"], ts["batch_in_epoch"]
    if ts["hidden"] is not None:
        lm_step.hidden = [(h.to(device), c.to(device)) for h, c in ts["hidden"]]
    if ts.get("scaler"):
        scaler.load_state_dict(ts["scaler"])
    set_rng_state(ts["rng"], device)
    if rank > 0:  # only rank 0's RNG was saved: give the others their own stream again
        torch.manual_seed((seed or 0) + rank + 7919 * run.step)


__all__ = [
    "Callback",
    "LMCheckpoint",
    "LMRecorder",
    "LoaderEpoch",
    "ScheduleLR",
    "StopAfter",
    "load_lm_train_state",
    "resume_lm",
    "rng_state",
    "set_rng_state",
]
