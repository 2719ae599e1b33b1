"""Exact tiled prediction for grids too large for one step: tiles with a halo of the receptive radius.

Tiling. A conv stack with 'same' padding and receptive radius r (`OINR.receptive_radius()`) makes
each output cell depend on the input cells within r of it. So a tile of the grid is predicted
exactly from the encoding cropped to the tile plus a halo of r cells (clipped at the domain
border): errors from the crop's artificial border travel one kernel radius per layer and never
reach the tile; at the domain border the crop's padding is the whole volume's own padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from oinr.errors import UserError


@dataclass(frozen=True)
class Tile:
    """One tile of a grid: `interior` (the cells it predicts), `crop` (interior + halo, clipped to the
    grid) and `inner` (where the interior lies inside the crop); each a tuple of slices per axis."""

    interior: tuple
    crop: tuple
    inner: tuple

    @property
    def shape(self) -> tuple:
        """The crop's shape (halo included): what one training step on this tile processes."""
        return tuple(s.stop - s.start for s in self.crop)

    @property
    def voxels(self) -> int:
        """Cells processed for this tile (the crop, halo included)."""
        return math.prod(self.shape)


def _splits(n: int, t: int) -> list[tuple[int, int]]:
    k = math.ceil(n / t)  # tiles along this axis, sized as evenly as possible
    edges = [round(i * n / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def tiles_for(shape, tile, radius: int) -> list[Tile]:
    """Tiles of at most `tile` cells per axis (an int or one per axis) covering `shape`, each with a halo
    of `radius` cells clipped to the grid; in C order (the last axis fastest)."""
    shape = tuple(int(s) for s in shape)
    tile = (tile,) * len(shape) if isinstance(tile, int) else tuple(tile)
    if len(tile) != len(shape) or min(tile) < 1 or radius < 0:
        raise ValueError(f"bad tile {tile} / radius {radius} for a grid of shape {shape}")
    axes = [_splits(n, min(t, n)) for n, t in zip(shape, tile)]
    out = []
    for boxes in np.ndindex(*[len(a) for a in axes]):
        interior, crop, inner = [], [], []
        for ax, i in enumerate(boxes):
            a, b = axes[ax][i]
            lo, hi = max(a - radius, 0), min(b + radius, shape[ax])
            interior.append(slice(a, b))
            crop.append(slice(lo, hi))
            inner.append(slice(a - lo, b - lo))
        out.append(Tile(tuple(interior), tuple(crop), tuple(inner)))
    return out


def tile_side_for(shape, max_voxels: int, radius: int) -> int | None:
    """The largest cubic tile side whose crop (halo included) holds at most `max_voxels` cells, or None when
    the whole grid fits. A UserError when even a single-cell tile with its halo does not fit."""
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) <= max_voxels:
        return None
    worst = lambda t: math.prod(min(t + 2 * radius, n) for n in shape)  # the largest crop for side t
    if worst(1) > max_voxels:
        raise UserError(f"--max_voxels={max_voxels} cannot hold one cell with its halo of {radius}; raise it")
    t = 1
    while t < max(shape) and worst(t + 1) <= max_voxels:
        t += 1
    return t


def tile_at(tiles: list[Tile], step: int, seed: int = 0) -> Tile:
    """The tile trained at `step`: every tile once per epoch in an order shuffled by (seed, epoch), so the
    choice is a pure function of the step and a resumed run visits the same tiles."""
    epoch, i = divmod(step, len(tiles))
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return tiles[int(torch.randperm(len(tiles), generator=g)[i])]


def check_tileable(model: torch.nn.Module) -> None:
    """Tiling is exact for stride-1 'same' convs padded with zeros, reflect or replicate (not circular)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            if m.padding_mode == "circular" or any(s != 1 for s in m.stride) or any(d != 1 for d in m.dilation):
                raise ValueError("tiled prediction needs stride-1, undilated convs without circular padding")


def predict_tiled(model: torch.nn.Module, grid: torch.Tensor, tile, radius: int | None = None) -> torch.Tensor:
    """``model(grid)`` computed tile by tile: ``(B, C_in, *spatial)`` -> ``(B, C_out, *spatial)``.

    Each tile is predicted from the encoding cropped to it plus a halo of `radius` cells (default:
    ``model.receptive_radius()``) and its interior kept, so the result equals the whole-grid prediction
    while memory is bounded by one crop. Runs under the caller's grad mode.
    """
    check_tileable(model)
    radius = model.receptive_radius() if radius is None else radius
    spatial = grid.shape[2:]
    out = None
    for t in tiles_for(spatial, tile, radius):
        y = model(grid[(..., *t.crop)])[(..., *t.inner)]  # (B, C_out, *tile)
        if out is None:
            out = grid.new_empty((grid.shape[0], y.shape[1], *spatial))  # (B, C_out, *spatial)
        out[(..., *t.interior)] = y
    return out
