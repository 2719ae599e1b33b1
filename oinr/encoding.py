"""Positional-encoding grids: the input *function* that an O-INR operator maps to a signal.

For a grid of shape ``(n_0, ..., n_{d-1})`` in tensor order ((H, W) for images, (D, H, W) for
volumes) every axis is sampled at ``x = linspace(-1, 1, n)`` (both ends included, so a grid of any
size covers the same domain [-1, 1]^d). With ``L`` octaves the encoding has ``2 * L * d`` channels,
laid out axis-major, then octave, then sin/cos:

    channel  a * 2L + 2l     = sin(2^l * pi * x_a)
    channel  a * 2L + 2l + 1 = cos(2^l * pi * x_a)          a = 0..d-1, l = 0..L-1

followed by ``noise_channels`` channels of standard Gaussian noise (fixed by ``seed``). An optional
per-signal offset gamma is added to every sin/cos channel (the sequence experiments use
gamma_n = alpha + (beta - alpha) * n / N to tell frames apart).

Octaves at or above an axis's Nyquist rate alias to lower frequencies on that grid (sampled, sin(2^l pi x)
is indistinguishable from a lower octave's pattern). `encode_grid` therefore caps the octaves per axis:
on an axis of n samples only the first `max_octaves(n)` octaves carry their sin/cos, the channels of the
higher ones are zero (the channel count stays 2 * L * d, so one model reads grids of every size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def n_channels(n_axes: int, octaves: int, noise_channels: int = 0) -> int:
    """Number of channels of `encode_grid` for this configuration."""
    return 2 * octaves * n_axes + noise_channels


def max_octaves(n: int) -> int:
    """Largest octave count whose top frequency 2^(L-1)*pi stays below Nyquist on n samples of [-1, 1]."""
    # sample spacing is 2/(n-1), Nyquist angular frequency pi*(n-1)/2; need 2^(L-1) < (n-1)/2
    return max(1, math.ceil(math.log2(max(n - 1, 2) / 2)))


def nyquist_mask(shape: Sequence[int], octaves: int) -> torch.Tensor:
    """``(2Ld,)`` 1 for the sin/cos channels `encode_grid` keeps on a grid of `shape`, 0 for the octaves it zeroes
    (for encodings built with `encode_coords` at points of that grid)."""
    keep = [[float(o < max_octaves(n)) for o in range(octaves) for _ in (0, 1)] for n in shape]  # axis-major
    return torch.tensor(keep).flatten()


def axis_coords(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The n sample positions of one axis in [-1, 1] (both ends included)."""
    return torch.linspace(-1.0, 1.0, n, device=device, dtype=dtype)


def grid_axes(shape: Sequence[int], device=None, offset: Sequence[float] | None = None) -> list[torch.Tensor]:
    """The per-axis coordinates ``(n_a,)`` of a grid of `shape` on [-1, 1]^d (`axis_coords`), every axis moved
    by ``offset[a]`` when given (a grid shifted between its nodes)."""
    offset = offset or [0.0] * len(shape)
    return [axis_coords(int(n), device) + float(o) for n, o in zip(shape, offset)]


def grid_points(shape: Sequence[int], device=None, offset: Sequence[float] | None = None) -> torch.Tensor:
    """The points ``(*shape, d)`` of the grid `grid_axes` describes: their tensor product."""
    return torch.stack(torch.meshgrid(*grid_axes(shape, device, offset), indexing="ij"), -1)


def cell_coords(idx: torch.Tensor, shape: Sequence[int], dtype=torch.float32) -> torch.Tensor:
    """Positions ``(P, d)`` in [-1, 1] of the flat (row-major) cell indices `idx` ``(P,)`` of a grid of `shape`.

    The same positions as `axis_coords` on each axis, for models evaluated at a subset of a grid's cells.
    """
    coords, rest = [], idx
    for n in reversed(tuple(shape)):  # row-major: the last axis varies fastest
        coords.append(rest % n)
        rest = rest // n
    # a size-1 axis has its one sample at -1, as torch.linspace(-1, 1, 1) in `axis_coords`
    axes = [c.to(dtype) * (2.0 / (n - 1) if n > 1 else 0.0) - 1.0 for c, n in zip(reversed(coords), shape)]
    return torch.stack(axes, dim=-1)  # (P, d)


def _offsets(offset, device, dtype) -> torch.Tensor | None:
    if offset is None:
        return None
    return torch.as_tensor(offset, device=device, dtype=dtype).reshape(-1)


def encode_coords(coords: torch.Tensor, octaves: int) -> torch.Tensor:
    """The sin/cos channels (no noise, no offset) at arbitrary points: ``(..., d)`` -> ``(..., 2*L*d)``.

    Same channel layout as `encode_grid`; differentiable in `coords` (used to check the analytic
    derivative against autograd, and to encode scattered points).
    """
    freqs = (2.0 ** torch.arange(octaves, device=coords.device, dtype=coords.dtype)) * math.pi  # (L,)
    arg = coords[..., :, None] * freqs  # (..., d, L)
    sc = torch.stack([torch.sin(arg), torch.cos(arg)], dim=-1)  # (..., d, L, 2)
    return sc.flatten(-3)  # (..., d*L*2)


