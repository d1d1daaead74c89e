"""Tokens per second of one LM training step: ulmfit_lesson's LanguageModel vs fastai's AWD_LSTM.

One step = forward, cross-entropy + AR/TAR (alpha 2, beta 1), backward, Adam step, the hidden state
carried (detached) into the next step, as in truncated BPTT. Both models have the same weights,
configuration (fastai ``awd_lstm_lm_config``: emb 400, hidden 1152, 3 layers, LM dropouts) and
``torch.optim.Adam``, so the difference is the model code. Steps are interleaved after a warm-up
(ours, fastai, then fastai, ours, ...) so that both see the same machine load; besides wall time,
the process's CPU time per step is reported, which other processes on the machine disturb less.

Run with a separate reference environment that has fastai (it imports fastai; the package's own
venv does not), from the repo root. Create that environment once (any folder will do):

    python -m venv /tmp/fastai-env && /tmp/fastai-env/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12

then:

    /tmp/fastai-env/bin/python bench/bench_lm_step.py --steps 3
    /tmp/fastai-env/bin/python bench/bench_lm_step.py --device cuda --amp bf16 --steps 20

``--amp bf16|fp16`` adds a third contestant, ours under ``torch.autocast`` (fp16 with a GradScaler);
fastai runs in float32 (as ``Learner`` does without ``to_fp16``). ``--profile`` prints the top
operators of one step of each model (torch.profiler).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ulmfit_lesson.awd_lstm import detach_hidden  # noqa: E402
from ulmfit_lesson.language_model import build_language_model  # noqa: E402
from ulmfit_lesson.losses import ar_tar_penalty, lm_loss  # noqa: E402

ALPHA, BETA = 2.0, 1.0


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


class Ours:
    """Our LanguageModel; hidden state passed explicitly and detached between steps."""

    def __init__(self, model, device, amp: str | None):
        self.model, self.device, self.amp = model, device, amp
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        self.hidden = None

    def step(self, x, y):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.amp)
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            out = self.model(x, self.hidden)
            loss = lm_loss(out.logits, y) + ar_tar_penalty(
                out.raw_output, out.dropped_output, ALPHA, BETA
            )
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.hidden = detach_hidden(out.hidden)
        return loss


class Fastai:
    """fastai's SequentialRNN(AWD_LSTM, LinearDecoder); the loss as CrossEntropyLossFlat +
    RNNRegularizer compute it; AWD_LSTM keeps and detaches its hidden state itself."""

    def __init__(self, model):
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.reset()

    def step(self, x, y):
        logits, raw, dropped = self.model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        loss = loss + ALPHA * dropped.float().pow(2).mean()
        loss = loss + BETA * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=70)
    p.add_argument("--vocab", type=int, default=26856)
    p.add_argument("--steps", type=int, default=3, help="timed steps per contestant")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per contestant")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--profile", action="store_true", help="print the top ops of one step of each")
    args = p.parse_args()

    import fastai
    from fastai.text.all import AWD_LSTM, awd_lstm_lm_config, get_language_model

    if args.amp and args.device == "cpu":
        p.error("--amp is for GPUs (on a CPU, oneDNN's LSTM fails under bf16 autocast without AMX)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    ours = build_language_model(args.vocab)  # LM_DROPOUTS = awd_lstm_lm_config's, drop_mult 1
    theirs = get_language_model(AWD_LSTM, args.vocab, config=awd_lstm_lm_config)
    state = {
        k.replace("encoder.", "0.", 1)
        if k.startswith("encoder.")
        else k.replace("decoder.", "1.", 1): v
        for k, v in ours.state_dict().items()
    }
    theirs.load_state_dict(state, strict=True)  # the same weights on both sides
    ours.to(device).train()
    theirs.to(device).train()

    contestants = {"ulmfit_lesson fp32": Ours(ours, device, None), "fastai fp32": Fastai(theirs)}
    if args.amp:
        contestants[f"ulmfit_lesson {args.amp} autocast"] = Ours(
            copy.deepcopy(ours), device, args.amp
        )

    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, args.vocab, (args.bs, args.seq_len + 1), generator=g).to(device)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(contestant) -> tuple[float, float]:
        """Wall seconds, and CPU seconds of this process (less sensitive to other processes)."""
        sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        contestant.step(x, y)
        sync()
        return time.perf_counter() - start, time.process_time() - cpu_start

    for _ in range(args.warmup):
        for c in contestants.values():
            timed(c)
    times = {name: [] for name in contestants}
    cpu_times = {name: [] for name in contestants}
    for i in range(args.steps):
        order = list(contestants.items())
        for name, c in order if i % 2 == 0 else order[::-1]:  # alternate who goes first
            wall, cpu = timed(c)
            times[name].append(wall)
            cpu_times[name].append(cpu)
            print(f"step {i} {name}: {wall:.2f} s, CPU {cpu:.2f} s", file=sys.stderr, flush=True)

    tokens = args.bs * args.seq_len
    ref = statistics.median(times["fastai fp32"])
    cpu_ref = statistics.median(cpu_times["fastai fp32"])
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(
        f"\n{datetime.date.today()}  {hw}  torch {torch.__version__}  fastai {fastai.__version__}"
        f"  threads {torch.get_num_threads()}  python {platform.python_version()}"
    )
    print(
        f"bs {args.bs} x seq_len {args.seq_len} = {tokens} tokens/step, vocab {args.vocab}, "
        f"warm-up {args.warmup}, {args.steps} timed steps each, interleaved (order alternating)\n"
    )
    print(
        "| model | median s/step | tokens/s (median) | min-max s/step | speed vs fastai "
        "| CPU s/step (median) | CPU time vs fastai |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, ts in times.items():
        med, cpu = statistics.median(ts), statistics.median(cpu_times[name])
        print(
            f"| {name} | {med:.2f} | {tokens / med:,.0f} | {min(ts):.2f}-{max(ts):.2f} | "
            f"{ref / med:.2f}x | {cpu:.2f} | {cpu / cpu_ref:.2f}x |"
        )

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + (
            [ProfilerActivity.CUDA] if device.type == "cuda" else []
        )
        for name, c in contestants.items():
            with profile(activities=activities) as prof:
                c.step(x, y)
                sync()
            key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
            print(f"\n## {name}\n")
            print(prof.key_averages().table(sort_by=key, row_limit=15))


if __name__ == "__main__":
    main()
