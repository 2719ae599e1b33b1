"""Multiscale O-INR: the conv operator works on a coarse grid, a pointwise operator finishes at full resolution.

The conv O-INR applies every weight at every cell of the signal's grid, so its cost per step is
(cells x parameters): at 128^3 a 3D conv stack is minutes per hundred steps. Here the same operator
is composed of three integral operators, none with a learned per-location table:

1. a conv + sine O-INR (`oinr.models.conv.OINR`) maps the sin/cos encoding of a grid `coarse` times
   coarser than the signal's to C feature channels, ``(1, C, *coarse_shape)``;
2. interpolation to the signal's points: a fixed integral operator whose kernel is the tent function of
   the coarse spacing (d-linear), Keys' cubic or the cubic B-spline (`oinr.models.interp`; both grids span
   [-1, 1] end to end, ``align_corners=True``);
3. a pointwise operator (a Dirac kernel: 1 x 1 convs, i.e. per-point sine layers) on the concatenation
   of the interpolated features and the fine sin/cos encoding of the point, ending in a linear layer.

Steps 2-3 are per point, so the model is evaluated on a whole grid (`forward(grid)`) or on any
subset of its cells (`forward_points`), with the same arithmetic: a 3D fit trains on batches of
voxels near the surface and uniform ones, never materialising the fine grid with gradients. The cost
of a step is (coarse cells x conv parameters) + (points x head parameters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oinr.encoding import (
    axis_coords,
    cell_coords,
    encode_coords,
    encode_grid,
    n_channels,
    nyquist_mask,
    sincos_derivative,
)
from oinr.models.conv import OINR, Sine
from oinr.models.header import header_kwargs
from oinr.models.interp import KINDS, sample_axes, sample_points

_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def coarse_shape(shape: Sequence[int], factor) -> tuple[int, ...]:
    """The coarse grid for a fine grid `shape`: spacing about `factor` fine cells (an int, or one per axis),
    both ends on [-1, 1]."""
    factors = per_axis(factor, len(shape))
    return tuple(max(2, math.ceil((int(n) - 1) / f) + 1) for n, f in zip(shape, factors))


def per_axis(factor, dims: int) -> tuple[int, ...]:
    """A coarse factor as one int per axis (an int serves every axis)."""
    factors = tuple(factor) if isinstance(factor, (tuple, list)) else (factor,) * dims
    if len(factors) != dims or any(int(f) != f or f < 1 for f in factors):
        raise ValueError(f"the coarse factor must be an int >= 1 or {dims} of them, got {factor!r}")
    return tuple(int(f) for f in factors)


class MultiscaleOINR(nn.Module):
    """Coarse conv + sine operator, d-linear interpolation, pointwise sine head on the fine encoding.

    Args:
        out_channels: channels of the signal.
        dims: spatial axes (1, 2 or 3).
        octaves: sin/cos octaves of both encodings (each capped below its own grid's Nyquist rate).
        coarse: fine cells per coarse cell along each axis (1: the coarse grid is the fine one), an int or one
            per axis (a sequence fitted as a volume: one along time, COARSE in the plane).
        widths, kernel_size, omega, first_omega, bias: the coarse conv operator's (see `OINR`; its
            first conv is 1 x 1, see `OINR.first_kernel_size`).
        features: channels the coarse operator hands to the head.
        head_widths: widths of the pointwise sine layers (empty: a linear read-out of the features).
        head_omega: sine frequency of the head's first layer (its later ones use `omega`).
        interp: how the coarse features reach the points: linear (d-linear: the derivative jumps at every
            coarse node), cubic (Keys' cubic, PyTorch's bicubic: C1) or bspline (the cubic B-spline: C2).
        code_channels: extra input channels of both the coarse operator and the head, constant over the grid
            (a per-signal code: `oinr.models.sequence.FrameOINR`); 0 for a single signal.
    """

    def __init__(
        self,
        out_channels: int,
        dims: int = 3,
        octaves: int = 6,
        coarse: int = 4,
        widths: Sequence[int] = (24, 24),
        kernel_size: int = 3,
        features: int = 16,
        head_widths: Sequence[int] = (32,),
        omega: float = 1.0,
        first_omega: float | None = None,
        head_omega: float = 1.0,
        bias: bool = True,
        interp: str = "linear",
        code_channels: int = 0,
    ):
        super().__init__()
        factors = per_axis(coarse, dims)
        if features < 1 or (head_widths and min(head_widths) < 1):
            raise ValueError(f"features and head widths must be positive, got {features}, {tuple(head_widths)}")
        if interp not in KINDS:
            raise ValueError(f"interp must be one of {', '.join(KINDS)}, got {interp!r}")
        self.dims, self.octaves, self.interp = dims, int(octaves), interp
        self.coarse = factors[0] if len(set(factors)) == 1 else factors  # an int where every axis shares it
        self.noise_channels, self.code_channels = 0, int(code_channels)
        n_in = n_channels(dims, octaves) + self.code_channels
        self.operator = OINR(n_in, features, widths, kernel_size, dims, bias=bias, omega=omega, octaves=octaves,
                             first_omega=first_omega, first_kernel_size=1)  # fmt: skip
        sizes = [features + n_in, *head_widths]
        head: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            head += [nn.Linear(a, b), Sine(head_omega if i == 0 else omega)]
        self.head = nn.Sequential(*head)
        self.out = nn.Linear(sizes[-1], out_channels)
        self._sine_init(omega)
        self._coarse_grids: dict = {}
        self.register_buffer("fit_shape", torch.zeros(dims, dtype=torch.long))  # see fit_grid; 0: unset

    @torch.no_grad()
    def _sine_init(self, omega: float):
        for m in self.head:  # drawn for `omega`, as OINR's first conv: head_omega / omega scales the first layer
            if not isinstance(m, nn.Linear):
                continue
            b = math.sqrt(6.0 / m.in_features) / omega
            m.weight.uniform_(-b, b)
            m.bias.uniform_(-b, b)
        b = math.sqrt(6.0 / self.out.in_features)
        self.out.weight.uniform_(-b, b)
        self.out.bias.zero_()

    # ---------------------------------------------------------------------------------------- inputs

    def fit_grid(self, shape=None) -> tuple[int, ...] | None:
        """The grid the function is defined by (the coarse grid and the encoding's Nyquist cap follow from it);
        with `shape`, set it (the fit code does, on the grid it trains on). Kept in the state dict, so the
        fitted model read on any other grid, finer, coarser or shifted, computes the same function. Unset,
        every grid the model is read on defines its own (a model probed before its fit, say)."""
        if shape is not None:
            self.fit_shape.copy_(torch.tensor([int(n) for n in shape]))
        return tuple(int(n) for n in self.fit_shape.tolist()) if int(self.fit_shape[0]) else None

    def _grid(self, shape=None) -> tuple[int, ...]:
        grid = self.fit_grid() or (tuple(int(n) for n in shape) if shape is not None else None)
        if grid is None:
            raise ValueError("no fit grid: set it with fit_grid(shape), or read the model on a grid")
        return grid

    def _mask(self, shape=None) -> torch.Tensor:
        """``(C_in,)``: the fine encoding's channels kept below the fit grid's Nyquist rate."""
        return nyquist_mask(self._grid(shape), self.octaves).to(self.fit_shape.device)

    def make_input(self, shape) -> torch.Tensor:
        """The fine encoding of a grid of `shape` ``(1, C_in, *shape)``, capped at the fit grid's Nyquist rate."""
        dev = next(self.parameters()).device
        enc = encode_grid(tuple(shape), self.octaves, device=dev, nyquist=False)  # (C_in, *shape)
        return (enc * self._mask(shape).view(-1, *[1] * self.dims)).unsqueeze(0)

    def receptive_radius(self) -> int:
        """Fine cells from the border within which the coarse convs' zero padding reaches the signal."""
        c = max(per_axis(self.coarse, self.dims))
        return self.operator.receptive_radius() * c + c

    def coarse_features(self, shape=None) -> torch.Tensor:
        """The coarse operator's output ``(1, features, *coarse_shape(fit grid))`` (without a fit grid: `shape`'s)."""
        cs = coarse_shape(self._grid(shape), self.coarse)
        w = next(self.parameters())
        key = (cs, w.device, w.dtype)
        if key not in self._coarse_grids:  # a fixed function of the fit grid: built once per device and dtype
            self._coarse_grids = {key: encode_grid(cs, self.octaves, device=w.device).unsqueeze(0).to(w.dtype)}
        return self.operator(self._coarse_grids[key])

    def point_encoding(self, idx: torch.Tensor, shape) -> tuple[torch.Tensor, torch.Tensor]:
        """(coordinates ``(P, d)`` in [-1, 1], fine encoding ``(P, C_in)``) of flat cell indices `idx` of `shape`."""
        x = cell_coords(idx, shape)  # (P, d)
        return x, encode_coords(x, self.octaves) * self._mask(shape).to(x)  # capped as make_input

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the fit grid was kept: unset, each grid defines its own, as then
        state_dict.setdefault(prefix + "fit_shape", torch.zeros(self.dims, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # --------------------------------------------------------------------------------------- forward

    def _read_out(self, feats: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        """The pointwise operator: ``(P, features)``, ``(P, C_in)`` -> ``(P, out_channels)``."""
        return self.out(self.head(torch.cat([feats, enc], dim=-1)))

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """The fine encoding grid ``(1, C_in, *shape)`` -> the signal ``(1, C_out, *shape)``."""
        if grid.ndim == self.dims + 1:
            grid = grid.unsqueeze(0)
        if grid.ndim != self.dims + 2 or grid.shape[0] != 1:
            raise ValueError(f"expected a (1, C, *{self.dims} spatial) grid, got shape {tuple(grid.shape)}")
        shape = tuple(grid.shape[2:])
        coarse = self.coarse_features(shape)  # (1, F, *coarse)
        if self.interp == "linear":
            up = F.interpolate(coarse, size=shape, mode=_MODE[self.dims], align_corners=True)  # (1, F, *shape)
        else:  # (the interpolant of the fit grid's coarse features, read at the points of this grid)
            up = sample_axes(coarse[0], [axis_coords(n, coarse.device) for n in shape], self.interp)[None]
        feats = up.flatten(2)[0].T  # (P, features), P = prod(shape), row-major
        out = self._read_out(feats, grid.flatten(2)[0].T)  # (P, C_out)
        return out.T.reshape(1, -1, *shape)  # (1, C_out, *shape)

    def forward_points(self, idx: torch.Tensor, shape, feats: torch.Tensor | None = None) -> torch.Tensor:
        """The signal at flat cell indices `idx` ``(P,)`` of the grid `shape`: ``(P, C_out)``.

        Equal to ``forward(make_input(shape)).flatten(2)[0].T[idx]`` to float rounding; only the coarse
        grid is evaluated whole. `feats` (from `coarse_features(shape)`) saves recomputing it.
        """
        shape = tuple(int(s) for s in shape)
        x, enc = self.point_encoding(idx, shape)
        return self._at(x, enc, self.coarse_features(shape) if feats is None else feats)

    def forward_coords(self, x: torch.Tensor, feats: torch.Tensor | None = None) -> torch.Tensor:
        """The signal at points `x` ``(..., d)`` of [-1, 1]^d (any points: a finer grid, a shifted one, a
        scatter): ``(..., C_out)``. Points outside the domain read the border's coarse features."""
        lead = x.shape[:-1]
        x = x.reshape(-1, self.dims)  # (P, d)
        out = self._at(x, encode_coords(x, self.octaves) * self._mask().to(x), feats)  # (P, C_out)
        return out.reshape(*lead, -1)

    def forward_coords_derivatives(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The signal at points `x` ``(P, d)`` and its derivatives d/dx_a, in one forward-mode pass:
        ``(P, C_out)``, ``(d, P, C_out)`` per unit of [-1, 1].

        The coarse features do not move with x; their interpolant's derivative is exact (`oinr.models.interp`:
        the kernels' derivatives; for the d-linear interpolant, on a coarse node, where it has a kink, the mean
        of the two cells': the symmetric derivative), the fine encoding's is analytic, and both tangents go
        through the head by forward mode (`_read_out_tangents`).
        """
        feats = self.coarse_features()  # (1, F, *coarse)
        enc = encode_coords(x, self.octaves) * self._mask().to(x)  # (P, C_in)
        if self.interp != "linear":
            sampled, d_feats = sample_points(feats[0], x, self.interp, derivatives=True)  # (P, F), (d, P, F)
            return self._read_out_tangents(sampled, d_feats, enc)
        grid = feats.shape[2:]
        tangents = []
        for a in range(self.dims):
            n = grid[a]
            diff = feats.diff(dim=2 + a) * ((n - 1) / 2.0)  # (1, F, ..., n - 1, ...): per unit of x
            pos = ((x[:, a] + 1) * (n - 1) / 2 * 1e4).round() / 1e4  # in coarse cells, float error removed
            d_feats = 0
            for cell in (pos.ceil() - 1, pos.floor()):  # the same cell inside one; both sides on a node (their mean)
                at = x.clone()
                at[:, a] = -1 + 2 * cell.clamp(0, max(n - 2, 0)) / max(n - 2, 1)  # the cell in diff's coordinates
                d_feats = d_feats + self._sample(diff, at) / 2  # (P, F)
            tangents.append(d_feats)
        return self._read_out_tangents(self._sample(feats, x), torch.stack(tangents), enc)

    def _read_out_tangents(self, feats: torch.Tensor, d_feats: torch.Tensor, enc: torch.Tensor):
        """The pointwise operator and its forward mode: features ``(P, F)`` and their derivatives ``(d, P, F)``,
        the fine encoding ``(P, C_in)`` -> ``(P, C_out)``, ``(d, P, C_out)``."""
        n_f, band = feats.shape[1], 2 * self.octaves  # features; sin/cos channels of one axis
        u = torch.cat([feats, enc], -1)  # (P, F + C_in)
        du = None
        for m in [*self.head, self.out]:  # forward mode, all axes at once: Linear z' = W u'; (sin w z)' = w cos(w z) z'
            if du is None:  # the first linear map: axis a's tangent of the encoding lives on a's channels only
                w = m.weight  # (out, F + C_in)
                du = d_feats @ w[:, :n_f].T  # (d, P, out)
                for a in range(self.dims):
                    ch = slice(a * band, (a + 1) * band)  # axis a's channels of the encoding
                    du[a] += sincos_derivative(enc[:, ch], self.octaves, 0) @ w[:, n_f:][:, ch].T
                u = m(u)
            elif isinstance(m, nn.Linear):
                u, du = m(u), du @ m.weight.T
            else:
                du = m.omega * torch.cos(m.omega * u) * du
                u = m(u)
        return u, du

    def forward_axes(self, axes, derivatives: bool = False):
        """The signal on the tensor-product grid of per-axis coordinates ``axes[a]`` ``(P_a,)`` (a finer grid,
        a shifted one): ``(1, C_out, P_1, ..., P_d)``; with `derivatives`, also ``(d, C_out, P_1, ..., P_d)`` per
        unit of [-1, 1]. The same function as `forward_coords` on those points; the interpolation runs axis by
        axis (`oinr.models.interp.sample_axes`), the cheap path for whole grids."""
        shape = tuple(len(x) for x in axes)
        axes = [x.to(self.out.weight) for x in axes]
        x = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.dims)  # (P, d)
        if derivatives and self.interp == "linear":  # its symmetric derivative on the nodes: the point path
            return _on_grid(*self.forward_coords_derivatives(x), shape=shape)
        feats = self.coarse_features(shape)  # (1, F, *coarse); without a fit grid, this grid defines it
        enc = encode_coords(x, self.octaves) * self._mask(shape).to(x)  # (P, C_in)
        if self.interp == "linear":
            return _on_grid(self._read_out(self._sample(feats, x), enc), shape=shape)
        sampled = sample_axes(feats[0], axes, self.interp).flatten(1).T  # (P, F)
        if not derivatives:
            return _on_grid(self._read_out(sampled, enc), shape=shape)
        d_feats = torch.stack([sample_axes(feats[0], axes, self.interp, a).flatten(1).T for a in range(self.dims)])
        return _on_grid(*self._read_out_tangents(sampled, d_feats, enc), shape=shape)

    def _sample(self, feats: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(1, C, *grid)`` read at points `x` ``(P, d)`` of [-1, 1]^d: ``(P, C)``."""
        if self.interp != "linear":
            return sample_points(feats[0], x, self.interp)
        # grid_sample wants (x_last, ..., x_first) and a (1, P, 1[, 1], d) grid; (1, C, P, 1[, 1]) back
        where = x.flip(-1).view(1, -1, *[1] * (self.dims - 1), self.dims)
        if self.dims == 1:  # grid_sample has no 1-d mode: a 2-d sample on a height-1 image
            feats, where = feats.unsqueeze(-2), torch.cat([where, torch.zeros_like(where)], -1).unsqueeze(2)
        sampled = F.grid_sample(feats, where, mode="bilinear", padding_mode="border", align_corners=True)
        return sampled.reshape(feats.shape[1], -1).T

    def _at(self, x: torch.Tensor, enc: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        feats = self.coarse_features() if feats is None else feats
        return self._read_out(self._sample(feats, x), enc)


def _on_grid(out: torch.Tensor, d: torch.Tensor | None = None, *, shape):
    """Per-point ``(P, C)`` (and ``(d, P, C)``) as grids ``(1, C, *shape)`` (and ``(d, C, *shape)``)."""
    grid = out.T.reshape(1, -1, *shape)
    return grid if d is None else (grid, d.transpose(1, 2).reshape(d.shape[0], -1, *shape))


SETTINGS = {  # header name: default (see 2dimage/train.py for what each does)
    "OCTAVES": 6,
    "COARSE": 4,
    "WIDTHS": (24, 24),
    "KERNEL": 3,
    "FEATURES": 16,
    "HEAD_WIDTHS": (32,),
    "OMEGA": 1.0,
    "FIRST_OMEGA": None,
    "HEAD_OMEGA": 1.0,
    "BIAS": True,
    "INTERP": "linear",
}


def build_from_header(cfg: dict, dims: int, out_channels: int) -> MultiscaleOINR:
    return MultiscaleOINR(out_channels, dims, **header_kwargs(cfg, SETTINGS, {"KERNEL": "kernel_size"}))
