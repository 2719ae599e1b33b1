"""Volumes for the 3D experiments: loading occupancy / density grids and meshes, tiled prediction
with an exact halo, marching-cubes meshes and a preview figure.

Loading. `load_volume(path, resolution)` returns a float ``(D, H, W)`` tensor in [0, 1]:

* arrays: ``.npy``, ``.npz`` (its only array, or `key`), ``.mat`` (`key`, default ``hypercube``),
  NIfTI ``.nii`` / ``.nii.gz``. An array whose values are all 0 or 1 is an *occupancy* grid and is
  kept binary; any other array is a *density* and is scaled min..max to [0, 1]. With
  ``resolution > 0`` the longer side is resampled to `resolution` (aspect kept; scipy.ndimage.zoom,
  order 0 for occupancy so it stays binary, order 1 for density); ``resolution = 0`` keeps it native.
* meshes: ``.obj``, ``.ply``, ``.off``, ``.stl`` (each optionally gzipped, ``.obj.gz``). The mesh is
  scaled so its longest side spans ``1 - 2 * MARGIN`` of the unit cube and centred (a 5% empty
  margin each side keeps the surface off the grid border, where marching cubes would open it), then
  voxelized at pitch ``1 / resolution`` with trimesh and filled (``mesh.voxelized(pitch).fill()``).
  The voxel matrix is pasted into the ``resolution^3`` grid at its own voxel offset (centred by the
  normalisation, cropped if it ever overhangs). Mesh axes (x, y, z) become tensor axes (D, H, W).
  A mesh that is not watertight cannot be filled: it is refused unless ``surface_only=True``, which
  keeps the occupancy of the surface voxels alone.

Tiling. A conv stack with 'same' padding and receptive radius r (`OINR.receptive_radius()`) makes
each output cell depend on the input cells within r of it. So a tile of the grid is predicted
exactly from the encoding cropped to the tile plus a halo of r cells (clipped at the domain
border): errors from the crop's artificial border travel one kernel radius per layer and never
reach the tile; at the domain border the crop's padding is the whole volume's own padding.
"""

from __future__ import annotations

import gzip
import io
import math
import resource
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import check_file
from .errors import UserError

MIN_RESOLUTION = 8  # smaller grids cannot carry a 3x3x3 conv stack meaningfully
MARGIN = 0.05  # empty fraction of the unit cube left on each side of a normalised mesh
MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl")
ARRAY_SUFFIXES = (".npy", ".npz", ".mat", ".nii")


# --- loading -------------------------------------------------------------------------------------------------------


def _suffix(path: Path) -> tuple[str, bool]:
    """The format suffix of `path` and whether it is gzipped (``bunny.obj.gz`` -> ('.obj', True))."""
    sfx = [s.lower() for s in path.suffixes]
    if sfx and sfx[-1] == ".gz":
        return (sfx[-2] if len(sfx) > 1 else ""), True
    return (sfx[-1] if sfx else ""), False


def _check_resolution(resolution: int, mesh: bool) -> None:
    if resolution == 0 and mesh:
        raise UserError(f"a mesh needs a voxel grid: pass --resolution=N with N >= {MIN_RESOLUTION}")
    if resolution != 0 and resolution < MIN_RESOLUTION:
        raise UserError(f"--resolution must be 0 (native, volumes only) or >= {MIN_RESOLUTION}, got {resolution}")


def load_volume(path, resolution: int = 64, key: str = "", surface_only: bool = False) -> torch.Tensor:
    """A volume or mesh file as a float ``(D, H, W)`` tensor in [0, 1] (see the module docstring)."""
    path = check_file(path, "volume", "a .npy/.npz/.mat/.nii(.gz) volume or a mesh")
    fmt, gz = _suffix(path)
    if fmt in MESH_SUFFIXES:
        _check_resolution(resolution, mesh=True)
        return torch.from_numpy(voxelize(load_mesh(path), resolution, surface_only, name=path.name))
    if fmt not in ARRAY_SUFFIXES or (gz and fmt != ".nii"):
        known = ", ".join([*ARRAY_SUFFIXES, ".nii.gz", *MESH_SUFFIXES])
        raise UserError(f"{path.name}: unknown volume format; use one of {known}")
    _check_resolution(resolution, mesh=False)
    a = _normalise(_read_array(path, fmt, key), path.name)
    if resolution:
        a = _resample(a, resolution, path.name)
    elif min(a.shape) < MIN_RESOLUTION:
        raise UserError(f"{path.name}: a {a.shape} volume has a side below {MIN_RESOLUTION}; is it a 2D image?")
    return torch.from_numpy(np.ascontiguousarray(a))


def _read_array(path: Path, fmt: str, key: str) -> np.ndarray:
    try:
        if fmt == ".npy":
            return np.load(path, allow_pickle=False)
        if fmt == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if key:
                    if key not in names:
                        raise UserError(f"{path.name} has no array {key!r}; its arrays: {', '.join(names)}")
                    return z[key]
                if len(names) != 1:
                    raise UserError(f"{path.name} holds {len(names)} arrays ({', '.join(names)}); pick one with --key=")
                return z[names[0]]
        if fmt == ".mat":
            from scipy.io import loadmat

            d = loadmat(path)
            key = key or "hypercube"
            if key not in d:
                names = ", ".join(k for k in d if not k.startswith("__")) or "none"
                raise UserError(f"{path.name} has no variable {key!r}; its variables: {names} (pick one with --key=)")
            return d[key]
        import nibabel

        return np.asanyarray(nibabel.load(str(path)).dataobj)
    except UserError:
        raise
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise UserError(f"{path.name} is a MATLAB v7.3 file; save it with -v7 or as .npy") from None
    except Exception as e:  # noqa: BLE001 - any reader failure means 'not a readable volume'
        raise UserError(f"{path.name} is not a readable {fmt} volume ({e.__class__.__name__})") from None


