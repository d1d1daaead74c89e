"""The classifier's callbacks around ``train.fit`` (stage 3, ULMFiT §3.3): its records per epoch,
the best epoch's weights, and a checkpoint after every epoch to resume from.

- :class:`EpochRecorder`: the running training loss on the progress bar; after each epoch its
  record (unfreezing stage, trainable groups, losses, validation metrics) and ``on_epoch``;
- :class:`KeepBest`: keep the best validation epoch's weights (fastai's ``SaveModelCallback``);
- :class:`ClasCheckpoint` and :func:`resume_classifier`: save after each epoch; resume from it.
"""

from __future__ import annotations

import time
from typing import Any

from . import checkpoint as ckpt
from .callbacks import Callback, rng_state, set_rng_state

CLAS_TRAIN_STATE = "classifier_train_state"  # extra["kind"] of its training checkpoints
KEEP_BEST_METRICS = {"accuracy": max, "macro_f1": max, "valid_loss": min}  # metric -> better one


class EpochRecorder(Callback):
    """The classifier's progress: the running training loss on the bar, and after each epoch its
    record (unfreezing stage, trainable groups, losses, validation metrics) appended to
    ``records``, ``keep_best`` told, then ``on_epoch(record, model, optimizer)``. Each unfreezing
    stage is its own ``fit``: :meth:`stage` says which one runs."""

    def __init__(self, records, groups, bar, keeper, validate=None, on_epoch=None, started=None):
        self.records, self.groups, self.bar, self.keeper = records, groups, bar, keeper
        self.validate, self.on_epoch = validate, on_epoch
        self.started = time.time() if started is None else started

    def stage(self, stage_no: int, stage, sched, earlier: int) -> None:
        """Stage ``stage_no`` (an ``UnfreezeStage``, its ``Schedule``) after ``earlier`` epochs."""
        self.stage_no, self.unfreeze, self.sched, self.earlier = stage_no, stage, sched, earlier

    def before_epoch(self, run) -> None:
        self.t0, self.loss_sum, self.n_seen = time.time(), 0.0, 0

    def after_step(self, run, batch) -> None:
        self.loss_sum += run.last.loss.item() * len(batch.y)
        self.n_seen += len(batch.y)
        self.bar.update({"loss": self.loss_sum / self.n_seen, "step": run.step})

    def after_epoch(self, run) -> None:
        trainable = sum(
            any(p.requires_grad for m in g for p in m.parameters()) for g in self.groups
        )
        record = {
            "epoch": self.earlier + run.epoch,
            "stage": self.stage_no,
            "freeze_to": self.unfreeze.freeze_to,
            "trainable_groups": trainable,
            "train_loss": self.loss_sum / max(self.n_seen, 1),
            "lrs": list(self.sched.lrs),
        }
        if self.validate is not None:
            record.update(self.validate())
        record["seconds"] = time.time() - self.t0
        record["t_end"] = (
            time.time() - self.started
        )  # since train_classifier began: time to accuracy
        self.records.append(record)
        self.keeper.after_epoch(run)
        self.bar.epoch_end({k: v for k, v in record.items() if k != "lrs"})
        if self.on_epoch is not None:
            self.on_epoch(record, run.model, run.optimizer)


class EpochCount(Callback):
    """How many epochs have ended (their records made and ``on_epoch`` called)."""

    def __init__(self, n: int = 0):
        self.n = n

    def after_epoch(self, run) -> None:
        self.n += 1


class KeepBest(Callback):
    """After each epoch: if its ``metric`` ties or beats the best so far, keep a CPU copy of the
    weights (``best``: epoch, score, state). ``records``: the list the epoch records go to."""

    def __init__(self, metric: str | None, records: list[dict], best: dict | None = None):
        self.metric, self.records, self.best = metric, records, best

    def after_epoch(self, run) -> None:
        if self.metric is None:
            return
        record = self.records[-1]
        score = float(record[self.metric])
        best = self.best
        if best is not None and KEEP_BEST_METRICS[self.metric](score, best["score"]) != score:
            return
        state = {k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()}
        self.best = {"epoch": int(record["epoch"]), "score": score, "state": state}


