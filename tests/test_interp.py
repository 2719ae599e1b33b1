"""Separable interpolation of the coarse features (oinr.models.interp) and the multiscale model that reads it."""

import pytest
import torch
import torch.nn.functional as F

from oinr.downstream.derivative import point_autograd, point_derivatives
from oinr.encoding import axis_coords
from oinr.fit.image import subpixel_loss
from oinr.models.ensemble import Ensemble
from oinr.models.function import render_grid, set_fit_grid, shifted
from oinr.models.interp import KINDS, axis_taps, sample_axes, sample_points
from oinr.models.registry import build_model


def test_cubic_is_pytorch_bicubic_and_linear_is_bilinear():
    torch.manual_seed(0)
    feats = torch.randn(3, 7, 9, dtype=torch.float64)
    x = torch.rand(200, 2, dtype=torch.float64) * 2 - 1
    where = x.flip(-1).view(1, -1, 1, 2)  # grid_sample's (x_last, x_first) order
    for kind, mode in (("cubic", "bicubic"), ("linear", "bilinear")):
        ref = F.grid_sample(feats[None], where, mode=mode, padding_mode="border", align_corners=True)[0, :, :, 0].T
        assert torch.allclose(sample_points(feats, x, kind), ref, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_axes_equal_points_and_derivatives_equal_autograd(kind):
    torch.manual_seed(1)
    feats = torch.randn(2, 6, 5, 4, dtype=torch.float64)  # 3-d
    axes = [torch.linspace(-1, 1, 7, dtype=torch.float64) + 0.03, torch.rand(4, dtype=torch.float64) * 2 - 1,
            torch.linspace(-0.9, 0.9, 3, dtype=torch.float64)]  # fmt: skip
    pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)  # (P, 3)
    val, der = sample_points(feats, pts, kind, derivatives=True)  # (P, C), (3, P, C)
    assert torch.allclose(sample_axes(feats, axes, kind).reshape(2, -1).T, val, atol=1e-12)
    for a in range(3):
        assert torch.allclose(sample_axes(feats, axes, kind, a).reshape(2, -1).T, der[a], atol=1e-12)
    inside = pts.clone().clamp(-0.99, 0.99).requires_grad_(True)  # off the border, where the clamp cuts it
    out = sample_points(feats, inside, kind)
    for c in range(2):
        (g,) = torch.autograd.grad(out[:, c].sum(), inside, retain_graph=True)
        assert torch.allclose(g.T, sample_points(feats, inside.detach(), kind, derivatives=True)[1][:, :, c], atol=1e-9)


def test_smoothness_of_each_kind():
    """Across a node the derivative jumps for linear and is continuous for cubic and bspline."""
    torch.manual_seed(2)
    f = torch.randn(1, 9, dtype=torch.float64)
    node = -1 + 2 * 4 / 8  # node 4 of 9
    eps = 1e-7
    x = torch.tensor([[node - eps], [node + eps]], dtype=torch.float64)
    jumps = {
        k: (sample_points(f, x, k, True)[1][0, 1] - sample_points(f, x, k, True)[1][0, 0]).abs().item() for k in KINDS
    }
    assert jumps["linear"] > 1e-2 and jumps["cubic"] < 1e-3 and jumps["bspline"] < 1e-3
    # the interpolating kernels reproduce the nodes; the B-spline smooths them
    nodes = axis_coords(9, dtype=torch.float64)[:, None]
    assert torch.allclose(sample_points(f, nodes, "cubic").T, f, atol=1e-12)
    assert not torch.allclose(sample_points(f, nodes, "bspline").T, f, atol=1e-3)
    idx, w, _ = axis_taps(torch.tensor([1.0]), 9, "bspline")
    assert idx.max() == 8 and torch.allclose(w.sum(), torch.tensor(1.0))  # the border node, a partition of unity


@pytest.mark.parametrize("kind", ["cubic", "bspline"])
def test_multiscale_reads_one_function_on_every_grid(kind):
    torch.manual_seed(0)
    cfg = {"MODEL": "multiscale", "WIDTHS": (8,), "COARSE": 2, "OCTAVES": 3, "FEATURES": 4, "INTERP": kind}
    model = build_model(cfg, 3, 1)  # 3-d: the cubic kinds are not 2-d only
    set_fit_grid(model, (9, 7, 5))
    on_grid = model(model.make_input((9, 7, 5)))
    fine = render_grid(model, (17, 13, 9), (9, 7, 5))
    assert torch.allclose(fine[..., ::2, ::2, ::2], on_grid, atol=1e-5)
    moved = shifted(model, (9, 7, 5), [0.01, -0.02, 0.0])
    x = torch.stack(torch.meshgrid(axis_coords(9) + 0.01, axis_coords(7) - 0.02, axis_coords(5), indexing="ij"), -1)
    assert torch.allclose(moved.flatten(2)[0].T, model.forward_coords(x.reshape(-1, 3)), atol=1e-5)


@pytest.mark.parametrize("kind", ["cubic", "bspline"])
def test_multiscale_one_pass_derivative_of_the_cubic_kinds_equals_autograd(kind):
    torch.manual_seed(0)
    cfg = {"MODEL": "multiscale", "WIDTHS": (8,), "COARSE": 2, "OCTAVES": 3, "FEATURES": 4, "INTERP": kind}
    model = build_model(cfg, 2, 2)
    set_fit_grid(model, (13, 11))
    out, d = point_derivatives(model, (25, 21))  # the grid path (axis by axis)
    auto = point_autograd(model, (25, 21))
    x = torch.stack(torch.meshgrid(axis_coords(25), axis_coords(21), indexing="ij"), -1).reshape(-1, 2)
    _, d_points = model.forward_coords_derivatives(x)  # the point path
    assert torch.allclose(out, render_grid(model, (25, 21), (13, 11)), atol=1e-5)
    assert (d - auto).abs().max() <= 1e-3 * auto.abs().max()
    assert torch.allclose(d_points.transpose(1, 2).reshape(2, 2, 25, 21), d, atol=1e-4)


def test_an_ensemble_trains_on_moved_grids_one_loss_per_member():
    torch.manual_seed(0)
    cfg = {"MODEL": "multiscale", "WIDTHS": (8,), "COARSE": 2, "OCTAVES": 3, "FEATURES": 4, "INTERP": "bspline"}
    a, b = build_model(cfg, 2, 1), build_model(cfg, 2, 1)
    for m in (a, b):
        set_fit_grid(m, (9, 7))
    ys = torch.rand(2, 1, 9, 7)  # (K, C, H, W): one target per member
    ens = Ensemble([a, b])
    for step in range(3):
        both = subpixel_loss(ys, 4, seed=1, members=True)(ens, step)  # (2,)
        alone = [subpixel_loss(ys[k : k + 1], 4, seed=1)(m, step) for k, m in enumerate((a, b))]
        assert both.shape == (2,) and torch.allclose(both, torch.stack(alone), rtol=1e-5)


def test_without_a_fit_grid_the_grid_read_defines_it():
    torch.manual_seed(0)
    for kind in KINDS:
        cfg = {"MODEL": "multiscale", "WIDTHS": (8,), "COARSE": 2, "OCTAVES": 3, "FEATURES": 4, "INTERP": kind}
        model = build_model(cfg, 2, 1)  # never fitted: no fit grid
        whole = model(model.make_input((11, 9)))
        assert torch.allclose(model.forward_axes([axis_coords(11), axis_coords(9)]), whole, atol=1e-6)
