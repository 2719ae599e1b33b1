"""Separable interpolation of a coarse feature grid, with its exact derivative (the multiscale O-INR's step 2).

A grid of nodes spanning [-1, 1] end to end along each axis (``align_corners=True``) is read at points by
a tensor product of 1-d kernels, each tap weight a polynomial of the point's offset s in its cell:

* ``linear``: 2 taps, the tent kernel (C0: the derivative jumps at every node);
* ``cubic``: 4 taps, Keys' cubic convolution with a = -0.75 (the kernel of PyTorch's bicubic mode):
  interpolating and C1;
* ``bspline``: 4 taps, the uniform cubic B-spline: C2 (a continuous second derivative) and smoothing
  rather than interpolating, which costs nothing here because the node values are learned features.

Taps past the border read the border node (as PyTorch's ``padding_mode='border'``), and points outside
[-1, 1] are clamped onto it (their derivative is 0). Two readings share the kernels:

* `sample_points`: any points ``(P, d)`` (a gather of 2^d or 4^d taps per point);
* `sample_axes`: the tensor-product grid of per-axis coordinates (one small dense matrix per axis, applied
  axis by axis: the cheap path for full grids, shifted grids and renders).
"""

from __future__ import annotations

import itertools
import math

import torch

KINDS = ("linear", "cubic", "bspline")
KEYS_A = -0.75  # Keys' parameter in PyTorch's bicubic mode


def _keys(d: torch.Tensor, a: float = KEYS_A) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys' kernel and its derivative at signed distances `d` (taps within |d| < 2)."""
    t = d.abs()
    inner = ((a + 2) * t - (a + 3)) * t * t + 1
    outer = ((t - 5) * t + 8) * t * a - 4 * a
    w = torch.where(t <= 1, inner, torch.where(t < 2, outer, torch.zeros_like(t)))
    d_inner = (3 * (a + 2) * t - 2 * (a + 3)) * t
    d_outer = a * ((3 * t - 10) * t + 8)
    dw = torch.where(t <= 1, d_inner, torch.where(t < 2, d_outer, torch.zeros_like(t))) * d.sign()
    return w, dw


def _taps(kind: str, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Weights and d/ds ``(P, k)`` of the taps at node offsets first, first + 1, ... from a cell's left node;
    `s` ``(P,)`` the offset in the cell in [0, 1]. Returns (w, dw, first)."""
    s = s[:, None]  # (P, 1)
    if kind == "linear":
        return torch.cat([1 - s, s], 1), torch.cat([-torch.ones_like(s), torch.ones_like(s)], 1), 0
    if kind == "cubic":
        w, dw = _keys(s - torch.arange(-1, 3, device=s.device, dtype=s.dtype))  # distances to nodes -1..2
        return w, dw, -1
    if kind == "bspline":
        r = 1 - s
        w = torch.cat([r**3, (3 * s - 6) * s * s + 4, ((-3 * s + 3) * s + 3) * s + 1, s**3], 1) / 6
        dw = torch.cat([-(r**2), (3 * s - 4) * s, (-3 * s + 2) * s + 1, s * s], 1) / 2
        return w, dw, -1
    raise ValueError(f"interpolation must be one of {', '.join(KINDS)}, got {kind!r}")


def axis_taps(x: torch.Tensor, n: int, kind: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Along one axis of `n` nodes on [-1, 1], the taps of coordinates `x` ``(P,)``: node indices ``(P, k)``
    (long, clamped to the border), weights ``(P, k)`` and their derivatives per unit of x ``(P, k)``."""
    if n < 2:
        raise ValueError(f"an axis needs at least 2 nodes, got {n}")
    scale = (n - 1) / 2.0
    inside = (x >= -1) & (x <= 1)
    pos = ((x.clamp(-1, 1) + 1) * scale).clamp(0, n - 1)  # in node spacings from the first node
    left = pos.floor().clamp(max=n - 2)  # the last node belongs to the last cell (s = 1)
    w, dw, first = _taps(kind, pos - left)
    idx = (left.long()[:, None] + torch.arange(first, first + w.shape[1], device=x.device)).clamp(0, n - 1)
    return idx, w, dw * scale * inside[:, None].to(dw)


def axis_matrix(x: torch.Tensor, n: int, kind: str, derivative: bool = False) -> torch.Tensor:
    """The dense ``(P, n)`` matrix that reads `n` nodes at coordinates `x` ``(P,)`` (or its d/dx)."""
    idx, w, dw = axis_taps(x, n, kind)
    m = torch.zeros(x.shape[0], n, device=x.device, dtype=w.dtype)
    return m.scatter_add_(1, idx, dw if derivative else w)  # border taps that repeat a node add up


def sample_axes(feats: torch.Tensor, axes, kind: str, derivative_axis: int | None = None) -> torch.Tensor:
    """``(C, *grid)`` read on the tensor-product grid of the coordinates ``axes[a]`` ``(P_a,)``:
    ``(C, P_1, ..., P_d)``; with `derivative_axis`, its derivative along that axis (per unit of x)."""
    out = feats
    for a, x in enumerate(axes):  # contract the original axis a, always at position 1 (done axes go last)
        m = axis_matrix(x.to(feats), feats.shape[1 + a], kind, derivative=a == derivative_axis)  # (P_a, n_a)
        out = torch.tensordot(out, m, dims=([1], [1]))  # (C, n_{a+1}, ..., n_d, P_1, ..., P_a)
    return out


def sample_points(feats: torch.Tensor, x: torch.Tensor, kind: str, derivatives: bool = False):
    """``(C, *grid)`` read at points `x` ``(P, d)``: ``(P, C)``; with `derivatives`, also ``(d, P, C)``."""
    dims, grid = x.shape[1], feats.shape[1:]
    taps = [axis_taps(x[:, a], grid[a], kind) for a in range(dims)]  # per axis (P, k) x 3
    k = taps[0][0].shape[1]
    strides = [math.prod(grid[a + 1 :]) for a in range(dims)]
    flat = feats.reshape(feats.shape[0], -1)  # (C, N)
    vals, weights, d_weights = [], [], [[] for _ in range(dims)]
    for combo in itertools.product(range(k), repeat=dims):  # the k^d taps of each point
        vals.append(flat[:, sum(taps[a][0][:, j] * strides[a] for a, j in enumerate(combo))])  # (C, P)
        weights.append(math.prod(taps[a][1][:, j] for a, j in enumerate(combo)))  # (P,)
        for b in range(dims) if derivatives else ():
            d_weights[b].append(math.prod(taps[a][2 if a == b else 1][:, j] for a, j in enumerate(combo)))
    v = torch.stack(vals, -1)  # (C, P, k^d)
    out = (v * torch.stack(weights, -1)).sum(-1).T  # (P, C)
    if not derivatives:
        return out
    return out, torch.stack([(v * torch.stack(dw, -1)).sum(-1).T for dw in d_weights])  # (d, P, C)
