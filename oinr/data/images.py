"""Loading and validating input signals, with one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oinr.errors import UserError
from oinr.paths import resolve_path

MIN_IMAGE_SIDE = 8  # smaller images cannot carry a 3x3 conv stack meaningfully


def check_file(path, what: str, hint: str = "a file") -> Path:
    """The resolved path of an existing, non-empty file, or a UserError naming `what` was wrong."""
    path = resolve_path(path)
    if not path.exists():
        raise UserError(f"{what} {path} not found; pass --data=<{hint}>")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; pass --data=<path to a file>")
    if path.stat().st_size == 0:
        raise UserError(f"{what} {path} is empty (0 bytes)")
    return path


def _to_unit(a: np.ndarray) -> np.ndarray:
    """Integer images to [0, 1] by their dtype's range; float images clipped to [0, 1] (or scaled by max)."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise UserError("the image holds NaN or infinite values")
    hi = float(a.max()) if a.size else 0.0
    return np.clip(a / hi if hi > 1.0 else a, 0.0, 1.0)


def load_image(path, size=0, gray: bool = False, verbose: bool = True) -> torch.Tensor:
    """Read an image (PNG, JPEG, TIFF, ...; 8/16 bit; gray, RGB or RGBA) as a float ``(C, H, W)`` in [0, 1].

    Alpha is dropped with a note. ``size``: 0 keeps the native size, an int caps the longer side (a
    larger image is scaled down to it, aspect kept; a smaller one is kept native), an ``(H, W)`` pair
    resizes exactly. ``gray`` converts colour to luminance.
    """
    import imageio.v3 as iio

    path = check_file(path, "image", "a PNG, JPEG or TIFF image")
    try:
        a = np.asarray(iio.imread(path, index=0))
    except Exception:  # noqa: BLE001 - any reader failure is 'not an image' for the user
        raise UserError(f"{path} is not a readable image (PNG, JPEG, TIFF, BMP ...)") from None
    if a.ndim == 3 and a.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"{path}: unexpected image layout {a.shape}; expected (H, W) or (H, W, 1-4 channels)")
    if a.ndim not in (2, 3):
        raise UserError(f"{path}: expected a 2D image, got an array of shape {a.shape}")
    a = _to_unit(a)
    if a.ndim == 2:
        a = a[..., None]  # (H, W, 1)
    if a.shape[-1] in (2, 4):
        if verbose:
            print(f"note: {path.name} has an alpha channel; it is dropped")
        a = a[..., :-1]
    if gray and a.shape[-1] == 3:
        a = (a @ np.array([0.2125, 0.7154, 0.0721], np.float32))[..., None]
    h, w = a.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise UserError(f"{path} is {h}x{w} pixels; at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} is needed")
    target = target_size((h, w), size)
    if target != (h, w):
        from skimage.transform import resize

        a = resize(a, (*target, a.shape[-1]), anti_aliasing=target[0] < h, order=1).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, 0)))  # (C, H, W)


def target_size(hw: tuple[int, int], size, upscale: bool = False) -> tuple[int, int]:
    """Resolve a SIZE setting against an image's (H, W): 0 keeps it; an int N scales the longer side down to
    N (aspect kept) when it is longer, and never up unless `upscale`; an (H, W) pair is exact (resampling
    either way, as asked)."""
    h, w = hw
    if isinstance(size, (tuple, list)):
        if len(size) != 2 or min(size) < MIN_IMAGE_SIDE:
            raise UserError(f"--size must be an int or (H, W) with sides >= {MIN_IMAGE_SIDE}, got {size}")
        return int(size[0]), int(size[1])
    size = int(size)
    if size == 0:
        return h, w
    if size < MIN_IMAGE_SIDE:
        raise UserError(f"--size must be 0 (native) or >= {MIN_IMAGE_SIDE}, got {size}")
    if max(h, w) <= size and not upscale:
        return h, w  # a smaller image is fitted at its native size
    scale = size / max(h, w)
    return max(MIN_IMAGE_SIDE, round(h * scale)), max(MIN_IMAGE_SIDE, round(w * scale))


def save_image(path: Path, img: torch.Tensor) -> None:
    """Write a (C, H, W) image in [0, 1] as an 8-bit PNG."""
    import imageio.v3 as iio

    a = img.detach().cpu().clamp(0, 1).numpy()
    a = np.moveaxis(a, 0, -1)
    a = a[..., 0] if a.shape[-1] == 1 else a
    iio.imwrite(path, (a * 255 + 0.5).astype(np.uint8))


def resize_aligned(img: torch.Tensor, hw) -> torch.Tensor:
    """(C, H, W) in [0, 1] -> (C, h, w) by bicubic with corners aligned (sample i of n at -1 + 2i/(n-1), the
    grid every model reads), anti-aliased when it shrinks an axis; clipped to [0, 1]."""
    import torch.nn.functional as F

    down = hw[0] < img.shape[1] or hw[1] < img.shape[2]
    out = F.interpolate(img[None], size=tuple(hw), mode="bicubic", align_corners=True, antialias=down)
    return out[0].clamp(0, 1)  # (C, h, w)


def upsample_band_limited(img: torch.Tensor, factor: int) -> torch.Tensor:
    """(C, H, W) -> (C, (H - 1) f + 1, (W - 1) f + 1): the band-limited interpolant of the samples (the mirror-
    symmetric extension's Fourier series, i.e. a DCT-I zero-padded f times), on the same [-1, 1] extent.

    The smoothest function through the samples in the Fourier sense: what a representation that adds no
    frequency above the grid's Nyquist rate reads between them. Not clipped.
    """
    out = img.double()
    for dim in (-2, -1):
        out = _upsample_axis(out, int(factor), dim)
    return out.to(img.dtype)


def _upsample_axis(x: torch.Tensor, f: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    if n < 2 or f == 1:  # one sample: (n - 1) f + 1 = 1
        return x
    sym = torch.cat([x, x.flip(dim).narrow(dim, 1, n - 2)], dim)  # period P = 2 (n - 1), even and continuous
    p, q = 2 * (n - 1), 2 * (n - 1) * f
    spec = torch.fft.fft(sym, dim=dim)
    spec = spec.movedim(dim, -1)
    pad = spec.new_zeros(*spec.shape[:-1], q)
    h = n - 1  # the Nyquist bin of the period: split between +h and -h
    pad[..., :h] = spec[..., :h]
    pad[..., q - h + 1 :] = spec[..., p - h + 1 :]
    pad[..., h] = spec[..., h] / 2
    pad[..., q - h] = spec[..., h] / 2
    y = torch.fft.ifft(pad, dim=-1).real * (q / p)  # (..., q)
    return y[..., : (n - 1) * f + 1].movedim(-1, dim)
