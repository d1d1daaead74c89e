"""Devices, mixed precision, and data-parallel training: one process per GPU under ``torchrun``.

Not part of ULMFiT's method; here so that stage 1 on a large corpus can use several GPUs.
``torchrun --nproc_per_node N`` starts N copies of the same script and tells each its ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` in environment variables. Then:

1. ``init_distributed`` joins the process group (NCCL on GPUs, gloo on CPUs) and picks this
   process's GPU (``resolve_device``);
2. ``data_parallel`` (called by ``fit_lm``) wraps the model in ``DistributedDataParallel``, which
   averages the gradients over the processes during ``backward``, so every copy takes the same
   optimizer step, and :class:`RankSlice` gives each process its own rows of every batch;
3. ``all_reduce_sum`` adds up losses and token counts over the processes for the metrics.

In a single process (no ``torchrun``) all of this is a no-op: ``world_info()`` is ``(0, 1)``.

Reference: the PyTorch DDP tutorial and ``torch.distributed`` docs (``init_process_group``,
``all_reduce``); ``torchrun``'s environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import nullcontext

import torch
import torch.distributed as dist
from torch import nn

from .lm_loader import LMBatch, LMLoader

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> the GPU if there is one (under ``torchrun``: this process's ``LOCAL_RANK`` GPU),
    else the CPU; anything else is passed to ``torch.device``."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def autocast(device: torch.device, amp: str | None):
    """The mixed-precision context for ``amp`` (``None``: plain float32).

    Only on GPUs: PyTorch's CPU autocast has no bf16/fp16 LSTM kernel on most CPUs (oneDNN fails
    with "could not create a primitive descriptor"), and a CPU gains little from it anyway.
    """
    if amp is None:
        return nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if device.type != "cuda":
        raise ValueError(
            f"amp={amp!r} (mixed precision) needs a GPU; on the {device.type} leave amp=None"
        )
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


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


def all_reduce_sum(values: Sequence[float], device: torch.device) -> list[float]:
    """Sum ``values`` over all processes (a no-op in a single process)."""
    if world_info()[1] == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def data_parallel(model: nn.Module, loader, valid_loader, device: torch.device):
    """Under ``torchrun``: ``(model in DistributedDataParallel, this process's share of loader,
    of valid_loader)``; in a single process, all three as they are.

    Every process shuffles the same way: rank 0's loader seed is broadcast to the others.
    """
    rank, world = world_info()
    if world == 1:
        return model, loader, valid_loader
    if isinstance(loader, LMLoader):
        seed_t = torch.tensor([loader.seed], dtype=torch.long, device=device)
        dist.broadcast(seed_t, 0)  # one shuffle and one set of BPTT lengths for every process
        loader.seed = int(seed_t.item())
        loader = RankSlice(loader, rank, world)
    if isinstance(valid_loader, LMLoader):
        valid_loader = RankSlice(valid_loader, rank, world)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids), loader, valid_loader


__all__ = [
    "RankSlice",
    "all_reduce_sum",
    "autocast",
    "data_parallel",
    "init_distributed",
    "resolve_device",
    "world_info",
]
