"""Loading sequences of 2D signals on one domain: video frames and the slices of a volume.

`load_sequence(path, ...)` reads

* video (``.mp4``, ``.avi``, ``.gif``, ``.mov``, ``.mkv``, ``.webm``) through imageio's PyAV plugin,
* arrays (``.npy``, or the one array / the `key` array of an ``.npz``) of shape (T, H, W) or (T, H, W, C),
* NIfTI volumes (``.nii``, ``.nii.gz``, through nibabel), reoriented to the closest RAS+ orientation
  and cut into 2D slices along `axis` (0: sagittal, 1: coronal, 2: axial); a 4D file needs `volume`,

and returns a `Sequence` of frames ``(T, C, H, W)`` in [0, 1]. How raw values become [0, 1]
(`NORMALISATIONS`; 'auto' picks per kind, and the rule used is recorded):

* ``dtype``: integers divided by their dtype's maximum (8-bit video: / 255); floats kept, clipped to [0, 1];
* ``robust``: (v - p0.5) / (p99.5 - p0.5) clipped to [0, 1], the 0.5 and 99.5 percentiles of the whole
  sequence (MRI: a few bright vessel or fat voxels would otherwise squash the tissue contrast);
* ``minmax``: (v - min) / (max - min) of the whole sequence;
* ``auto``: video and integer arrays ``dtype``; NIfTI ``robust``; float arrays ``dtype`` when already
  in [0, 1], else ``minmax``.

Every error the experiments report (MSE, PSNR) is measured on that [0, 1] scale. `frames` (start,
stop) picks a frame range (stop 0: to the end) before resizing; `size` resizes every frame like
`oinr.data.images.target_size` (0 native, N the longer side, (H, W) exact), anti-aliased.

The rest is what every sequence experiment shares. Pal et al. (ICML 2024) give frame n of N the
encoding grid f shifted by a constant, f_n = f + gamma_n, gamma_n = alpha + (beta - alpha) * n / N,
and map all of them with one shared operator (`frame_offsets`); the train / held-out splits (every
k-th frame, or a dropped fraction of slices); the interpolation baselines along the sequence axis; and
the batch order, fixed by the epoch and the seed so that a resumed run sees the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from oinr.data.images import MIN_IMAGE_SIDE, check_file, target_size
from oinr.errors import UserError

VIDEO_SUFFIXES = (".mp4", ".avi", ".gif", ".mov", ".mkv", ".webm")
ARRAY_SUFFIXES = (".npy", ".npz")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
NORMALISATIONS = ("auto", "dtype", "robust", "minmax")
ROBUST_PERCENTILES = (0.5, 99.5)


@dataclass
class Sequence:
    frames: torch.Tensor  # (T, C, H, W) float32 in [0, 1]
    kind: str  # video, array or nifti
    normalisation: str  # the rule that mapped raw values to [0, 1] (see the module docstring)
    value_range: tuple  # the raw values that 0 and 1 stand for
    indices: list = field(default_factory=list)  # frame / slice numbers in the file
    native_shape: tuple = ()  # (H, W) before resizing


def sequence_kind(path: Path) -> str:
    """'video', 'array' or 'nifti' from the file name, or a UserError listing what is understood."""
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(ARRAY_SUFFIXES):
        return "array"
    if name.endswith(VIDEO_SUFFIXES):
        return "video"
    known = ", ".join([*VIDEO_SUFFIXES, *ARRAY_SUFFIXES, *NIFTI_SUFFIXES])
    raise UserError(f"{path}: unknown sequence format; use one of {known}")


def read_video(path: Path) -> np.ndarray:
    """All frames of a video as uint8 ``(T, H, W, C)`` (imageio + PyAV), or a UserError."""
    import imageio.v3 as iio

    try:
        frames = [np.asarray(f) for f in iio.imiter(path, plugin="pyav")]
    except Exception as e:  # noqa: BLE001 - any decoder failure is 'unreadable' for the user
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else e.__class__.__name__
        raise UserError(f"{path} is not a readable video ({msg}); is it truncated?") from None
    if not frames:
        raise UserError(f"{path} holds no decodable frame; is it truncated?")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise UserError(f"{path}: frames of different sizes {sorted(shapes)}; re-encode it at one size")
    a = np.stack(frames)  # (T, H, W[, C])
    return a[..., None] if a.ndim == 3 else a


def read_array(path: Path, key: str = "") -> np.ndarray:
    """A (T, H, W) or (T, H, W, C) array from .npy / .npz."""
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{path} is not a readable .npy/.npz file ({e.__class__.__name__})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        names = list(data.keys())
        if key:
            if key not in names:
                raise UserError(f"{path} has no array {key!r}; it holds {', '.join(names) or 'nothing'}")
            a = data[key]
        elif len(names) == 1:
            a = data[names[0]]
        else:
            raise UserError(f"{path} holds {len(names)} arrays ({', '.join(names)}); pick one with --key=NAME")
    else:
        a = data
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise UserError(f"{path}: expected an array of shape (T, H, W) or (T, H, W, 1|3), got {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise UserError(f"{path}: expected a real numeric array, got dtype {a.dtype}")
    return a


def read_nifti(path: Path, axis: int = 2, volume: int = -1) -> np.ndarray:
    """The slices of a NIfTI volume along `axis` (after reorientation to RAS+), as ``(T, H, W, 1)``.

    Each slice is rotated so that the next axis in R-A-S order points up (anterior for axial slices,
    superior for sagittal and coronal ones), as a radiology viewer shows it.
    """
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(nib.load(str(path)))
        a = np.asanyarray(img.dataobj)
    except Exception as e:  # noqa: BLE001
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else e.__class__.__name__
        raise UserError(f"{path} is not a readable NIfTI file ({msg})") from None
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 4:
        if volume < 0:
            raise UserError(f"{path} is 4D {a.shape}; pick one volume with --volume=0..{a.shape[3] - 1}")
        if volume >= a.shape[3]:
            raise UserError(f"--volume={volume} but {path} has {a.shape[3]} volumes (0..{a.shape[3] - 1})")
        a = a[..., volume]
    if a.ndim != 3:
        raise UserError(f"{path}: expected a 3D volume, got shape {a.shape}")
    if not -3 <= axis < 3:
        raise UserError(f"--axis={axis} but the volume has 3 axes (0 sagittal, 1 coronal, 2 axial)")
    s = np.moveaxis(a, axis, 0)  # (T, P, Q): P, Q the other two axes in R-A-S order
    s = np.rot90(s, k=1, axes=(1, 2))  # (T, Q, P), Q reversed: the later axis points up
    return np.ascontiguousarray(s)[..., None]


def normalise(a: np.ndarray, rule: str, kind: str) -> tuple[np.ndarray, str, tuple]:
    """Raw values -> float32 in [0, 1] by `rule` (see the module docstring); returns (values, rule, raw range)."""
    if rule not in NORMALISATIONS:
        raise UserError(f"--normalise must be one of {', '.join(NORMALISATIONS)}, got {rule!r}")
    integer = np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_
    if not integer and not np.isfinite(a).all():
        raise UserError("the sequence holds NaN or infinite values")
    if rule == "auto":
        if kind == "nifti":
            rule = "robust"
        elif integer or (a.min() >= 0 and a.max() <= 1):
            rule = "dtype"
        else:
            rule = "minmax"
    if rule == "dtype":
        hi = 1.0 if not integer or a.dtype == np.bool_ else float(np.iinfo(a.dtype).max)
        lo = 0.0 if not integer or a.dtype == np.bool_ else float(min(0, np.iinfo(a.dtype).min))
    elif rule == "robust":
        lo, hi = (float(v) for v in np.percentile(a, ROBUST_PERCENTILES))
    else:
        lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        raise UserError(f"the sequence is constant under the {rule!r} normalisation ({lo:g}); nothing to fit")
    out = np.clip((a.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return out, rule, (lo, hi)


def load_sequence(
    path,
    frames=(0, 0),
    size=0,
    axis: int = 2,
    volume: int = -1,
    key: str = "",
    gray: bool = False,
    normalisation: str = "auto",
) -> Sequence:
    """Read a video, array or NIfTI volume as a `Sequence` of frames in [0, 1] (see the module docstring)."""
    path = check_file(path, "sequence", "a video, a (T, H, W[, C]) .npy/.npz array or a .nii(.gz) volume")
    kind = sequence_kind(path)
    if kind == "video":
        a = read_video(path)
    elif kind == "array":
        a = read_array(path, key)
    else:
        a = read_nifti(path, axis, volume)
    start, stop = _frame_range(frames, len(a))
    a = a[start:stop]  # (T, H, W, C)
    if len(a) < 2:
        raise UserError(f"{path}: {len(a)} frame(s) in the range {start}:{stop}; a sequence needs at least 2")
    if a.shape[-1] == 4:
        a = a[..., :3]  # alpha dropped
    a, rule, vrange = normalise(a, normalisation, kind)
    if gray and a.shape[-1] == 3:
        a = (a @ np.array([0.2125, 0.7154, 0.0721], np.float32))[..., None]
    native = tuple(a.shape[1:3])
    if min(native) < MIN_IMAGE_SIDE:
        raise UserError(f"{path}: frames of {native[0]}x{native[1]}; at least {MIN_IMAGE_SIDE} a side are needed")
    h, w = target_size(native, size)
    if (h, w) != native:
        from skimage.transform import resize

        a = resize(a, (len(a), h, w, a.shape[-1]), order=1, anti_aliasing=h < native[0]).astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, 1)))  # (T, C, H, W)
    return Sequence(t, kind, rule, vrange, list(range(start, stop)), native)


def _frame_range(frames, n: int) -> tuple[int, int]:
    """FRAMES (start, stop) against n frames: stop 0 means the end; negative values count from the end."""
    if not isinstance(frames, (tuple, list)) or len(frames) != 2:
        raise UserError(f"--frames must be a (start, stop) pair, got {frames!r}")
    start, stop = int(frames[0]), int(frames[1])
    start = start + n if start < 0 else start
    stop = n if stop == 0 else (stop + n if stop < 0 else min(stop, n))
    if not 0 <= start < n or stop <= start:
        raise UserError(f"--frames={frames[0]},{frames[1]} selects no frame of the {n} in the file")
    return start, stop


# ------------------------------------------------------------------------------ offsets, splits, baselines


def frame_offsets(n_frames: int, alpha: float, beta: float) -> torch.Tensor:
    """gamma_n = alpha + (beta - alpha) * n / N for n = 0..N-1 (the poster's formula), ``(N,)``."""
    n = torch.arange(n_frames, dtype=torch.float64)
    return (alpha + (beta - alpha) * n / n_frames).float()


def frame_positions(n_frames: int) -> torch.Tensor:
    """t_n of frames 0..N-1: their true positions on [-1, 1] along the sequence axis (``(N,)``)."""
    return torch.linspace(-1.0, 1.0, n_frames) if n_frames > 1 else torch.zeros(1)


def frame_inputs(cfg: dict, n_frames: int) -> torch.Tensor:
    """What tells frame n of a sequence apart for the model of header `cfg` ``(N,)``: the poster's offsets
    gamma_n = ALPHA + (BETA - ALPHA) n / N for the conv O-INR and the poster code, t_n otherwise."""
    if cfg["MODEL"] == "oinr" or (cfg["MODEL"] == "frames" and cfg.get("CODE") == "poster"):
        return frame_offsets(n_frames, cfg.get("ALPHA", 0.0), cfg.get("BETA", 0.3))
    return frame_positions(n_frames)


def heldout_split(n_frames: int, gap: int) -> tuple[list[int], list[int]]:
    """Train on frames 0, gap, 2 gap, ...; hold out the frames strictly between two training frames.

    Frames after the last training frame would need extrapolation, which the blending baseline cannot
    do; they are in neither list.
    """
    if gap < 1:
        raise UserError(f"--frame_gap must be >= 1, got {gap}")
    if gap >= n_frames:
        raise UserError(f"--frame_gap={gap} must be smaller than the number of frames ({n_frames})")
    train = list(range(0, n_frames, gap))
    test = [n for n in range(train[-1]) if n % gap]
    return train, test


def missing_split(n_slices: int, fraction: float) -> tuple[list[int], list[int]]:
    """Drop `fraction` of the slices uniformly, keeping both ends: keep round(linspace(0, T-1, K)),
    K = max(2, round(T * (1 - fraction))); the dropped ones are the test slices."""
    if not 0.0 < fraction < 1.0:
        raise UserError(f"--missing must be a fraction in (0, 1), got {fraction}")
    k = max(2, round(n_slices * (1.0 - fraction)))
    keep = sorted({int(round(v)) for v in np.linspace(0, n_slices - 1, k)})
    test = [n for n in range(n_slices) if n not in set(keep)]
    if not test:
        raise UserError(f"--missing={fraction} drops no slice of {n_slices}; raise it or use more slices")
    return keep, test


def interpolate_frames(frames: torch.Tensor, train: list[int], test: list[int], kind: str = "linear") -> torch.Tensor:
    """Frames `test` from frames `train` by interpolation along the sequence axis, clipped to [0, 1].

    'linear' blends the two neighbouring training frames by distance; 'cubic' is a not-a-knot cubic
    spline through all training frames (scipy), per pixel. ``(T, C, H, W)`` -> ``(len(test), C, H, W)``.
    """
    from scipy.interpolate import CubicSpline, interp1d

    y = frames[train].double().numpy()  # (K, C, H, W)
    if kind == "linear" or len(train) < 4:  # a cubic spline needs 4 knots
        f = interp1d(np.asarray(train, float), y, axis=0, kind="linear", assume_sorted=True)
    elif kind == "cubic":
        f = CubicSpline(np.asarray(train, float), y, axis=0)
    else:
        raise ValueError(f"unknown interpolation {kind!r}")
    return torch.from_numpy(f(np.asarray(test, float))).float().clamp(0, 1)


def batch_at(train: list[int], step: int, batch: int, seed: int) -> list[int]:
    """The training frames of `step`: a permutation per epoch, fixed by the epoch and the seed alone
    (so a resumed run trains on the same batches), cut into batches of `batch`."""
    n = len(train)
    if batch >= n:
        return list(train)
    per_epoch = -(-n // batch)
    epoch, i = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    return [train[j] for j in perm[i * batch : (i + 1) * batch]]
