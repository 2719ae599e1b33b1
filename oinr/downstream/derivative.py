"""Derivatives of a represented signal: O-INR's in one forward pass, an MLP INR's by autograd, the data's by filters.

O-INR (Pal et al., "Implicit Representations via Operator Learning", ICML 2024, Sec. on derivatives):
the network maps the encoding grid f to the signal, h = N[f], and convolution commutes with
differentiation, so d/dx_a of the represented signal is the directional derivative of N at f along
the analytic derivative of the encoding, df/dx_a (`oinr.encoding.encode_grid_derivative`). Forward
mode gives it together with h in one pass:

* ``method='chain'`` (`oinr.models.conv.OINR`): layer by layer, conv(dz) (a conv without bias is linear;
  its padding is linear too) and d sin(w z) = w cos(w z) dz, with the primal and every tangent stacked
  on the batch axis so each conv is one call;
* ``method='jvp'`` (any operator whose input is `encode_grid`, e.g. the continuous O-INR):
  ``torch.func.jvp`` once per axis.

What "derivative" means for an operator on a grid: the signal at p under a shift of every coordinate
by delta, i.e. the network evaluated on the shifted encoding; `shift_autograd` computes the same
thing by reverse-mode autograd through `oinr.encoding.encode_coords` (the check). Near the border the
fixed zero padding does not shift with the content, so comparisons use an interior crop.

Units: per unit of the [-1, 1] coordinate; `per_pixel(d, shape)` rescales to per grid step (the unit
of Sobel and central differences). Derivatives are stacked in tensor-axis order: index 0 is d/d(row),
i.e. down the image (y), index 1 is d/d(column), i.e. across it (x).
"""

from __future__ import annotations

import torch
from torch import nn

from oinr.encoding import encode_coords, encode_grid_derivative, grid_axes, grid_points, nyquist_mask
from oinr.models.conv import OINR, Sine


def per_pixel(d: torch.Tensor, shape) -> torch.Tensor:
    """``(A, ..., *shape)`` derivatives per unit of [-1, 1] -> per grid step (the spacing is 2 / (n - 1))."""
    scale = torch.tensor([2.0 / max(int(n) - 1, 1) for n in shape], dtype=d.dtype, device=d.device)
    return d * scale.view(-1, *[1] * (d.ndim - 1))


def encoding_tangents(model: nn.Module, shape, axes) -> torch.Tensor:
    """``(A, C_in, *shape)``: d/dx_a of the model's encoding grid for each axis a in `axes`."""
    dev = next(model.parameters()).device
    noise = getattr(model, "noise_channels", 0)
    return torch.stack([encode_grid_derivative(shape, model.octaves, a, noise_channels=noise, device=dev)
                        for a in axes])  # fmt: skip


_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}  # (B, C, H, W) and (B, C, D, H, W)


