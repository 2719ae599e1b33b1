"""Sequences of signals on one domain (video frames, MRI slices) as the images of one operator.

Pal et al. (ICML 2024) give frame n of N the encoding grid f shifted by a constant,

    f_n = f + gamma_n,      gamma_n = alpha + (beta - alpha) * n / N,

added to every sin/cos channel, and map all of them with one shared operator. A frame that was never
trained on is queried at its own gamma_n. This module holds what every sequence experiment shares:
the offsets, the train / held-out splits (every k-th frame, or a dropped fraction of slices), the
interpolation baselines along the sequence axis, the batch order and a figure strip of held-out frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import UserError


def frame_offsets(n_frames: int, alpha: float, beta: float) -> torch.Tensor:
    """gamma_n = alpha + (beta - alpha) * n / N for n = 0..N-1 (the poster's formula), ``(N,)``."""
    n = torch.arange(n_frames, dtype=torch.float64)
    return (alpha + (beta - alpha) * n / n_frames).float()


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


def interpolate(frames: torch.Tensor, train: list[int], test: list[int], kind: str = "linear") -> torch.Tensor:
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


def strip(rows: dict, columns: list[str], out: Path, error_of: tuple | None = None, title: str = "") -> Path:
    """A grid of frames: one row per held-out frame (``rows[label] = {column: (C, H, W)}``), the given
    columns, and an |error| map of ``error_of = (prediction column, truth column)`` at the end."""
    from .plots import plt, save_figure

    ncol = len(columns) + (1 if error_of else 0)
    h, w = next(iter(next(iter(rows.values())).values())).shape[-2:]
    scale = 2.4 / max(h, w)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(ncol * w * scale + 0.6, len(rows) * h * scale + 0.5),
                             squeeze=False)  # fmt: skip
    for r, (label, panels) in enumerate(rows.items()):
        for c, name in enumerate(columns):
            a = _hwc(panels[name])
            axes[r][c].imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            axes[r][c].set_title(f"{name}" if r == 0 else "", fontsize=8)
        if error_of:
            err = np.abs(_hwc(panels[error_of[0]]) - _hwc(panels[error_of[1]]))
            err = err.mean(-1) if err.ndim == 3 else err
            axes[r][-1].imshow(err, cmap="magma", vmin=0, vmax=0.25, interpolation="nearest")
            axes[r][-1].set_title(f"|{error_of[0]} - {error_of[1]}| (0..0.25)" if r == 0 else "", fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, out, title, dpi=120, fontsize=9)


def _hwc(x: torch.Tensor) -> np.ndarray:
    a = np.clip(x.detach().cpu().float().numpy(), 0, 1)
    a = np.moveaxis(a, 0, -1)  # (C, H, W) -> (H, W, C)
    return a[..., 0] if a.shape[-1] == 1 else a
