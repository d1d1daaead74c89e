"""The classifier's callbacks: its epoch records, the best epoch kept, the epoch count."""

import torch

from ulmfit_lesson.clas_callbacks import EpochCount, EpochRecorder, KeepBest
from ulmfit_lesson.progress import NullProgress
from ulmfit_lesson.schedules import Schedule, UnfreezeStage
from ulmfit_lesson.train import Run


def test_keep_best_keeps_a_copy_of_the_best_epochs_weights_ties_go_to_the_later():
    model = torch.nn.Linear(2, 1)
    run = Run(model, None, [], epochs=3)
    records = []
    keeper = KeepBest("accuracy", records)
    for epoch, acc in enumerate([0.5, 0.8, 0.8, 0.6]):
        with torch.no_grad():
            model.bias.fill_(epoch)
        records.append({"epoch": epoch, "accuracy": acc})
        keeper.after_epoch(run)
    assert keeper.best["epoch"] == 2 and keeper.best["score"] == 0.8
    assert keeper.best["state"]["bias"].item() == 2.0  # a copy: later epochs did not change it
    low = KeepBest("valid_loss", [{"epoch": 0, "valid_loss": 0.3}])
    low.after_epoch(run)
    low.records.append({"epoch": 1, "valid_loss": 0.4})
    low.after_epoch(run)
    assert low.best["epoch"] == 0  # lower is better for the loss
    off = KeepBest(None, records)
    off.after_epoch(run)
    assert off.best is None


def test_epoch_recorder_makes_one_record_per_epoch_with_the_stage():
    groups = [[torch.nn.Linear(1, 1)], [torch.nn.Linear(1, 1)]]
    groups[0][0].requires_grad_(False)
    records, seen = [], []
    rec = EpochRecorder(
        records,
        groups,
        NullProgress(),
        KeepBest(None, records),
        validate=lambda: {"valid_loss": 1.5},
        on_epoch=lambda r, m, o: seen.append(r),
    )
    rec.stage(1, UnfreezeStage(-1, 2), Schedule(4, [1e-3, 1e-2]), earlier=3)
    run = Run(torch.nn.Linear(1, 1), None, [], epochs=2)
    run.epoch = 1
    rec.before_epoch(run)

    class Batch:
        y = torch.zeros(4)

    for loss in (1.0, 3.0):
        run.last = type("S", (), {"loss": torch.tensor(loss)})()
        rec.after_step(run, Batch())
    rec.after_epoch(run)
    (record,) = records
    assert record["epoch"] == 4 and record["stage"] == 1 and record["freeze_to"] == -1
    assert record["trainable_groups"] == 1 and record["train_loss"] == 2.0
    assert record["valid_loss"] == 1.5 and record["lrs"] == [1e-3, 1e-2] and seen == [record]
    count = EpochCount(2)
    count.after_epoch(run)
    assert count.n == 3


def test_early_stopping_counts_epochs_without_improvement_from_its_start_only():
    from ulmfit_lesson.clas_callbacks import EarlyStopping

    run = Run(torch.nn.Linear(1, 1), None, [], epochs=10)
    records = []
    stop = EarlyStopping("valid_loss", patience=2, records=records)
    losses = [0.9, 0.95, 0.99, 0.5, 0.6, 0.55, 0.7]  # the first three: gradual unfreezing
    for epoch, loss in enumerate(losses):
        records.append({"epoch": epoch, "valid_loss": loss})
        if epoch == 3:
            stop.start = 3  # the last stage begins: only now does patience count
        stop.after_epoch(run)
        if run.stop:
            break
    # epochs 1 and 2 were worse than 0 but came before the start; from epoch 3 (0.5), epochs 4
    # and 5 did not improve: stop after epoch 5
    assert run.stop and stop.stopped_after == 5
    acc = EarlyStopping("accuracy", patience=1, records=[{"epoch": 0, "accuracy": 0.6}])
    acc.start = 0
    run2 = Run(torch.nn.Linear(1, 1), None, [], epochs=3)
    acc.after_epoch(run2)
    acc.records.append({"epoch": 1, "accuracy": 0.6})  # a tie is not an improvement... but is
    acc.after_epoch(run2)  # the best (the later of equals), so patience starts again
    assert not run2.stop
    acc.records.append({"epoch": 2, "accuracy": 0.55})
    acc.after_epoch(run2)
    assert run2.stop and acc.stopped_after == 2
    off = EarlyStopping("valid_loss", patience=None, records=records)
    off.start = 0
    run3 = Run(torch.nn.Linear(1, 1), None, [], epochs=3)
    off.after_epoch(run3)
    assert not run3.stop


def test_fit_stops_after_the_epoch_a_callback_stopped():
    from ulmfit_lesson.callbacks import Callback
    from ulmfit_lesson.train import Step, fit

    class StopAtEpoch1(Callback):
        def after_epoch(self, run):
            run.stop = run.epoch == 1

    steps = []
    run = Run(torch.nn.Linear(1, 1), None, [0, 1, 2], epochs=5)
    fit(run, lambda b: steps.append(b) or Step(None, torch.tensor(0.0), 0, 0.0), [StopAtEpoch1()])
    assert len(steps) == 6 and run.epoch == 1  # two whole epochs, not a step of the third