def _chain(model: OINR, grid: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor:
    """Primal and tangents through conv/sine layers; ``(1 + A, C, *s)`` in, ``(1 + A, C_out, *s)`` out.

    Without autograd the sine step works in place on the conv's fresh output (no allocation beyond the
    convs'). The stack runs channels-last (2D/3D): on a CPU a batched conv in that layout costs well
    under its batch size times a batch-1 conv in the default layout (bench/derivative.py).
    """
    inplace = not torch.is_grad_enabled()
    x = torch.cat([grid, tangents], dim=0)  # (1 + A, C_in, *s): row 0 the primal, the rest tangents
    x = x.contiguous(memory_format=_LAST.get(x.ndim, torch.contiguous_format))
    for m in [*model.body, model.last]:
        if isinstance(m, Sine):
            if inplace:
                z = x[:1].mul_(m.omega)  # (1, C, *s) view of x
                slope = torch.cos(z).mul_(m.omega)  # d sin(w z) / dz
                z.sin_()
                x[1:].mul_(slope)
            else:
                z = m.omega * x[:1]  # (1, C, *s)
                x = torch.cat([torch.sin(z), (m.omega * torch.cos(z)) * x[1:]], dim=0)
        elif isinstance(m, nn.modules.conv._ConvNd):
            x = m(x)  # one call for the primal and every tangent
            if m.bias is not None:  # the bias belongs to the primal only
                x = torch.cat([x[:1], x[1:] - m.bias.view(1, -1, *[1] * (x.ndim - 2))], dim=0)
        else:
            raise TypeError(f"method='chain' does not know layer {m.__class__.__name__}; use method='jvp'")
    return x


def operator_derivatives(
    model: nn.Module, shape, axes=None, method: str = "chain", create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The signal and its derivatives in one forward pass: ``(1, C_out, *shape)``, ``(A, C_out, *shape)``.

    `model` reads the encoding grid of `oinr.encoding` (it has ``octaves``); `axes` defaults to all.
    Units: per unit of the [-1, 1] coordinate (see `per_pixel`). `create_graph`: keep autograd on (to
    train on derivatives); off, the pass runs without a graph and in place.
    """
    with torch.set_grad_enabled(create_graph):
        return _derivatives(model, shape, axes, method)


def _derivatives(model, shape, axes, method):
    shape = tuple(int(s) for s in shape)
    axes = list(range(len(shape))) if axes is None else list(axes)
    if hasattr(model, "forward_coords_derivatives"):  # the multiscale O-INR: its own one-pass forward mode
        out, d = point_derivatives(model, shape)
        return out, d[axes]
    if getattr(model, "octaves", None) is None:
        raise ValueError("operator_derivatives needs a model that reads the sin/cos encoding grid (with `octaves`)")
    grid = model.make_input(shape)  # (1, C_in, *shape)
    tangents = encoding_tangents(model, shape, axes)  # (A, C_in, *shape)
    if method == "chain":
        if not isinstance(model, OINR):
            raise ValueError(f"method='chain' needs an OINR, got {model.__class__.__name__}; use method='jvp'")
        x = _chain(model, grid, tangents).contiguous()  # back to the default layout
        return x[:1], x[1:]
    if method == "jvp":
        outs = [torch.func.jvp(model, (grid,), (t[None],)) for t in tangents]
        return outs[0][0], torch.cat([d for _, d in outs], dim=0)
    raise ValueError(f"method must be 'chain' or 'jvp', got {method!r}")


def shift_autograd(model: nn.Module, shape, axes=None) -> torch.Tensor:
    """The same derivatives by reverse-mode autograd: ``(A, C_out, *shape)`` per unit of [-1, 1].

    The encoding is rebuilt with `encode_coords` at every grid point shifted by one global delta; the
    derivative of the output at every point w.r.t. delta_a is a Jacobian-vector product, taken here with
    two backward passes (the double-vjp trick), so nothing in it shares code with `operator_derivatives`.
    Octaves that `encode_grid` zeroes on this grid (above an axis's Nyquist rate) are zeroed alike;
    noise channels (no derivative) are appended unchanged.
    """
    shape = tuple(int(s) for s in shape)
    axes = list(range(len(shape))) if axes is None else list(axes)
    dev = next(model.parameters()).device
    pts = grid_points(shape, dev)  # (*shape, d)
    delta = torch.zeros(len(shape), device=dev, requires_grad=True)
    enc = encode_coords(pts + delta, model.octaves).movedim(-1, 0)  # (2Ld, *shape)
    enc = enc * nyquist_mask(shape, model.octaves).view(-1, *[1] * len(shape)).to(enc)  # as `encode_grid` caps
    base = model.make_input(shape)[0]  # (C_in, *shape): keeps the noise channels, if any
    enc = torch.cat([enc, base[enc.shape[0] :]], dim=0)[None]  # (1, C_in, *shape)
    out = model(enc)  # (1, C_out, *shape)
    u = torch.zeros_like(out, requires_grad=True)
    (g,) = torch.autograd.grad(out, delta, grad_outputs=u, create_graph=True)  # (d,) = J^T u, linear in u
    rows = [torch.autograd.grad(g[a], u, retain_graph=True)[0] for a in axes]  # J e_a, each (1, C_out, *shape)
    return torch.cat(rows, dim=0).detach()


def _points(model: nn.Module, shape) -> torch.Tensor:
    return grid_points(shape, next(model.parameters()).device).reshape(-1, len(shape))  # (P, d)


def point_derivatives(model: nn.Module, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """A point model's signal and derivatives on a grid in one forward-mode pass (the multiscale O-INR's
    `forward_axes`, the grid axis by axis): ``(1, C_out, *shape)``, ``(d, C_out, *shape)`` per unit of [-1, 1]."""
    shape = tuple(int(s) for s in shape)
    return model.forward_axes(grid_axes(shape, next(model.parameters()).device), derivatives=True)


def point_autograd(model: nn.Module, shape, eps: float = 1e-5) -> torch.Tensor:
    """The check of `point_derivatives` by reverse-mode autograd of ``forward_coords``: ``(d, C_out, *shape)``.

    Each point's output depends on its own coordinates only, so the gradient of a channel's sum is the
    per-point derivative. It is taken at x + eps e_a and x - eps e_a and averaged: on a coarse node, where the
    d-linear interpolant has a kink, that is the symmetric derivative the forward pass gives; on the domain's
    border, the side inside it alone.
    """
    shape = tuple(int(s) for s in shape)
    x0 = _points(model, shape)
    rows = []
    for a in range(len(shape)):
        side = []
        for sign in (1.0, -1.0):
            x = x0.clone()
            x[:, a] += sign * eps
            x.requires_grad_(True)
            out = model.forward_coords(x)  # (P, C)
            side.append(torch.stack([torch.autograd.grad(out[:, c].sum(), x, retain_graph=True)[0][:, a]
                                     for c in range(out.shape[1])], -1))  # fmt: skip
        inside = [(x0[:, a] + eps <= 1).to(x0), (x0[:, a] - eps >= -1).to(x0)]  # (P,): the side in the domain
        mean = (side[0] * inside[0][:, None] + side[1] * inside[1][:, None]) / (inside[0] + inside[1])[:, None]
        rows.append(mean.T.reshape(-1, *shape))  # (C, *shape)
    return torch.stack(rows).detach()


def coordinate_derivatives(model: nn.Module, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """A coordinate MLP's signal and d/dx_a by autograd: ``(1, C_out, *shape)``, ``(d, C_out, *shape)``.

    Each output point depends on its own coordinate only, so the gradient of the channel's sum w.r.t.
    the coordinate grid is the per-point derivative. Units: per unit of [-1, 1].
    """
    grid = model.make_input(tuple(shape)).detach().requires_grad_(True)  # (1, d, *shape)
    out = model(grid)  # (1, C_out, *shape)
    chans = [torch.autograd.grad(out[:, c].sum(), grid, retain_graph=True)[0][0] for c in range(out.shape[1])]
    return out.detach(), torch.stack(chans, dim=1)  # (d, C_out, *shape)


def finite_differences(img: torch.Tensor, kind: str = "sobel") -> torch.Tensor:
    """Per-pixel d/d(row), d/d(col) of an image ``(C, H, W)``: ``(2, C, H, W)`` (replicated border).

    'sobel': the 3x3 Sobel pair divided by 8 (exact on a linear ramp); 'central': (I[i+1] - I[i-1]) / 2.
    """
    if kind == "sobel":
        k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0  # d/d(col), smoothed on rows
    elif kind == "central":
        k = torch.tensor([[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])
    else:
        raise ValueError(f"kind must be 'sobel' or 'central', got {kind!r}")
    kernels = torch.stack([k.T, k])[:, None].to(img)  # (2, 1, 3, 3): d/d(row), d/d(col)
    x = nn.functional.pad(img[:, None], (1, 1, 1, 1), mode="replicate")  # (C, 1, H+2, W+2)
    return nn.functional.conv2d(x, kernels).transpose(0, 1)  # (C, 2, H, W) -> (2, C, H, W)


def compare(pred: torch.Tensor, ref: torch.Tensor, margin: int = 0) -> dict:
    """Relative L2 error ||pred - ref|| / ||ref|| and Pearson correlation over the interior (`margin` cut)."""
    if margin:
        cut = (slice(None),) * (pred.ndim - 2) + (slice(margin, -margin),) * 2
        pred, ref = pred[cut], ref[cut]
    p, r = pred.double().flatten(), ref.double().flatten()
    rel = float((p - r).norm() / r.norm().clamp_min(1e-12))
    corr = float(torch.corrcoef(torch.stack([p, r]))[0, 1])
    return {"rel_err": rel, "corr": corr}


def magnitude(d: torch.Tensor) -> torch.Tensor:
    """|grad| over the leading axis of stacked derivatives ``(A, ...)`` -> ``(...)``."""
    return d.square().sum(0).sqrt()


# ------------------------------------------------------------------------------------- image-level helpers

SIGNAL_SCALE = {"pm1": 0.5, "unit": 1.0}  # d(signal in [0, 1]) / d(network output) for `oinr.fit.restore` outputs


def image_derivatives(model: nn.Module, shape, output: str = "pm1") -> tuple[torch.Tensor, torch.Tensor]:
    """A fitted image and its derivatives, per pixel, in the units of the image in [0, 1].

    Returns ``(C, H, W)`` in [0, 1] and ``(2, C, H, W)`` (d/d(row), d/d(col)): O-INR (a model with
    ``octaves``) in one forward pass, a coordinate MLP by autograd w.r.t. its input coordinates. The
    derivative is that of the network's linear map to [0, 1] (the clamp at 0 and 1 is left out).
    """
    if output not in SIGNAL_SCALE:
        raise ValueError(f"derivatives of a {output!r} output are not defined here; use 'pm1' or 'unit'")
    shape = tuple(int(s) for s in shape)
    if getattr(model, "octaves", None) is not None:  # the O-INRs (the multiscale one through its own pass)
        out, d = operator_derivatives(model, shape, method="chain" if isinstance(model, OINR) else "jvp")
    else:
        out, d = coordinate_derivatives(model, shape)
    scale = SIGNAL_SCALE[output]
    img = (out[0] * scale + (0.5 if output == "pm1" else 0.0)).clamp(0, 1)  # (C, H, W)
    return img.detach().cpu(), per_pixel(d.detach() * scale, shape).cpu()


def time_passes(model: nn.Module, shape, repeats: int = 5) -> dict:
    """Seconds of a plain forward pass and of the derivative pass (signal + every axis), interleaved.

    Each is the minimum over `repeats` runs after one warm-up (the least disturbed by other work on
    the machine); all run without autograd. Returns forward_s (``model(grid)`` as every script runs it),
    derivative_s, ratio = derivative_s / forward_s, and forward_last_s / ratio_same_layout: the forward
    pass on a channels-last grid (the layout the derivative pass uses inside) and the ratio against it.
    """
    import time

    shape = tuple(int(s) for s in shape)
    grid = model.make_input(shape)
    dev = grid.device
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def clock(f):
        sync()
        t0 = time.perf_counter()
        f()
        sync()
        return time.perf_counter() - t0

    with torch.no_grad():
        last = grid.contiguous(memory_format=_LAST.get(grid.ndim, torch.contiguous_format))
        passes = [lambda: model(grid), lambda: operator_derivatives(model, shape), lambda: model(last)]
        for f in passes:
            f()  # warm-up: allocation, kernel selection
        runs = [[clock(f) for f in passes] for _ in range(max(1, repeats))]
    f, d, fl = (min(r[i] for r in runs) for i in range(3))
    return {"forward_s": f, "derivative_s": d, "ratio": d / f, "forward_last_s": fl, "ratio_same_layout": d / fl}
