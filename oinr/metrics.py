"""Signal metrics: PSNR, SSIM, IoU, MSE. Images are in [0, 1] unless a data range is given."""

from __future__ import annotations

import math

import numpy as np
import torch


def mse(pred, target) -> float:
    return float(torch.mean((torch.as_tensor(pred).float() - torch.as_tensor(target).float()) ** 2))


def psnr_from_mse(m: float, data_range: float = 1.0) -> float:
    """PSNR in dB; infinite for a perfect fit."""
    return math.inf if m <= 0 else 10.0 * math.log10(data_range**2 / m)


def psnr(pred, target, data_range: float = 1.0) -> float:
    """PSNR in dB of `pred` against `target` (same shape), both on a scale of `data_range`."""
    return psnr_from_mse(mse(pred, target), data_range)


def _hwc(x) -> np.ndarray:
    a = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
    if a.ndim == 4:  # (1, C, H, W)
        a = a[0]
    if a.ndim == 3:  # (C, H, W) -> (H, W, C)
        a = np.moveaxis(a, 0, -1)
    return a


def ssim(pred, target, data_range: float = 1.0) -> float:
    """Structural similarity (scikit-image, Gaussian-free 7x7 window) of (C, H, W) or (H, W) images."""
    from skimage.metrics import structural_similarity

    p, t = _hwc(pred), _hwc(target)  # images are at least oinr.data.images.MIN_IMAGE_SIDE (8) pixels a side
    kw = {"channel_axis": -1} if p.ndim == 3 else {}
    return float(structural_similarity(t, np.clip(p, 0, data_range), data_range=data_range, win_size=7, **kw))


def iou(pred, target, threshold: float = 0.5) -> float:
    """Intersection over union of the occupancies ``pred > threshold`` and ``target > threshold``."""
    p = torch.as_tensor(pred) > threshold
    t = torch.as_tensor(target) > threshold
    union = (p | t).sum().item()
    return 1.0 if union == 0 else (p & t).sum().item() / union


def chamfer(mesh_a, mesh_b, points: int = 30000, seed: int = 0) -> float:
    """Symmetric Chamfer distance of two surfaces (trimesh meshes, or None for no surface): the mean of
    the two mean nearest-neighbour distances between `points` samples drawn uniformly on each surface,
    in the meshes' units (`oinr.data.surface.surface` meshes live in the unit cube). Inf if either is empty."""
    import trimesh
    from scipy.spatial import cKDTree

    if mesh_a is None or mesh_b is None or mesh_a.area <= 0 or mesh_b.area <= 0:
        return math.inf
    pa, _ = trimesh.sample.sample_surface(mesh_a, points, seed=seed)  # (points, 3)
    pb, _ = trimesh.sample.sample_surface(mesh_b, points, seed=seed + 1)
    return float(0.5 * (cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean()))
