"""Every GPU check in one command, for a GPU lent for minutes: tests, benchmark, CLI, experiments.

Run from the repo root on a machine with a CUDA GPU, fastai importable (the benchmark compares against
it) and ``ULMFIT_DATA`` pointing at the poems, GoEmotions and ``general-fwd``:

    python bench/gpu_checks.py --out OUTDIR [--budget 480]

1. ``pytest``: tests/test_gpu.py and the mixed-precision training tests (skipped on CPU-only CI).
2. ``bench/bench_lm_step.py --device cuda``: ours (float32, bf16 and fp16 autocast) against fastai's
   ``AWD_LSTM`` (float32), batch 64 x 70 and 128 x 72.
3. The experiments whose seeds the CPU could not afford, one process per (experiment, seed), all at
   once on the one GPU, until ``--budget`` seconds after the start; a run still going then is stopped
   (its finished rows are kept: the runners write their CSV after every row).
4. Meanwhile, stages 2 and 3 on the poems from the command line: ``finetune-lm`` in float32 and with
   ``--amp bf16`` (poem-dev perplexity before and after), then ``train-classifier``. They share the
   GPU with step 3, so their times are not benchmarks.

Everything lands in OUTDIR: ``log.txt`` (all output), ``bench.md``, ``cli/``, ``exp/<name>_s<seed>/``.
bench/results/gpu.md records what one run of this script measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = ("ablations", "sample-efficiency", "goemotions")
BENCH = [  # (bs, seq_len, amp)
    (64, 70, "bf16"),
    (64, 70, "fp16"),
    (128, 72, "bf16"),
]


def sh(cmd: list[str], log, timeout: float | None = None, **kw) -> int:
    """Run ``cmd``, echoing it and its output into ``log``; a failure is logged, never fatal."""
    print(f"\n$ {' '.join(cmd)}", file=log, flush=True)
    start = time.time()
    try:
        rc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, **kw
        ).returncode
    except subprocess.TimeoutExpired:
        rc = 124
    print(f"[exit {rc} after {time.time() - start:.1f} s]", file=log, flush=True)
    return rc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget", type=float, default=480, help="seconds until the experiments stop")
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args()
    start = time.time()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)  # the package, uninstalled
    with open(out / "log.txt", "a", encoding="utf-8") as log:
        sh(["nvidia-smi"], log)
        sh([py, "-c", "import torch; print(torch.__version__, torch.version.cuda, "
                      "torch.backends.cudnn.version(), torch.cuda.get_device_name())"], log)  # fmt: skip

        # 1. tests
        sh([py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/test_gpu.py",
            "tests/test_train.py", "-k", "gpu or cudnn or mixed"], log, timeout=180, env=env)  # fmt: skip

        # 2. benchmark (alone on the GPU, so that its absolute numbers mean something)
        with open(out / "bench.md", "w", encoding="utf-8") as md:
            for bs, seq_len, amp in BENCH:
                sh([py, "bench/bench_lm_step.py", "--device", "cuda", "--amp", amp, "--bs", str(bs),
                    "--seq-len", str(seq_len), "--steps", "50", "--warmup", "5"], md,
                   timeout=120)  # fmt: skip

        # 3. experiments, one process per (experiment, seed), until the budget is spent
        jobs = {}
        for name in EXPERIMENTS:
            for seed in range(args.seeds):
                d = out / "exp" / f"{name}_s{seed}"
                d.mkdir(parents=True, exist_ok=True)
                cmd = [py, "experiments/run.py", name, "--device", "cuda", "--seed", str(seed),
                       "--threads", "1", "--out", str(d)]  # fmt: skip
                f = open(d / "log.txt", "w", encoding="utf-8")
                jobs[(name, seed)] = (subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                                       env=env), f)  # fmt: skip
        print(f"\n{len(jobs)} experiment processes started at {time.time() - start:.0f} s",
              file=log, flush=True)  # fmt: skip

        # 4. meanwhile, the command line: stages 2 and 3 on the poems
        def left() -> float:
            return max(10.0, min(150.0, args.budget - (time.time() - start)))

        cli = out / "cli"
        cli.mkdir(exist_ok=True)
        for amp in ([], ["--amp", "bf16"]):
            lm_dir = cli / ("lm_" + (amp[1] if amp else "fp32"))
            sh([py, "-m", "ulmfit_lesson", "finetune-lm", "--pretrained", "general-fwd",
                "--dataset", "poem_sentiment", "--device", "cuda", *amp, "--out", str(lm_dir),
                "--no-progress"], log, timeout=left(), env=env)  # fmt: skip
        csvs = {split: cli / f"poems_{split}.csv" for split in ("train", "dev", "test")}
        sh([py, "-c", "from ulmfit_lesson.datasets import load_poem_sentiment as load\n"
            + "".join(f"load({s!r}).to_csv({str(f)!r}, index=False)\n" for s, f in csvs.items())],
           log, env=env)  # fmt: skip
        sh([py, "-m", "ulmfit_lesson", "train-classifier", "--train", str(csvs["train"]),
            "--valid", str(csvs["dev"]), "--test", str(csvs["test"]), "--pretrained", "general-fwd",
            "--device", "cuda", "--out", str(cli / "clf"), "--no-progress"], log, timeout=left(),
           env=env)  # fmt: skip

        while any(proc.poll() is None for proc, _ in jobs.values()):
            if time.time() - start > args.budget:
                break
            time.sleep(2)
        for (name, seed), (proc, f) in jobs.items():
            state = "stopped at the budget" if proc.poll() is None else f"exit {proc.returncode}"
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            f.close()
            print(f"{name} seed {seed}: {state}", file=log, flush=True)
        print(f"\ndone after {time.time() - start:.0f} s", file=log, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
