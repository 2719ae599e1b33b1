"""Marching-cubes surfaces of volumes, their export, depth renders and the 3D preview figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def surface(vol, level: float = 0.5):
    """Marching-cubes mesh (trimesh.Trimesh, unit-cube coordinates) of ``vol > level``, or None without a surface.

    The volume is padded with one empty cell each side so the surface closes at the grid border.
    """
    import trimesh
    from skimage.measure import marching_cubes

    v = np.pad(torch.as_tensor(vol).detach().cpu().float().numpy(), 1)  # (D+2, H+2, W+2)
    if not v.min() < level < v.max():
        return None
    verts, faces, _, _ = marching_cubes(v, level=level)
    verts = (verts - 0.5) / max(vol.shape)  # cell i's centre at (i + 0.5) / n in the unit cube
    return trimesh.Trimesh(verts, faces, process=False)


def save_surface(vol, path: Path, level: float = 0.5) -> Path | None:
    """Write the marching-cubes mesh of `vol` to `path` (format from the suffix: .ply, .obj, .stl)."""
    mesh = surface(vol, level)
    if mesh is None:
        print(f"note: no surface at level {level}; {Path(path).name} not written")
        return None
    mesh.export(path)
    return Path(path)


def depth_render(vol, axis: int = 2, level: float = 0.5) -> np.ndarray:
    """A shaded ``(rows, cols)`` image in [0, 1] of ``vol > level`` seen along `axis` (depth-map Lambert shading)."""
    occ = torch.as_tensor(vol).detach().cpu().float().numpy() > level
    occ = np.moveaxis(occ, axis, -1)  # (rows, cols, depth), the viewer at depth 0
    n = occ.shape[-1]
    hit = occ.any(-1)
    depth = np.where(hit, occ.argmax(-1), n).astype(np.float32)  # (rows, cols) first occupied cell
    gy, gx = np.gradient(np.where(hit, depth, depth[hit].max() if hit.any() else n))
    normal = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = np.array([-0.4, -0.5, 0.77])
    shade = np.clip(normal @ (light / np.linalg.norm(light)), 0, 1) * (1 - 0.5 * depth / n)
    return np.where(hit, 0.15 + 0.85 * shade, 1.0)


def preview(volumes: dict, out: Path, title: str = "", view_axis: int = 2) -> Path:
    """One row per named volume: its three orthogonal mid slices and a shaded depth render."""
    from oinr.plots import plt, save_figure

    fig, axes = plt.subplots(len(volumes), 4, figsize=(12, 3.1 * len(volumes)), squeeze=False)
    for row, (name, vol) in zip(axes, volumes.items()):
        v = torch.as_tensor(vol).detach().cpu().float().numpy()  # (D, H, W)
        d, h, w = (s // 2 for s in v.shape)
        for ax, (label, sl) in zip(row, [("D", v[d]), ("H", v[:, h]), ("W", v[:, :, w])]):
            ax.imshow(sl, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{name}: mid {label} slice", fontsize=9)
        row[3].imshow(np.rot90(depth_render(v, view_axis)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        row[3].set_title(f"{name}: render along {'DHW'[view_axis]}", fontsize=9)
        for ax in row:
            ax.axis("off")
    return save_figure(fig, out, title, dpi=100)
