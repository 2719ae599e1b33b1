"""ckconv and the continuous O-INR: FFT = direct, one kernel at every resolution, shapes, gradients, init,
a small multi-resolution fit, and 2dimage/continuous.py's bad-input errors."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ckconv import KERNEL_NETS, CKConv, fft_conv, grid_spacing, kernel_taps
from oinr.fit.loop import FitConfig, fit
from oinr.metrics import psnr
from oinr.models.continuous import ContinuousOINR

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "2dimage" / "continuous.py"
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_fft_conv_equals_direct(dims):
    torch.manual_seed(0)
    spatial, ks = (19, 12, 9)[:dims], (7, 3, 5)[:dims]  # non-square grids and kernels
    x = torch.randn(2, 3, *spatial)
    w, b = torch.randn(4, 3, *ks), torch.randn(4)
    direct = CONV[dims](x, w, b, padding=tuple(k // 2 for k in ks))
    torch.testing.assert_close(fft_conv(x, w, b), direct, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_ckconv_fft_and_direct_agree_in_value_and_gradient(dims):
    torch.manual_seed(0)
    layer = CKConv(3, 4, dims, kernel_extent=0.5, init_resolution=17)
    x = torch.randn(2, 3, *(21, 17, 13)[:dims])
    out, grads = [], []
    for use_fft in (False, True):
        layer.use_fft = use_fft
        layer.zero_grad()
        y = layer(x)
        y.square().sum().backward()
        out.append(y)
        grads.append(layer.kernel_net.last.weight.grad.clone())
    scale = out[0].abs().max()
    torch.testing.assert_close(out[1] / scale, out[0] / scale, rtol=0, atol=1e-5)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-3 * grads[0].abs().max().item())


def test_kernel_samples_the_same_function_at_every_resolution():
    torch.manual_seed(0)
    layer = CKConv(2, 3, 2, kernel_extent=0.4)
    n = 21
    fine = 2 * n - 1  # spacing halves: every sample of n is a sample of 2n - 1
    assert grid_spacing(fine) == grid_spacing(n) / 2
    assert kernel_taps(n, 0.4) == 5 and kernel_taps(fine, 0.4) == 9  # |k h| <= 0.2: h = 0.1, then 0.05
    torch.testing.assert_close(layer.offsets(fine)[::2], layer.offsets(n), rtol=0, atol=0)
    with torch.no_grad():
        coarse_k, fine_k = layer.kernel((n, n)), layer.kernel((fine, fine))  # (C_out, C_in, *taps)
    torch.testing.assert_close(fine_k[..., ::2, ::2], coarse_k, rtol=0, atol=1e-6)


def test_layer_output_agrees_across_resolutions_at_shared_points():
    torch.manual_seed(0)
    layer = CKConv(2, 3, 2, kernel_extent=0.5, omega0=5.0)

    def smooth(n):  # two smooth channels sampled on linspace(-1, 1, n)^2
        x = torch.linspace(-1, 1, n)
        gx, gy = torch.meshgrid(x, x, indexing="ij")
        return torch.stack([torch.sin(2 * gx + gy), torch.cos(3 * gy) * gx])[None]  # (1, 2, n, n)

    n = 33
    with torch.no_grad():
        coarse, fine = layer(smooth(n)), layer(smooth(2 * n - 1))  # (1, 3, n, n), (1, 3, 2n-1, 2n-1)
    diff = fine[..., ::2, ::2] - coarse  # one integral, summed at spacings h and h/2
    rel = (diff.norm() / coarse.norm()).item()
    assert rel < 0.02, rel  # measured 0.0093: O(h^2) at the domain's edge (trapezoid rule)
    inner = slice(9, -9)  # farther than the kernel's half-width (0.25 = 4 cells) from the edge
    rel_inner = (diff[..., inner, inner].norm() / coarse[..., inner, inner].norm()).item()
    assert rel_inner < 2e-3, rel_inner  # measured 0.00046: smooth, windowed integrand


@pytest.mark.parametrize("kernel_net", KERNEL_NETS)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_shapes_and_gradients_reach_the_kernel_network(dims, kernel_net):
    torch.manual_seed(0)
    layer = CKConv(3, 5, dims, kernel_net=kernel_net, hidden=8, kernel_extent=0.6, init_resolution=9)
    x = torch.randn(2, 3, *(11, 9, 7)[:dims])
    y = layer(x)
    assert y.shape == (2, 5, *x.shape[2:])
    y.square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kernel_net", KERNEL_NETS)
def test_init_matches_a_standard_conv_at_the_reference_resolution(kernel_net):
    torch.manual_seed(0)
    gain, n = 0.7, 25
    layer = CKConv(6, 4, 2, kernel_net=kernel_net, kernel_extent=0.5, init_gain=gain, init_resolution=n)
    with torch.no_grad():
        w = layer.weight((n, n))  # (4, 6, 7, 7): kernel times cell volume
    fan_in = 6 * kernel_taps(n, 0.5) ** 2
    assert w.shape == (4, 6, 7, 7)
    assert math.isclose(w.pow(2).mean().sqrt().item(), gain / math.sqrt(fan_in), rel_tol=1e-4)
    assert layer.bias is not None and not layer.bias.any()


def test_continuous_oinr_interface_in_1d_2d_3d():
    torch.manual_seed(0)
    for dims, shape in [(1, (40,)), (2, (20, 24)), (3, (9, 10, 11))]:
        model = ContinuousOINR(2, dims, octaves=2, widths=(4,), hidden=8, kernel_extent=0.8, init_resolution=9)
        grid = model.make_input(shape)
        assert grid.shape == (1, 2 * 2 * dims, *shape)
        assert model(grid).shape == (1, 2, *shape)
        assert model(grid[0]).shape == (1, 2, *shape)  # an unbatched grid is accepted too


def _smooth_image(n: int) -> torch.Tensor:
    """A smooth synthetic image in [0, 1] sampled exactly at linspace(-1, 1, n)^2: (1, n, n)."""
    x = torch.linspace(-1, 1, n)
    gx, gy = torch.meshgrid(x, x, indexing="ij")
    img = 0.5 + 0.25 * torch.sin(math.pi * gx) * torch.cos(1.5 * math.pi * gy) + 0.2 * torch.exp(-4 * (gx**2 + gy**2))
    return img[None]


def test_multi_resolution_fit_generalises_to_held_out_resolutions():
    torch.manual_seed(0)
    model = ContinuousOINR(1, 2, octaves=2, widths=(16, 16), hidden=16, kernel_extent=0.5, init_resolution=33)
    sizes = (17, 25, 33)
    data = [(model.make_input((n, n)), _smooth_image(n)[None] * 2 - 1) for n in sizes]
    loss_fn = lambda m, step: torch.mean((m(data[step % 3][0]) - data[step % 3][1]) ** 2)
    fit(model, loss_fn, FitConfig(steps=150, lr=3e-3, progress=False))
    # measured (seeds 0, 1, 2): 25.9/28.9/27.4 dB at 21 px, where the kernel has only 3 effective taps,
    # 29.5/32.0/30.4 at 29 px and 29.1/31.7/30.2 at 49 px (the training sizes: 29.2-32.0)
    with torch.no_grad():
        for n, bound in [(21, 23.0), (29, 26.5), (49, 26.0)]:  # held out inside the range, and beyond it
            pred = ((model(model.make_input((n, n)))[0] + 1) / 2).clamp(0, 1)
            assert psnr(pred, _smooth_image(n)) > bound, (n, psnr(pred, _smooth_image(n)))


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)  # fmt: skip


@pytest.mark.parametrize(
    "args,message",
    [
        (["--resolutions=64"], "at least two training sizes"),
        (["--resolutions=12,64"], "smaller than the kernel"),
        (["--data={d}/small.png"], "smaller than the largest requested size"),
        (["--held_out=64", "--resolutions=48,64"], "repeats training sizes"),
        (["--kernel_net=fourier"], "--kernel_net must be one of"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "small.png", (np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8))
    out = tmp_path / "results"
    proc = _run(*[a.format(d=tmp_path) for a in args], f"--out={out}", "--progress=false")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert not out.exists()  # validated before any run folder is created
