"""Many processes, one run: torch.distributed under torchrun (gloo on CPU, NCCL on GPU, one GPU per process).

Every rank on a GPU makes ``cuda:LOCAL_RANK`` its current device *before* the process group starts and
hands it to the group (``device_id``), so NCCL's communicator and every collective's buffers (the objects
that `Group.on_rank_zero` and `Group.gather` send) live on the rank's own GPU, not all on GPU 0. Without
torchrun (WORLD_SIZE unset) the group is the one-process case and starts nothing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from oinr.errors import UserError

TIMEOUT = timedelta(hours=12)  # rank 0 waits for every shard at the merge


def local_world_size() -> int:
    """Processes that torchrun started on this host (LOCAL_WORLD_SIZE; 1 without torchrun)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def processes_per_gpu() -> int:
    """How many of this host's processes share one GPU (1 when every process has its own)."""
    return math.ceil(local_world_size() / max(1, torch.cuda.device_count()))


@dataclass
class Group:
    """This process's place in the run: its rank, the number of processes and the device its collectives use."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def collective_device(self) -> torch.device | None:
        """The device that object collectives stage their bytes on: the rank's GPU under NCCL, else None."""
        return self.device if self.device.type == "cuda" else None

    def on_rank_zero(self, make):
        """`make()` (a run folder's name, say) on rank 0, its result (any picklable value) handed to every rank."""
        box = [make() if self.rank == 0 else None]
        if self.world > 1:
            dist.broadcast_object_list(box, src=0, device=self.collective_device)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's `value`, in rank order, once all ranks got here."""
        if self.world == 1:
            return [value]
        dev = self.collective_device
        if dev is not None:
            dist.barrier(device_ids=[dev.index])
        else:
            dist.barrier()
        out = [None] * self.world
        dist.all_gather_object(out, value)  # staged on the current device, which init_distributed set
        return out

    def agree(self, refusal: str | None) -> None:
        """Raise the same UserError on every rank when any rank refused (the first refusal, by rank)."""
        found = [r for r in self.gather(refusal) if r]
        if found:
            self.close()
            raise UserError(found[0])

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device) -> Group:
    """This process's `Group`; joins the process group when launched by torchrun (WORLD_SIZE > 1).

    `device` is the rank's device (`oinr.fit.runs.pick_device` gives ``cuda:LOCAL_RANK`` under torchrun).
    """
    device = torch.device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Group(0, 1, device)
    if device.type == "cuda":
        if processes_per_gpu() > 1:
            raise UserError(f"{local_world_size()} processes on this host but {torch.cuda.device_count()} GPUs: "
                            "NCCL needs one GPU per process; start --nproc_per_node <= the GPU count")  # fmt: skip
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index not in (None, local % torch.cuda.device_count()):
            raise UserError(f"--device={device}: under torchrun each process takes cuda:LOCAL_RANK; "
                            "use --device=auto or --device=cuda")  # fmt: skip
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)  # before the group: its communicator and buffers on this GPU
        dist.init_process_group("nccl", timeout=TIMEOUT, device_id=device)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
    return Group(dist.get_rank(), world, device)