def _normalise(a: np.ndarray, name: str) -> np.ndarray:
    """A 3D numeric array -> float32 in [0, 1]: occupancy kept binary, density scaled min..max."""
    if a.dtype.kind not in "biuf":
        raise UserError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    if a.ndim > 3:  # drop singleton axes, e.g. a (D, H, W, 1) NIfTI
        a = a.reshape([s for s in a.shape if s != 1] or [1])
    if a.ndim != 3:
        raise UserError(f"{name}: expected a 3D volume (D, H, W), got an array of shape {a.shape}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise UserError(f"{name}: the volume holds NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if hi == lo:
        what = {0.0: "all zeros", 1.0: "all ones"}.get(hi, f"constant ({hi:g} everywhere)")
        raise UserError(f"{name}: the volume is {what}; there is nothing to fit")
    if not np.isin(a, (0.0, 1.0)).all():
        a = (a - lo) / (hi - lo)  # density
    return a


def is_occupancy(vol) -> bool:
    """True when every value is 0 or 1."""
    v = torch.as_tensor(vol)
    return bool(((v == 0) | (v == 1)).all())


def _resample(a: np.ndarray, resolution: int, name: str) -> np.ndarray:
    from scipy.ndimage import zoom

    shape = tuple(max(1, round(s * resolution / max(a.shape))) for s in a.shape)
    if min(shape) < MIN_RESOLUTION:
        raise UserError(f"{name}: {a.shape} resampled to {shape} has a side below {MIN_RESOLUTION}; raise --resolution")
    if shape != a.shape:
        occupancy = bool(np.isin(a, (0.0, 1.0)).all())
        factors = [n / s for n, s in zip(shape, a.shape)]
        a = zoom(a, factors, order=0 if occupancy else 1, mode="nearest", grid_mode=True).clip(0.0, 1.0)
        _check_content(a, name, f"after resampling to {shape}")
    return a.astype(np.float32)


def _check_content(occ: np.ndarray, name: str, when: str) -> None:
    if not occ.any():
        raise UserError(f"{name}: the volume is all zeros {when}; nothing to fit")
    if (occ >= 1).all():
        raise UserError(f"{name}: the volume is all ones {when}; nothing to fit")


def load_mesh(path):
    """Read a mesh (optionally gzipped) with trimesh; a scene is merged into one mesh."""
    import trimesh

    path = check_file(path, "volume", "a .npy/.npz/.mat/.nii(.gz) volume or a mesh")
    fmt, gz = _suffix(path)
    try:
        if gz:
            with gzip.open(path, "rb") as f:
                mesh = trimesh.load(io.BytesIO(f.read()), file_type=fmt[1:], force="mesh")
        else:
            mesh = trimesh.load(path, force="mesh")
    except Exception as e:  # noqa: BLE001 - any reader failure means 'not a readable mesh'
        raise UserError(f"{path.name} is not a readable {fmt} mesh ({e.__class__.__name__})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise UserError(f"{path.name} holds no triangles")
    return mesh


def voxelize(mesh, resolution: int, surface_only: bool = False, name: str = "mesh") -> np.ndarray:
    """Occupancy ``(R, R, R)`` float32 in {0, 1} of a trimesh mesh normalised into the unit cube."""
    if not surface_only and not mesh.is_watertight:
        raise UserError(
            f"{name} is not watertight, so its inside is undefined; repair it (e.g. close its holes in MeshLab) "
            "or pass --surface_only=True to fit the occupancy of the surface voxels without filling"
        )
    extent = float(mesh.extents.max())
    if not extent > 0:
        raise UserError(f"{name} is degenerate (zero size)")
    pitch = 1.0 / resolution
    m = mesh.copy()
    m.apply_translation(-m.bounds.mean(axis=0))
    m.apply_scale((1 - 2 * MARGIN) / extent)
    # cell i spans [i, i + 1) * pitch; trimesh puts voxel centres on multiples of pitch, so shift by half a cell
    m.apply_translation(np.full(3, 0.5 - 0.5 * pitch))
    vox = m.voxelized(pitch)
    if not surface_only:
        vox = vox.fill()
    mat = np.asarray(vox.matrix, bool)  # (nx, ny, nz)
    start = np.round(np.asarray(vox.transform)[:3, 3] / pitch).astype(int)  # grid index of mat[0, 0, 0]
    occ = np.zeros((resolution,) * 3, np.float32)  # (D, H, W) = mesh (x, y, z)
    dst = tuple(slice(max(s, 0), min(s + n, resolution)) for s, n in zip(start, mat.shape))
    src = tuple(slice(d.start - s, d.stop - s) for d, s in zip(dst, start))
    occ[dst] = mat[src]
    _check_content(occ, name, f"at resolution {resolution}")
    return occ


# --- tiling --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """One tile of a grid: `interior` (the cells it predicts), `crop` (interior + halo, clipped to the
    grid) and `inner` (where the interior lies inside the crop); each a tuple of slices per axis."""

    interior: tuple
    crop: tuple
    inner: tuple

    @property
    def voxels(self) -> int:
        """Cells processed for this tile (the crop, halo included)."""
        return math.prod(s.stop - s.start for s in self.crop)


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


def peak_memory_mb(device) -> float:
    """Peak memory of this process in MiB: CUDA's max allocated on a GPU, max resident set size on a CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# --- meshes and figures --------------------------------------------------------------------------------------------


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
    from .plots import plt

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
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