def encode_grid(
    shape: Sequence[int],
    octaves: int,
    *,
    noise_channels: int = 0,
    offset=None,
    seed: int = 0,
    device=None,
    dtype=torch.float32,
    nyquist: bool = True,
) -> torch.Tensor:
    """The sin/cos encoding of a grid of `shape`.

    With `nyquist` (the default) the octaves of each axis are capped at `max_octaves(n)`: the channels
    of higher octaves are zero (see the module docstring).

    Returns ``(C, *shape)``, or ``(N, C, *shape)`` when `offset` is a sequence/tensor of N per-signal
    offsets (a scalar offset keeps the unbatched shape). C = `n_channels(len(shape), octaves,
    noise_channels)`.
    """
    shape = tuple(int(s) for s in shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"grid shape must be non-empty with positive sizes, got {shape}")
    if octaves < 1:
        raise ValueError(f"octaves must be >= 1, got {octaves}")
    freqs = (2.0 ** torch.arange(octaves, device=device, dtype=dtype)) * math.pi  # (L,)
    chans = []
    for a, n in enumerate(shape):
        x = axis_coords(n, device, dtype)  # (n,)
        arg = freqs[:, None] * x[None, :]  # (L, n)
        sc = torch.stack([torch.sin(arg), torch.cos(arg)], dim=1).reshape(2 * octaves, n)  # (2L, n)
        if nyquist:
            sc[2 * max_octaves(n) :] = 0.0  # octaves at or above this axis's Nyquist rate would alias
        view = [2 * octaves] + [1] * len(shape)
        view[1 + a] = n
        chans.append(sc.reshape(view).expand(2 * octaves, *shape))  # (2L, *shape)
    enc = torch.cat(chans, dim=0)  # (2L*d, *shape)
    offs = _offsets(offset, device, dtype)
    if offs is not None:
        scalar = torch.as_tensor(offset).ndim == 0
        enc = enc.unsqueeze(0) + offs.view(-1, *[1] * (enc.ndim))  # (N, 2L*d, *shape)
        if scalar:
            enc = enc[0]
    if noise_channels:
        g = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.randn((noise_channels, *shape), generator=g, dtype=dtype).to(device)
        if enc.ndim == len(shape) + 2:  # batched: the same noise for every signal
            noise = noise.unsqueeze(0).expand(enc.shape[0], *noise.shape)
        enc = torch.cat([enc, noise], dim=-len(shape) - 1)
    return enc.contiguous()


def encode_grid_derivative(
    shape: Sequence[int],
    octaves: int,
    axis: int,
    *,
    noise_channels: int = 0,
    device=None,
    dtype=torch.float32,
    nyquist: bool = True,
) -> torch.Tensor:
    """Analytic d/dx_axis of `encode_grid(shape, octaves, ...)`, shape ``(C, *shape)``.

    d sin(w x)/dx = w cos(w x), d cos(w x)/dx = -w sin(w x) on the channels of `axis`; every other
    channel (other axes, noise, the constant offset) has zero derivative. Units: per unit of x in [-1, 1].
    """
    shape = tuple(int(s) for s in shape)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} out of range for a {len(shape)}-d grid")
    axis %= len(shape)
    enc = encode_grid(shape, octaves, device=device, dtype=dtype, nyquist=nyquist)  # (2L*d, *shape), capped alike
    out = torch.zeros((n_channels(len(shape), octaves, noise_channels), *shape), device=device, dtype=dtype)
    out[: enc.shape[0]] = sincos_derivative(enc, octaves, axis, dim=0)
    return out


def sincos_derivative(enc: torch.Tensor, octaves: int, axis: int, dim: int = -1) -> torch.Tensor:
    """d/dx_axis of sin/cos channels `enc` (laid out as `encode_grid`'s along `dim`): d sin(w x) = w cos(w x),
    d cos(w x) = -w sin(w x) on the channels of `axis`, zero on the others. Works on capped channels too."""
    e = enc.movedim(dim, -1)  # (..., 2Ld)
    freqs = (2.0 ** torch.arange(octaves, device=enc.device, dtype=enc.dtype)) * math.pi  # (L,)
    out = torch.zeros_like(e)
    lo = axis * 2 * octaves
    out[..., lo : lo + 2 * octaves : 2] = freqs * e[..., lo + 1 : lo + 2 * octaves : 2]  # w cos
    out[..., lo + 1 : lo + 2 * octaves : 2] = -freqs * e[..., lo : lo + 2 * octaves : 2]  # -w sin
    return out.movedim(-1, dim)


def to_unit(y: torch.Tensor) -> torch.Tensor:
    """A network's output in [-1, 1] (the targets' range in training) as a signal in [0, 1], clipped."""
    return ((y + 1) / 2).clamp(0, 1)
