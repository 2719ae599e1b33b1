"""Many processes, one run: torch.distributed under torchrun (gloo on CPU, NCCL on GPU, one GPU per process).

Without torchrun (WORLD_SIZE unset) every function here is the one-process case and starts nothing.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch.distributed as dist


def init_distributed(device) -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timedelta(hours=12))  # rank 0 waits for every shard at the merge
    return dist.get_rank(), world


def on_rank_zero(rank: int, world: int, make):
    """`make()` (a run folder's name, say) on rank 0, its result (any picklable value) handed to every rank."""
    box = [make() if rank == 0 else None]
    if world > 1:
        dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(world: int, value) -> list:
    """Every rank's `value`, in rank order, once all ranks got here; the process group is then closed."""
    if world == 1:
        return [value]
    dist.barrier()
    out = [None] * world
    dist.all_gather_object(out, value)
    dist.destroy_process_group()
    return out
