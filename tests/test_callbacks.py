"""The callbacks around the training loop: the LR and momentum really set, a planned stop, the
loader's epochs, random states put back."""

import random

import pytest
import torch

from ulmfit_lesson.callbacks import LoaderEpoch, ScheduleLR, StopAfter, rng_state, set_rng_state
from ulmfit_lesson.lm_loader import LMBatch
from ulmfit_lesson.schedules import Schedule, one_cycle_moms
from ulmfit_lesson.train import Run


def make_run(n_groups=2):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(n_groups)]
    optimizer = torch.optim.AdamW([{"params": [p]} for p in params], lr=1.0)
    return Run(torch.nn.Linear(1, 1), optimizer, [], epochs=1)


def test_schedule_lr_sets_each_group_times_the_batch_lr_scale():
    run = make_run()
    sched = ScheduleLR(Schedule(10, [1e-3, 1e-2], kind="constant"), betas=(0.7, 0.99))
    batch = LMBatch(torch.zeros(1, 2), torch.zeros(1, 2), 2, 0.5)
    sched.before_step(run, batch)
    assert [g["lr"] for g in run.optimizer.param_groups] == pytest.approx([5e-4, 5e-3])
    assert [g["betas"] for g in run.optimizer.param_groups] == [(0.7, 0.99)] * 2
    assert sched.lrs == pytest.approx([5e-4, 5e-3]) and sched.mom == 0.7


def test_schedule_lr_cycles_momentum_with_one_cycle():
    run = make_run(1)
    moms = (0.8, 0.7, 0.8)
    sched = ScheduleLR(Schedule(20, [1e-2], kind="one_cycle"), (0.7, 0.99), moms)
    got = []
    for run.step in range(20):
        sched.before_step(run, object())  # a classifier batch: no lr_scale, i.e. 1
        got.append(run.optimizer.param_groups[0]["betas"][0])
    assert got == pytest.approx([one_cycle_moms(t, 20, moms) for t in range(20)])
    assert min(got) == pytest.approx(0.7, abs=0.01) and got[0] == pytest.approx(0.8)


def test_stop_after_stops_at_the_step_count():
    run, stop = make_run(), StopAfter(3)
    for run.step in (1, 2):
        stop.after_step(run, None)
        assert not run.stop
    run.step = 3
    stop.after_step(run, None)
    assert run.stop
    never = make_run()
    never.step = 10**6
    StopAfter(None).after_step(never, None)
    assert not never.stop


def test_loader_epoch_counts_from_the_base_epoch():
    class Loader:
        epoch = 0

    loader, run = Loader(), make_run()
    cb = LoaderEpoch(loader, base_epoch=4)
    run.epoch = 2
    cb.before_epoch(run)
    assert loader.epoch == 6


def test_rng_state_round_trip_repeats_the_same_numbers():
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    random.seed(0)
    state = rng_state(cpu)
    first = torch.rand(3), random.random()
    state["python"] = list(state["python"])  # as a checkpoint stores it
    state["python"][1] = list(state["python"][1])
    set_rng_state(state, cpu)
    second = torch.rand(3), random.random()
    assert torch.equal(first[0], second[0]) and first[1] == second[1]


def test_time_estimate_paces_from_the_second_step_and_says_it_once():
    from ulmfit_lesson.callbacks import TimeEstimate

    ticks = iter([100.0, 102.0])  # the clock at the end of step 1, then of step 5
    said = []
    est = TimeEstimate(120, "language model", said.append, after=4, clock=lambda: next(ticks))
    for _ in range(6):
        est.after_step(None, None)
    # steps 2-5 took 2 s after the end of step 1: 0.5 s per step, 120 steps = 1 min; said once
    assert said == [
        "language model: 0.50 s per step over steps 2-5, so about 1.0 min for all 120 steps "
        "on this machine"
    ]
