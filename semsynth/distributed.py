"""torch.distributed helpers: rank/world from torchrun's environment, plan sharding, reduction of metric states.

Without torchrun everything degrades to a single process (rank 0 of 1) and no process group is created.
"""

from __future__ import annotations

import os
from typing import Sequence, TypeVar

import torch
import torch.distributed as dist

from . import devices

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(device: str | torch.device = "cpu") -> torch.device:
    """Join the process group when launched by torchrun; returns this rank's device (cuda:LOCAL_RANK on GPUs)."""
    device = devices.resolve(device)   # an unknown or absent device is a UserError before anything starts
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    return device


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of a plan: every world_size-th item, starting at rank."""
    return list(items[rank()::world_size()])


def block(items: Sequence[T]) -> list[T]:
    """This rank's contiguous block of a plan: the blocks of ranks 0, 1, ... follow each other in plan order, so
    rows gathered in rank order are in plan order whatever the number of processes."""
    count, ranks, me = len(items), world_size(), rank()
    return list(items[me * count // ranks:(me + 1) * count // ranks])


def all_reduce_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum a metric state over ranks (states are sums, so the sum is the state of all samples)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return state
    reduced = {}
    for key, value in state.items():
        buffer = value.clone()
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        reduced[key] = buffer
    return reduced


def all_gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Every rank's rows (``[n_rank, ...]``, n may differ by rank) concatenated in rank order."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return rows
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, rows.cpu())
    return torch.cat(gathered)


def broadcast_object(value: T) -> T:
    """Rank 0's ``value`` on every rank (e.g. the run folder that rank 0 named)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
