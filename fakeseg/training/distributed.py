"""DDP set-up from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK); a plain run is world size 1."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import pick_device as _pick_device


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(requested: str | None, local_rank: int = 0) -> torch.device:
    """`fakeseg.device.pick_device`, with each torchrun process on its own GPU (cuda -> cuda:LOCAL_RANK)."""
    from .config import TrainError

    try:
        device = _pick_device(requested)
    except ValueError as e:
        raise TrainError(str(e)) from None
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def init_distributed(device_request: str | None) -> tuple[Dist, torch.device]:
    """Join the process group when launched by torchrun (nccl on CUDA, gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), pick_device(device_request)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_request, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local_rank), device


def broadcast_object(obj, d: Dist):
    """rank 0's `obj` on every rank (the run folder name, a stop decision)."""
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool, d: Dist, device: torch.device) -> bool:
    """True on every rank when any rank says True (all ranks must stop at the same step)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def shutdown(d: Dist, wait: bool = True) -> None:
    """Leave the process group. With `wait`, ranks leave together: a rank that tears gloo down while
    another still talks to it can abort ("terminate called without an active exception")."""
    if d.enabled and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def sync_buffers(model: torch.nn.Module, d: Dist) -> None:
    """Copy rank 0's buffers (batch-norm running stats) to every rank. DDP broadcasts them before each
    forward, so after the last step every rank holds stats updated by its own batch only."""
    if d.enabled:
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)
