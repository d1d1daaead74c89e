"""Devices and data-parallel training: one process per GPU under ``torchrun``.

Not part of ULMFiT's method; here so that stage 1 on a large corpus can use several GPUs.
``torchrun --nproc_per_node N`` starts N copies of the same script and tells each its ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` in environment variables. Then:

1. ``init_distributed`` joins the process group (NCCL on GPUs, gloo on CPUs) and picks this
   process's GPU (``resolve_device``);
2. ``fit_lm`` wraps the model in ``DistributedDataParallel``, which averages the gradients over the
   processes during ``backward``, so every copy takes the same optimizer step;
3. :class:`RankSlice` gives each process its own rows of every batch;
4. ``_all_reduce_sum`` adds up losses and token counts over the processes for the metrics.

In a single process (no ``torchrun``) all of this is a no-op: ``world_info()`` is ``(0, 1)``.

Reference: the PyTorch DDP tutorial and ``torch.distributed`` docs (``init_process_group``,
``all_reduce``); ``torchrun``'s environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist

from .lm_loader import LMBatch, LMLoader


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> the GPU if there is one (under ``torchrun``: this process's ``LOCAL_RANK`` GPU),
    else the CPU; anything else is passed to ``torch.device``."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def world_info() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str | torch.device = "auto") -> tuple[int, int, torch.device]:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1); else do nothing.

    Backend: NCCL on GPUs, gloo on CPUs. Returns ``(rank, world_size, device)``; each GPU process
    gets ``cuda:LOCAL_RANK``.
    """
    device = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


class RankSlice:
    """Data parallelism for an LM loader: this process's share of every batch.

    The scheme: every process iterates the *same* ``LMLoader`` (same seed, so the same document
    shuffle and the same sampled BPTT lengths) over ``bs`` streams, and process ``rank`` of
    ``world_size`` keeps rows ``rank * bs/world : (rank + 1) * bs/world`` of each batch, i.e. its own
    contiguous block of streams, for the whole epoch. So

    - every process runs the same number of steps with the same ``seq_len`` (no process waits for
      another at an all-reduce that never comes);
    - a stream always lives on the same process, so each carries its own hidden state;
    - with gradients averaged by DDP, a step equals one step of a single process on the whole
      ``bs``-row batch (only dropout masks differ), so results do not depend on the process count.
    """

    def __init__(self, loader: LMLoader, rank: int, world_size: int):
        if loader.bs % world_size:
            raise ValueError(
                f"the loader's bs={loader.bs} streams cannot be shared evenly by {world_size} "
                "processes; use a multiple of the world size"
            )
        self.loader, self.rank, self.world_size = loader, rank, world_size
        self.rows = slice(rank * loader.bs // world_size, (rank + 1) * loader.bs // world_size)

    # The training loop reads and sets these on the loader it is given.
    epoch = property(
        lambda self: self.loader.epoch, lambda self, v: setattr(self.loader, "epoch", v)
    )
    seed = property(lambda self: self.loader.seed, lambda self, v: setattr(self.loader, "seed", v))
    last_seq_lens = property(lambda self: self.loader.last_seq_lens)
    bs = property(lambda self: self.loader.bs // self.world_size)
    bptt = property(lambda self: self.loader.bptt)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[LMBatch]:
        for b in self.loader:
            yield LMBatch(b.x[self.rows], b.y[self.rows], b.seq_len, b.lr_scale)


def _all_reduce_sum(values: Sequence[float], device: torch.device) -> list[float]:
    """Sum ``values`` over all processes (a no-op in a single process)."""
    if world_info()[1] == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


__all__ = ["RankSlice", "init_distributed", "resolve_device", "world_info"]
