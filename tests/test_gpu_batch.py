"""experiments/gpu_batch.py: the job file, the slots, the budget and the archive that comes back."""

from __future__ import annotations

import io
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments import gpu_batch  # noqa: E402

# A stand-in for run.py: sleeps argv[1] seconds, then writes its arguments into its --out folder.
FAKE_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    time.sleep(float(sys.argv[1]))
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    (out / "done.txt").write_text(" ".join(sys.argv[1:]))
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 0)
    """
)


def test_read_jobs_splits_like_a_shell_and_refuses_the_launchers_options(tmp_path):
    jobs = tmp_path / "a.jobs"
    jobs.write_text(
        '# a comment\n\ngoemotions-imbalance --treatments plain "tuned decision"  # x\n'
    )
    assert gpu_batch.read_jobs(jobs) == [
        ["goemotions-imbalance", "--treatments", "plain", "tuned decision"]
    ]
    jobs.write_text("poems\nablations --out somewhere\n")
    with pytest.raises(ValueError, match=r"a\.jobs, line 2: --out"):
        gpu_batch.read_jobs(jobs)
    jobs.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no jobs"):
        gpu_batch.read_jobs(jobs)


def test_job_names_are_numbered_and_safe():
    name = gpu_batch.job_name(3, ["goemotions-imbalance", "--treatments", "balanced + tuned"])
    assert name == "03-goemotions_imbalance_treatments_balanced_tuned"
    assert len(gpu_batch.job_name(0, ["x" * 200])) == 3 + 60


def test_slots_budget_and_archive(tmp_path):
    """One slot: the first job finishes, the second is stopped at the budget, the third never
    starts; every job gets --device/--threads/--out; the archive holds what finished."""
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    out = tmp_path / "out"
    log = io.StringIO()
    jobs = [["0", "3"], ["60"], ["0"]]
    ended = gpu_batch.run_jobs(jobs, out, 4.0, 1, log, "cpu", poll=0.1, script=script)
    names = [gpu_batch.job_name(i, args) for i, args in enumerate(jobs)]
    assert ended == {names[0]: "exit 3", names[1]: "stopped at the budget", names[2]: "not started"}
    done = (out / "jobs" / names[0] / "done.txt").read_text()
    assert done == f"0 3 --device cpu --threads 1 --out {out / 'jobs' / names[0]}"
    assert not (out / "jobs" / names[1] / "done.txt").exists()
    with tarfile.open(out / "jobs.tgz") as tar:
        members = tar.getnames()
    assert f"jobs/{names[0]}/done.txt" in members and f"jobs/{names[1]}/log.txt" in members
    assert not (out / "jobs.tgz.tmp").exists()
    assert "stopped at the budget" in log.getvalue() and "done" in log.getvalue()


def test_parallel_slots_run_jobs_at_once(tmp_path):
    """Three 1.5-second jobs in three slots end well inside a 4-second budget (one slot could not)."""
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    ended = gpu_batch.run_jobs(
        [["1.5"]] * 3, tmp_path / "out", 4.0, 3, io.StringIO(), "cpu", poll=0.1, script=script
    )
    assert list(ended.values()) == ["exit 0"] * 3


def test_the_committed_job_files_are_valid_run_py_commands(tmp_path, monkeypatch):
    """Every line of the committed job files is accepted by run.py's own parser (a misspelt
    treatment or method would cost a lent GPU's minutes)."""
    from experiments import run as run_py

    calls = []
    monkeypatch.setattr(run_py, "run", lambda name, *a, **kw: calls.append((name, kw)))
    monkeypatch.setattr(run_py, "summarize", lambda *a: "")
    paths = sorted(Path(gpu_batch.__file__).parent.glob("*.jobs"))
    assert paths
    for path in paths:
        for args in gpu_batch.read_jobs(path):
            run_py.main([*args, "--device", "cuda", "--out", str(tmp_path)])
    assert calls and all(kw["device"] == "cuda" and kw["methods"] for _, kw in calls)
