"""The coordinate-MLP baselines: shapes, coordinate grids, a small fit each, the registry and budgets."""

import math

import pytest
import torch

from oinr.encoding import axis_coords
from oinr.errors import UserError
from oinr.models.baselines import BASELINES, WIRE, build_baseline, default_lr, hidden_for_budget, n_params

NAMES = list(BASELINES)

# PSNR (dB, data range 2) after 200 Adam steps at the default lr, hidden 64, 2 layers, seed 0, on
# `_target()`. Measured on a CPU (seeds 0/1/2): siren 45.2/38.3/43.8, wire 64.1/94.9/93.5,
# gauss 45.9/48.0/44.5, ffn 111.3/110.8/111.3 (fits to float32 round-off), finer 111.9/86.9/110.9 (with the
# official scale without gradient and PyTorch's first-layer bias; 111.6/112.1/111.2 with the scale's gradient
# and a U(-1, 1) bias). Each bound sits a few dB under the lowest of the three seeds.
FIT_PSNR = {"siren": 35.0, "wire": 60.0, "gauss": 40.0, "ffn": 100.0, "finer": 80.0}


def _target() -> torch.Tensor:
    """A smooth 32x32 image in [-1, 1]: a product of sinusoids plus a Gaussian blob, (32, 32)."""
    y, x = torch.meshgrid(axis_coords(32), axis_coords(32), indexing="ij")
    waves = 0.5 * torch.sin(2 * math.pi * x) * torch.cos(math.pi * y)
    blob = 0.5 * torch.exp(-((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.1)
    return waves + blob


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(9,), (6, 7), (3, 4, 5)])
def test_output_shape(name, shape):
    torch.manual_seed(0)
    model = build_baseline(name, len(shape), 3, hidden=16, layers=2)
    grid = model.make_input(shape)  # (1, d, *shape)
    out = model(torch.cat([grid, grid], dim=0))  # (2, 3, *shape)
    assert out.shape == (2, 3, *shape) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert model(grid[0]).shape == (1, 3, *shape)  # unbatched (d, *shape)
    with pytest.raises(ValueError):
        model(torch.cat([grid, grid], dim=1))  # (1, 2d, *shape): wrong number of coordinate channels


@pytest.mark.parametrize("name", NAMES)
def test_make_input(name):
    model = build_baseline(name, 3, 1, hidden=8, layers=1)
    grid = model.make_input((4, 5, 6))
    assert grid.shape == (1, 3, 4, 5, 6) and grid.dtype == torch.float32
    assert grid.min() == -1 and grid.max() == 1
    # channel a varies along axis a only, at linspace(-1, 1, n)
    assert torch.equal(grid[0, 0, :, 0, 0], axis_coords(4))
    assert torch.equal(grid[0, 1, 0, :, 0], axis_coords(5))
    assert torch.equal(grid[0, 2, 0, 0, :], axis_coords(6))
    assert torch.equal(grid[0, 0], grid[0, 0, :, :1, :1].expand(4, 5, 6))
    with pytest.raises(ValueError):
        model.make_input((4, 5))  # a 2-d grid for a 3-d model


