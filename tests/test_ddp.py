"""Data-parallel pretraining: a real 2-process torchrun (gloo on the CPU) with a tiny model.

Checks: both processes end with identical parameters (DDP averaged the gradients), the loss went
down, and with dropout off the 2-process run equals one process on the whole batch (the RankSlice
scheme: each process takes half of the streams of the same global batch).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.train import fit_lm

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    import torch.distributed as dist
    from ulmfit_lesson.lm_loader import LMLoader
    from ulmfit_lesson.language_model import build_language_model
    from ulmfit_lesson.train import fit_lm, init_distributed

    torch.set_num_threads(1)
    out, drop_mult = sys.argv[1], float(sys.argv[2])
    rank, world, device = init_distributed("cpu")
    cycle = list(range(4, 14))
    docs = [torch.tensor([2] + cycle * 8) for _ in range(16)]
    torch.manual_seed(100 + rank)  # different inits: DDP must broadcast rank 0's weights
    model = build_language_model(14, drop_mult=drop_mult, emb_size=16, hidden_size=32, n_layers=2)
    loader = LMLoader(docs, bs=8, bptt=10, seed=5 + rank)  # fit_lm makes the seeds agree
    history = fit_lm(model, loader, 3, 2e-2, progress=False, seed=0, device=device)
    torch.save(model.state_dict(), f"{out}/rank{rank}.pt")
    json.dump({"world": world, "epochs": history.epochs, "steps": len(history.steps)},
              open(f"{out}/rank{rank}.json", "w"))
    dist.destroy_process_group()
    """
)


def run_torchrun(tmp_path: Path, drop_mult: float) -> list[dict]:
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(script), str(tmp_path), str(drop_mult)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    logs = run_torchrun(tmp_path, drop_mult=0.0)
    assert [log["world"] for log in logs] == [2, 2]
    assert logs[0]["steps"] == logs[1]["steps"] > 0
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    train_losses = [e["train_loss"] for e in logs[0]["epochs"]]
    for e0, e1 in zip(logs[0]["epochs"], logs[1]["epochs"]):  # metrics averaged over processes
        assert e0["train_loss"] == e1["train_loss"]
    assert train_losses[-1] < 0.7 * train_losses[0]

    # One process on the whole 8-stream batch, rank 0's initial weights and the loader seed rank 0
    # broadcast: the same training, up to the order of floating-point additions.
    torch.set_num_threads(1)
    cycle = list(range(4, 14))
    docs = [torch.tensor([2] + cycle * 8) for _ in range(16)]
    torch.manual_seed(100)
    single = build_language_model(14, drop_mult=0.0, emb_size=16, hidden_size=32, n_layers=2)
    history = fit_lm(single, LMLoader(docs, bs=8, bptt=10, seed=5), 3, 2e-2, progress=False)
    assert len(history.steps) == logs[0]["steps"]
    for key, value in single.state_dict().items():
        torch.testing.assert_close(value, rank0[key], atol=2e-5, rtol=1e-4, msg=key)
