"""Training on batches of grid cells instead of whole grids: for models with a pointwise read-out.

A model with ``forward_points(idx, shape) -> (P, C_out)`` (`oinr.models.multiscale.MultiscaleOINR`, the
coordinate-MLP baselines and the hash grid) can be fitted on a sample of a volume's cells per step.
An occupancy's IoU is decided near its surface, so half of each batch (``band_fraction``) is drawn
from the cells within ``radius`` cells of the other phase and the rest uniformly over the grid (the
uniform half keeps far-away cells right). The cells of step s are a function of (seed, s) alone, so
a resumed run draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def surface_band(vol: torch.Tensor, radius: int = 2, level: float = 0.5) -> torch.Tensor:
    """Flat indices of the cells of `vol` ``(*shape)`` with a cell on the other side of `level` within
    `radius` cells (a (2r+1)^d neighbourhood); empty when the volume is all one phase."""
    d = vol.ndim
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[d]
    v = vol[None, None].float()  # (1, 1, *shape)
    k = 2 * int(radius) + 1
    hi = pool(v, k, 1, radius) >= level
    lo = -pool(-v, k, 1, radius) < level
    return (hi & lo).flatten().nonzero()[:, 0]  # (n_band,)


def sample_cells(n_cells: int, band: torch.Tensor, batch: int, band_fraction: float, step: int,
                 seed: int = 0) -> torch.Tensor:  # fmt: skip
    """The `batch` flat cell indices ``(batch,)`` of step `step`: `band_fraction` from `band`, the rest uniform."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    n_band = int(round(batch * band_fraction)) if band.numel() else 0
    uniform = torch.randint(0, n_cells, (batch - n_band,), generator=g)
    near = band[torch.randint(0, band.numel(), (n_band,), generator=g)] if n_band else uniform[:0]
    return torch.cat([uniform, near.cpu()]).to(band.device)


@torch.no_grad()
def predict_points(model: torch.nn.Module, shape, chunk: int = 2**18) -> torch.Tensor:
    """The model on every cell of `shape`, in chunks of `chunk` cells: ``(1, C_out, *shape)``.

    Only one chunk of the pointwise read-out exists at a time (a multiscale model's coarse grid is
    evaluated once), so the memory is the output plus one chunk.
    """
    shape = tuple(int(s) for s in shape)
    dev = next(model.parameters()).device
    n = math.prod(shape)
    extra = {"feats": model.coarse_features(shape)} if hasattr(model, "coarse_features") else {}
    out = None  # (C_out, cells), allocated once the first chunk tells C_out
    for lo in range(0, n, chunk):
        part = model.forward_points(torch.arange(lo, min(lo + chunk, n), device=dev), shape, **extra).T
        if out is None:
            out = part.new_empty(part.shape[0], n)
        out[:, lo : lo + part.shape[1]] = part
    return out.view(1, -1, *shape)