@pytest.mark.parametrize("name", NAMES)
def test_fits_small_image(name, one_thread):
    torch.manual_seed(0)
    target = _target()
    model = build_baseline(name, 2, 1, hidden=64, layers=2)
    grid = model.make_input(target.shape)
    opt = torch.optim.Adam(model.parameters(), lr=default_lr(name))
    for _ in range(200):
        loss = torch.mean((model(grid)[0, 0] - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mse = torch.mean((model(grid)[0, 0] - target) ** 2).item()
    psnr = 10 * math.log10(2.0**2 / mse)  # data range 2 for [-1, 1]
    assert psnr > FIT_PSNR[name], f"{name}: {psnr:.1f} dB"


def test_unknown_name():
    with pytest.raises(UserError, match="siren, wire, gauss, ffn, finer"):
        build_baseline("nerf", 2, 3)
    with pytest.raises(UserError, match="unknown baseline"):
        default_lr("nerf")
    assert isinstance(build_baseline("SIREN", 2, 3, hidden=8, layers=1), BASELINES["siren"]["cls"])


def test_registry_defaults_and_overrides():
    assert default_lr("siren") == 1e-3 and default_lr("siren", "paper") == 1e-4
    for name, entry in BASELINES.items():
        assert default_lr(name) == entry["lr"] > 0
    model = build_baseline("siren", 2, 1, hidden=8, layers=2, omega0=5.0)
    assert model.net[0].omega0 == 5.0
    assert build_baseline("ffn", 2, 1, hidden=8, layers=1, frequencies=16).net[0].B.shape == (16, 2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("budget", [20_000, 200_000])
def test_hidden_for_budget(name, budget):
    h = hidden_for_budget(name, 2, 3, 3, budget)
    count = lambda width: n_params(build_baseline(name, 2, 3, hidden=width, layers=3))
    assert abs(count(h) - budget) <= 0.03 * budget
    assert abs(count(h) - budget) <= min(abs(count(h + 1) - budget), abs(count(h - 1) - budget))


def test_sine_inits():
    torch.manual_seed(0)
    siren = build_baseline("siren", 2, 1, hidden=32, layers=2)
    first, hidden = siren.net[0].linear, siren.net[1].linear
    assert first.weight.abs().max() <= 1 / 2
    assert hidden.weight.abs().max() <= math.sqrt(6 / 32) / 30
    # FINER's official image setting passes no first-layer bias scale: PyTorch's U(-1/sqrt(2), 1/sqrt(2)) for 2-d input
    bias = build_baseline("finer", 2, 1, hidden=256, layers=1).net[0].linear.bias
    assert 0.65 < bias.abs().max() <= 1 / math.sqrt(2)
    bias = build_baseline("finer", 2, 1, hidden=256, layers=1, first_bias=1.0).net[0].linear.bias
    assert 0.9 < bias.abs().max() <= 1.0  # U(-k, k) with k = 1, its SDF/NeRF setting


@pytest.mark.parametrize("scale_grad", [False, True])
def test_finer_scale_gradient(scale_grad):
    """sin(w s z), s = |z| + 1: by default (the official code) s is a constant for the backward pass."""
    layer = build_baseline("finer", 1, 1, hidden=4, layers=1, scale_grad=scale_grad).net[0]
    z = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64, requires_grad=True)
    y = layer.activation(z)
    (grad,) = torch.autograd.grad(y.sum(), z)
    w, s = layer.omega0, z.detach().abs() + 1
    assert torch.allclose(y.detach(), torch.sin(w * s * z.detach()))
    slope = w * (2 * z.detach().abs() + 1) if scale_grad else w * s  # d(s z)/dz with and without s's own gradient
    assert torch.allclose(grad, slope * torch.cos(w * s * z.detach()))


def test_wire_complex_layers():
    model = WIRE(2, 3, hidden=64, layers=2)
    width = int(64 / math.sqrt(2))
    assert model.net[0].linear.weight.dtype == torch.float32  # real coordinates in
    assert model.net[1].linear.weight.dtype == torch.cfloat
    assert model.net[1].linear.weight.shape == (width, width)
    real_scalars = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
    assert n_params(model) == real_scalars > sum(p.numel() for p in model.parameters())
    out = model(model.make_input((4, 4)))
    assert not out.is_complex()


def test_ffn_features_fixed_by_seed():
    a = build_baseline("ffn", 2, 1, hidden=8, layers=1, seed=3)
    b = build_baseline("ffn", 2, 1, hidden=8, layers=1, seed=3)
    c = build_baseline("ffn", 2, 1, hidden=8, layers=1, seed=4)
    assert torch.equal(a.net[0].B, b.net[0].B) and not torch.equal(a.net[0].B, c.net[0].B)
    assert "net.0.B" in a.state_dict() and not any(p is a.net[0].B for p in a.parameters())
    assert a.net[0].B.std().item() == pytest.approx(10.0, rel=0.15)  # sigma of B ~ N(0, sigma^2)
