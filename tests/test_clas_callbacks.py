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
