"""Volumes for the 3D experiments: loading occupancy / density grids and meshes (tiling: `oinr.data.tiling`;
marching-cubes meshes and previews: `oinr.data.surface`).

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
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import torch

from oinr.data.images import check_file
from oinr.errors import UserError

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
