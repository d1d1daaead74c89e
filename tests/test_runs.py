"""runs.py: a run folder is written whole, under a lock, or not at all; its space is checked first."""

import multiprocessing
import os
import re

import pytest

from ulmfit_lesson import integrity, runs
from ulmfit_lesson.runs import RunExistsError


def test_a_run_is_written_whole_with_a_manifest(tmp_path):
    out = tmp_path / "run"
    with runs.whole_run(out) as tmp:
        assert tmp != out and not out.exists()  # nothing at --out until the run finishes
        (tmp / "metrics.json").write_text("first", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "metrics.json"]
    assert integrity.verify_manifest(out)
    with pytest.raises(RunExistsError, match="already holds files"):
        runs.check_output_dir(out)
    assert runs.check_output_dir(out, overwrite=True) == out


@pytest.mark.parametrize(
    "failure", [ValueError("bad"), KeyboardInterrupt()], ids=["error", "ctrl-c"]
)
def test_a_failed_or_interrupted_run_leaves_the_earlier_run_intact(failure, tmp_path):
    out = tmp_path / "run"
    with runs.whole_run(out) as tmp:
        (tmp / "metrics.json").write_text("first", encoding="utf-8")
    with pytest.raises(type(failure)):
        with runs.whole_run(out, overwrite=True) as tmp:
            (tmp / "metrics.json").write_text("second, half written", encoding="utf-8")
            raise failure
    assert (out / "metrics.json").read_text() == "first" and integrity.verify_manifest(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def _exit_now():
    os._exit(0)


def test_a_second_run_on_the_same_out_is_refused_a_stale_lock_taken_over(tmp_path):
    out = tmp_path / "run"
    with runs.run_lock(out) as lock:
        assert lock.read_text().split()[0] == str(os.getpid())
        with pytest.raises(
            RunExistsError,
            match=rf"another run \(process {os.getpid()}\) is "
            rf"writing {re.escape(str(out))} right now",
        ):
            with runs.whole_run(out):
                pass
    assert not lock.exists()
    child = multiprocessing.get_context("fork").Process(target=_exit_now)
    child.start()
    child.join()
    lock.write_text(f"{child.pid} 2026-01-01T00:00:00\n")  # a crashed run's lock
    with runs.whole_run(out) as tmp:
        (tmp / "a.txt").write_text("ok", encoding="utf-8")
    assert (out / "a.txt").read_text() == "ok" and not lock.exists()


def test_not_enough_disk_space_is_refused_with_both_numbers(tmp_path):
    with pytest.raises(
        runs.NotEnoughSpaceError,
        match=r"about 1,048,576 MiB needed, [\d,]+ MiB "
        r"free",
    ):
        runs.check_free_space(tmp_path, 2**40, "the run's files")
