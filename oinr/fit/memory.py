"""Will a fit fit in memory? Estimate before allocating, so a too-large input is refused in one line.

`fit_bytes(model, shape)` measures, on a small probe grid, the bytes that autograd keeps per grid cell
for one training step (every tensor saved for the backward pass, counted once per storage, through
``torch.autograd.graph.saved_tensors_hooks``), and scales it to the real grid; it adds the input grid,
the target, the output and its gradient, and the parameters with their gradient and Adam's two moments.
Per-cell memory of a conv or coordinate network is the same on a probe and on the real grid (every layer
keeps per-cell activations), so the estimate is linear in the number of cells.

`available_bytes(device)` is what this process may still allocate: CUDA's free memory on a GPU; on a CPU
the smallest of MemAvailable (/proc/meminfo), the cgroup's limit less its usage, and the address-space
limit (``ulimit -v``) less this process's current size.
"""

from __future__ import annotations

import copy
import math
import resource
from pathlib import Path

import torch

from oinr.errors import UserError

HEADROOM = 0.8  # use at most this fraction of the available memory (allocator slack, fragmentation)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes(device="cpu") -> int:
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    cg_max, cg_cur = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if cg_max is not None and cg_cur is not None:
        limits.append(cg_max - cg_cur)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        pages = _read_int_first("/proc/self/statm")
        used = pages * resource.getpagesize() if pages is not None else 0
        limits.append(soft - used)
    return max(0, min(limits)) if limits else 1 << 62


def _read_int_first(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def saved_bytes_per_cell(model: torch.nn.Module, dims: int, probe: int | None = None) -> float:
    """Bytes autograd saves per grid cell in one forward pass of `model` (measured on a probe grid)."""
    probe = probe or (32 if dims <= 2 else 12)
    shape = (probe,) * dims
    device = next(model.parameters()).device
    seen: dict[int, int] = {}

    def pack(t):
        if t.device.type != "meta":
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    if getattr(model, "fit_grid", lambda: None)() is not None:  # a model whose fit grid is set: probe a copy
        model = copy.deepcopy(model)  # without it, so that the probe grid defines its own function
        model.fit_shape.zero_()
    grid = model.make_input(shape).to(device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(grid)
    del out
    return sum(seen.values()) / math.prod(shape)


def fit_bytes(model: torch.nn.Module, shape, channels: int, per_cell: float | None = None) -> int:
    """Estimated peak bytes of one full-grid training step of `model` on a grid of `shape`."""
    cells = math.prod(shape)
    per_cell = saved_bytes_per_cell(model, len(shape)) if per_cell is None else per_cell
    n_in = model.make_input((2,) * len(shape)).shape[1]
    io = 4 * cells * (n_in + 3 * channels)  # input grid; target, output and its gradient
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(per_cell * cells * 1.5 + io + 4 * params)  # 1.5: gradients of the largest activations in flight


def gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB"


def check_fits(model: torch.nn.Module, shape, channels: int, device, what: str, fix: str) -> int:
    """Refuse (one-line UserError) a full-grid fit whose estimate exceeds the available memory.

    `fix(largest_side)` words the setting that would fit, given the largest grid side (same aspect) that
    does. Returns the estimate in bytes.
    """
    per_cell = saved_bytes_per_cell(model, len(shape))
    need = fit_bytes(model, shape, channels, per_cell)
    have = available_bytes(device) * HEADROOM
    if need <= have:
        return need
    scale = (have / need) ** (1 / len(shape))  # memory is linear in the cells: shrink every side alike
    side = max(1, int(max(shape) * scale))
    raise UserError(f"{what} of {'x'.join(map(str, shape))} needs about {gib(need)} but {gib(have)} is "
                    f"available; {fix(side)}")  # fmt: skip


def check_volume_fits(model: torch.nn.Module, shape, tile_shape, device) -> int:
    """Refuse (one-line UserError) a 3D fit whose whole-grid tensors (encoding, target, prediction) plus one
    training step on a tile of `tile_shape` exceed the available memory; returns the estimate in bytes."""
    n_in = model.make_input((2,) * len(shape)).shape[1]
    whole = 4 * math.prod(shape) * (n_in + 3)  # the encoding (tiles are views of it), target, prediction
    return _check_volume(shape, whole, fit_bytes(model, tile_shape, 1), device, "lower --max_voxels (smaller tiles)")


WHOLE_BYTES_PER_CELL = 32  # point-sampled fits: the volume, the surface-band search, the prediction, the IoU's masks


def check_points_fit(model: torch.nn.Module, shape, batch: int, device) -> int:
    """`check_volume_fits` for a model trained on `batch` cells per step (`oinr.data.sampling`): the whole-grid
    tensors, one step on the batch (per-point bytes measured on a probe grid) and, for a multiscale model,
    its coarse grid's step."""
    from oinr.models.multiscale import coarse_shape

    per_point = saved_bytes_per_cell(model, len(shape))
    step = int(per_point * max(batch, 2**18) * 1.5)  # a training batch, or one prediction chunk (2^18 cells)
    if hasattr(model, "operator"):
        step += fit_bytes(model.operator, coarse_shape(shape, model.coarse), model.operator.last.out_channels)
    whole = WHOLE_BYTES_PER_CELL * math.prod(shape)
    return _check_volume(shape, whole, step, device, "lower --batch (fewer voxels per step)")


def _check_volume(shape, whole: int, step: int, device, smaller_step: str) -> int:
    have = available_bytes(device) * HEADROOM
    if whole + step <= have:
        return whole + step
    if have > step:
        side = int(max(shape) * ((have - step) / whole) ** (1 / len(shape)))
        fix = f"pass --resolution={side} (or smaller)"
    else:
        fix = smaller_step
    raise UserError(f"a volume of {'x'.join(map(str, shape))} needs about {gib(whole + step)} (the grids "
                    f"{gib(whole)}, one training step {gib(step)}) but {gib(have)} is available; {fix}")  # fmt: skip


def peak_memory_mb(device) -> float:
    """Peak memory of this process in MiB: CUDA's max allocated on a GPU, max resident set size on a CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:  # VmHWM: this process image's own peak (ru_maxrss keeps the parent's size across fork + exec)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # KiB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