class EarlyStopping(Callback):
    """Stop when ``metric`` has not improved for ``patience`` epochs (fastai's
    ``EarlyStoppingCallback``). Only epochs from ``records[start:]`` count: the classifier sets
    ``start`` when its last, fully unfrozen stage begins, so gradual unfreezing always runs to the
    end. :class:`KeepBest` then restores the best epoch, so stopping loses nothing.

    Why: the number of epochs that pays depends on the data set's size; past the best epoch, more
    epochs cost time and, on a small set, start to memorise it.
    """

    def __init__(self, metric: str, patience: int | None, records: list[dict]):
        self.metric, self.patience, self.records = metric, patience, records
        self.start = None  # index of the first record that counts
        self.stopped_after = None  # the epoch after which training stopped

    def after_epoch(self, run) -> None:
        if self.patience is None or self.start is None:
            return
        scores = [float(r[self.metric]) for r in self.records[self.start :]]
        better = KEEP_BEST_METRICS[self.metric]
        best_at = max(i for i, s in enumerate(scores) if s == better(scores))  # the last best
        if len(scores) - 1 - best_at >= self.patience:
            run.stop = True
            self.stopped_after = int(self.records[-1]["epoch"])


class ClasCheckpoint(Callback):
    """After each classifier epoch, save what resuming needs: weights, Adam's state, the next
    epoch's shuffle and dropout random states, the history and ``keep_best``'s best so far.

    ``run_id``: what must not change between an interrupted run and its resumption (texts, labels,
    plan, ``bs``, seed ...); :func:`resume_classifier` refuses a file of another run.
    """

    def __init__(self, path, run_id, vocab, loader, records, device, keep_best, n_epochs):
        self.path, self.run_id, self.vocab, self.loader = path, run_id, vocab, loader
        self.records, self.device = records, device
        self.keep_best, self.n_epochs = keep_best, n_epochs
        self.saved = f"epoch {len(records)} of {n_epochs}" if records else None

    def after_epoch(self, run) -> None:
        if self.path is None:
            return
        train_state = {
            "run": self.run_id,
            "history": self.records,
            "loader_rng": self.loader.rng.bit_generator.state,  # the next epoch's shuffle
            "rng": rng_state(self.device),  # the next epoch's dropout masks
            "best": self.keep_best.best,
        }
        extra = {"kind": CLAS_TRAIN_STATE, "train_state": train_state}
        model = run.model
        ckpt.save_checkpoint(
            self.path, model, self.vocab.itos, model.config, run.optimizer, extra=extra
        )
        self.saved = f"epoch {len(self.records)} of {self.n_epochs}"


def resume_classifier(path, run_id, model, optimizer, loader, itos, device) -> tuple[list, Any]:
    """Load what :class:`ClasCheckpoint` wrote into the fresh run; return the history so far and
    ``keep_best``'s best epoch so far."""
    state = ckpt.load_checkpoint(path)
    extra = state.get("extra") or {}
    if extra.get("kind") != CLAS_TRAIN_STATE:
        raise ValueError(
            f"{path} holds no classifier training state (kind {extra.get('kind')!r}); "
            "resume from a file written by train_classifier(checkpoint_path=...)"
        )
    ts = extra["train_state"]
    then = ts["run"]
    changed = [
        f"{k}: {then.get(k)!r} then, {v!r} now" for k, v in run_id.items() if then.get(k) != v
    ]
    if changed:
        raise ValueError(
            f"{path} belongs to another run ({'; '.join(changed)}); resume with the same texts, "
            "labels, epochs, bs and seed"
        )
    ckpt.load_into(model, state, itos, source=str(path))
    optimizer.load_state_dict(state["optimizer"])
    loader.rng.bit_generator.state = ts["loader_rng"]
    set_rng_state(ts["rng"], device)
    return list(ts["history"]), ts.get("best")


__all__ = [
    "CLAS_TRAIN_STATE",
    "ClasCheckpoint",
    "EpochCount",
    "EarlyStopping",
    "EpochRecorder",
    "KEEP_BEST_METRICS",
    "KeepBest",
    "resume_classifier",
]
