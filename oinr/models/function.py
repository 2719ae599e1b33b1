"""A fitted model as a function of the coordinates: its signal on any grid of [-1, 1]^d.

Every model is fitted on one grid (its fit grid). Evaluated on another grid it must compute the same
function, with the encoding it was trained with:

* point models (the MLP INRs, the hash grid, the multiscale O-INR) evaluate the points directly;
* the continuous O-INR has its kernels in domain units and reads the grid it is given (its kernels are
  resampled per grid, so it is one function only as far as its training at several sizes made it one:
  2dimage/continuous.py measures that);
* the conv O-INR has its kernels in pixels of the fit grid: its value at a point x is the network applied
  to the fit-spacing encoding grid translated so that one of its nodes falls on x. A grid whose points
  sit at k fractional offsets per axis from the fit grid's nodes (an integer factor k: k offsets) takes
  k^d such passes, interleaved;
* the CZ operator is sized by its grid (its coarsest level is dense over it): only its fit grid.
"""

from __future__ import annotations

import itertools
import math

import torch

from oinr.encoding import axis_coords, encode_coords, grid_axes, grid_points, nyquist_mask
from oinr.models.conv import OINR

MAX_PASSES = 256  # shifted passes the conv O-INR may take for one grid


def set_fit_grid(model: torch.nn.Module, shape) -> None:
    """Tell a model whose function is defined by its fit grid (the multiscale O-INR) which grid that is."""
    if hasattr(model, "fit_grid"):
        model.fit_grid(tuple(int(n) for n in shape))


@torch.no_grad()
def render_grid(model: torch.nn.Module, shape, fit_shape, chunk: int = 1 << 16) -> torch.Tensor:
    """The raw output ``(1, C_out, *shape)`` of a model fitted on `fit_shape`, on a grid of `shape`.

    A grid the model cannot evaluate as the same function is a ValueError that says why.
    """
    shape, fit_shape = tuple(int(n) for n in shape), tuple(int(n) for n in fit_shape)
    if len(shape) != len(fit_shape) or min(shape) < 1:
        raise ValueError(f"a grid of {len(fit_shape)} positive sizes is needed, got {shape}")
    if shape == fit_shape:
        return model(model.make_input(shape))
    if getattr(model, "grid_bound", False):
        raise ValueError(f"the {type(model).__name__} is sized by its fit grid {fit_shape}; it renders only there")
    dev = next(model.parameters()).device
    if hasattr(model, "forward_axes"):  # a tensor-product grid, in slabs of the first axis
        axes = grid_axes(shape, dev)
        rows = max(1, chunk // max(1, math.prod(shape[1:])))
        return torch.cat([model.forward_axes([axes[0][i : i + rows], *axes[1:]]) for i in range(0, shape[0], rows)], 2)
    if hasattr(model, "forward_coords"):
        x = grid_points(shape).reshape(-1, len(shape))  # (P, d)
        out = torch.cat([model.forward_coords(x[i : i + chunk].to(dev)) for i in range(0, len(x), chunk)])
        return out.T.reshape(1, -1, *shape)  # (P, C) -> (1, C, *shape)
    if isinstance(model, OINR) and type(model) is OINR:
        return shifted_passes(model, shape, fit_shape)
    return model(model.make_input(shape))


def _offsets(n_fit: int, n: int) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """Along one axis: (offset from the nearest fit node, target indices, their nodes) per distinct offset."""
    x = axis_coords(n, dtype=torch.float64)
    h = 2.0 / max(n_fit - 1, 1)
    t = ((x + 1) / h).mul(1e9).round().div(1e9)  # in fit cells, float error removed
    node = (t + 0.5).floor().clamp(0, n_fit - 1).long() if n_fit > 1 else torch.zeros(n, dtype=torch.long)  # ties up
    delta = (x - (-1 + node.double() * h)).mul(1e9).round().div(1e9)  # merges offsets equal up to float error
    return [(float(d), (delta == d).nonzero()[:, 0], node[delta == d]) for d in torch.unique(delta)]


def shifted_passes(model: OINR, shape, fit_shape) -> torch.Tensor:
    """The conv O-INR on a grid of `shape`: one pass per combination of per-axis offsets, interleaved."""
    per_axis = [_offsets(f, n) for f, n in zip(fit_shape, shape)]
    passes = math.prod(len(a) for a in per_axis)
    if passes > MAX_PASSES:
        raise ValueError(f"a {shape} grid needs {passes} shifted passes of the conv O-INR fitted on {fit_shape}; "
                         f"pick sizes (n - 1) * k + 1 (k an integer) so that it needs k^d")  # fmt: skip
    out = None
    for combo in itertools.product(*per_axis):
        y = shifted(model, fit_shape, [d for d, _, _ in combo])  # (1, C, *fit)
        if out is None:
            out = y.new_zeros(1, y.shape[1], *shape)
        dst = torch.meshgrid(*[t.to(y.device) for _, t, _ in combo], indexing="ij")
        src = torch.meshgrid(*[nd.to(y.device) for _, _, nd in combo], indexing="ij")
        out[(slice(None), slice(None), *dst)] = y[(slice(None), slice(None), *src)]
    return out


def render_bytes(model: torch.nn.Module, shape) -> int:
    """About the memory a `render_grid` of `shape` takes: point models work in chunks (coordinates and the
    output per cell); grid models hold a few maps of their widest layer over the grid."""
    cells = math.prod(int(n) for n in shape)
    if hasattr(model, "forward_coords"):
        return cells * 4 * 16
    widest = max((int(getattr(m, "out_channels", 0)) for m in model.modules()), default=0) or 64
    return cells * 4 * (3 * widest + 8)


def shifted(model: torch.nn.Module, fit_shape, delta) -> torch.Tensor:
    """The raw output ``(1, C_out, *fit_shape)`` at the fit grid's nodes moved by `delta` (per axis, in [-1, 1]
    units): a point model reads the moved points, the conv O-INR its moved encoding grid (its definition of
    the function between nodes). Differentiable in the weights: the sub-pixel training of `oinr.fit.image`."""
    fit_shape = tuple(int(n) for n in fit_shape)
    dev = next(model.parameters()).device
    if hasattr(model, "forward_axes"):
        return model.forward_axes(grid_axes(fit_shape, dev, delta))
    x = grid_points(fit_shape, dev, delta)  # (*fit, d)
    if hasattr(model, "forward_coords"):
        return model.forward_coords(x.reshape(-1, len(fit_shape))).T.reshape(1, -1, *fit_shape)
    if not (isinstance(model, OINR) and type(model) is OINR):
        raise ValueError(f"{type(model).__name__} cannot be read off its grid's nodes")
    grid = model.make_input(fit_shape).clone()
    sc = 2 * model.octaves * len(fit_shape)
    grid[0, :sc] = (encode_coords(x, model.octaves) * nyquist_mask(fit_shape, model.octaves).to(dev)).movedim(-1, 0)
    return model(grid)
