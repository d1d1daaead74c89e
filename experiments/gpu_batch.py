"""Many experiment processes at once on one lent GPU, until a time budget; everything they wrote
packed into one archive (a lent machine hands back a few files, not a folder tree).

    python experiments/gpu_batch.py JOBFILE --out OUTDIR [--budget 540] [--parallel 8]

JOBFILE holds one job per line: ``experiments/run.py``'s arguments after its script name (``#``
starts a comment; quote arguments with spaces, as in a shell). Each job runs as ``run.py ARGS
--device cuda --threads 1 --out OUTDIR/jobs/NN-...``, at most ``--parallel`` at a time, in the file's
order as slots free up. Why several at once: one ULMFiT run at batch 64 leaves an H200 mostly idle
(each step waits on Python and on the LSTM's sequential time steps), so processes fill each other's
gaps; why a cap: if the GPU turns out to be the bottleneck, the first jobs still finish before the
budget instead of every job being stopped half-done. A job still running at ``--budget`` seconds is
stopped; the rows it finished are kept (the runners rewrite their CSV after every row).

OUTDIR gets ``log.txt`` (the launcher's own log: the machine, each job's start, end and exit
status) and ``jobs.tgz`` (every job's folder: its log, CSVs, summaries), rewritten every
``--pack-every`` seconds, so a call cut short still brings back what finished.
``experiments/issue22_gpu.jobs`` is the job file of issue 22's GPU session.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_PY = REPO / "experiments" / "run.py"


def read_jobs(path: Path) -> list[list[str]]:
    """The argument lists of a job file, one per non-blank line, comments dropped."""
    jobs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        args = shlex.split(line, comments=True)
        if not args:
            continue
        if any(a in ("--out", "--device", "--threads") for a in args):
            raise ValueError(f"{path}, line {number}: --out/--device/--threads are the launcher's")
        jobs.append(args)
    if not jobs:
        raise ValueError(f"{path}: no jobs in it")
    return jobs


def job_name(number: int, args: list[str]) -> str:
    """A folder name for job ``number``: its number and its arguments, in safe characters."""
    return f"{number:02d}-" + re.sub(r"[^A-Za-z0-9.]+", "_", "_".join(args)).strip("_")[:60]


def pack(out: Path) -> None:
    """``out/jobs`` into ``out/jobs.tgz``, written under another name first and then renamed, so
    the archive is never half-written when the call ends."""
    tmp = out / "jobs.tgz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(out / "jobs", arcname="jobs")
    os.replace(tmp, out / "jobs.tgz")


def run_jobs(
    jobs: list[list[str]],
    out: Path,
    budget: float,
    parallel: int,
    log,
    device: str = "cuda",
    pack_every: float = 60.0,
    poll: float = 1.0,
    script: Path = RUN_PY,
) -> dict[str, str]:
    """Run ``jobs`` (argument lists of ``script``, run.py) as described in the module docstring;
    returns each job's folder name -> how it ended (``exit 0``, ``exit N``, ``stopped at the
    budget``, ``not started``)."""
    start = time.time()
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
    names = [job_name(i, args) for i, args in enumerate(jobs)]
    running: dict[str, tuple[subprocess.Popen, object]] = {}
    ended: dict[str, str] = {}
    waiting = list(zip(names, jobs))
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    packed = time.time()

    def say(text: str) -> None:
        print(f"[{time.time() - start:6.1f} s] {text}", file=log, flush=True)

    while waiting or running:
        for name, (proc, f) in list(running.items()):
            if proc.poll() is not None:
                f.close()
                ended[name] = f"exit {proc.returncode}"
                del running[name]
                say(f"{name}: {ended[name]}")
        if time.time() - start > budget:
            break
        while waiting and len(running) < parallel:
            name, args = waiting.pop(0)
            folder = out / "jobs" / name
            folder.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, str(script), *args, "--device", device,
                   "--threads", "1", "--out", str(folder)]  # fmt: skip
            f = open(folder / "log.txt", "w", encoding="utf-8")
            running[name] = (subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env), f)
            say(f"{name}: started: {shlex.join(args)}")
        if time.time() - packed > pack_every:
            pack(out)
            packed = time.time()
        time.sleep(poll)
    for name, (proc, f) in running.items():
        proc.kill()
        proc.wait()
        f.close()
        ended[name] = "stopped at the budget"
        say(f"{name}: {ended[name]}")
    for name, _ in waiting:
        ended[name] = "not started"
        say(f"{name}: {ended[name]}")
    pack(out)
    say("done")
    return ended


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("jobfile", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget", type=float, default=540, help="seconds until running jobs stop")
    p.add_argument("--parallel", type=int, default=8, help="jobs running at once")
    p.add_argument("--device", default="cuda", help="'cpu' to try a job file out without a GPU")
    p.add_argument("--pack-every", type=float, default=60, help="seconds between jobs.tgz updates")
    args = p.parse_args(argv)
    jobs = read_jobs(args.jobfile)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "log.txt", "a", encoding="utf-8") as log:
        for cmd in (["nvidia-smi", "-L"], [sys.executable, "-c", "import torch; print(torch."
                    "__version__, torch.version.cuda, torch.backends.cudnn.version())"]):  # fmt: skip
            try:
                text = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired) as err:
                text = f"{cmd[0]}: {err}\n"
            print(text, end="", file=log, flush=True)
        ended = run_jobs(jobs, args.out, args.budget, args.parallel, log, args.device,
                         args.pack_every)  # fmt: skip
    print("\n".join(f"{name}: {state}" for name, state in ended.items()))
    return 0 if all(state == "exit 0" for state in ended.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
