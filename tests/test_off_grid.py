"""Between the samples: sub-pixel training, the band-limited target, and the multiscale O-INR's one-pass derivative."""

import json

import torch
import torch.nn.functional as F
from scripts import ROOT, run_folder, run_script

from oinr.data.images import load_image, upsample_band_limited
from oinr.downstream.derivative import point_autograd, point_derivatives
from oinr.encoding import axis_coords
from oinr.fit.image import fit_image, subpixel_loss
from oinr.metrics import psnr
from oinr.models.function import render_grid, set_fit_grid
from oinr.models.registry import build_model


def bumps(n: int) -> torch.Tensor:
    """A smooth (1, n, n) image in [0, 1]: two Gaussians."""
    y, x = torch.meshgrid(axis_coords(n), axis_coords(n), indexing="ij")
    g = torch.exp(-((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.1) - 0.6 * torch.exp(-((x + 0.4) ** 2 + (y - 0.3) ** 2) / 0.05)
    return ((g - g.min()) / (g.max() - g.min()))[None]


def test_band_limited_upsampling_keeps_the_samples_and_reproduces_a_cosine():
    img = torch.rand(2, 9, 7)
    up = upsample_band_limited(img, 4)
    assert up.shape == (2, 33, 25) and torch.allclose(up[:, ::4, ::4], img, atol=1e-6)
    t = axis_coords(33, dtype=torch.float64)
    wave = (torch.cos(3 * torch.pi * t)[:, None] * torch.cos(2 * torch.pi * t)[None])[None]  # below 9 samples' Nyquist
    assert torch.allclose(upsample_band_limited(wave[:, ::4, ::4], 4), wave, atol=1e-6)


def test_subpixel_loss_reads_the_moved_grid_against_the_band_limited_target():
    torch.manual_seed(0)
    model = build_model({"MODEL": "siren", "HIDDEN": 16, "LAYERS": 2}, 2, 1)
    y = bumps(9)[None] * 2 - 1  # (1, 1, 9, 9)
    loss = subpixel_loss(y, 4, seed=3)
    assert loss(model, 7).item() == loss(model, 7).item()  # the offset is a function of (seed, step)
    on_grid = torch.mean((model(model.make_input((9, 9))) - y) ** 2).item()
    grid_only = subpixel_loss(y, 4, seed=3, on_grid=1.0)  # every step on the nodes themselves
    assert abs(grid_only(model, 7).item() - on_grid) < 1e-6
    # a model that is the band-limited interpolant itself has zero loss at every offset
    up = upsample_band_limited(y[0], 4)  # (1, 33, 33)

    class Interpolant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward_coords(self, x):  # x on the 4x lattice, mirrored past +1 as the target is
            idx = ((x + 1) / 2 * 32).round().long()
            idx = torch.where(idx > 32, 64 - idx, idx)
            return up[0, idx[:, 0], idx[:, 1]][:, None] + self.w

    assert max(loss(Interpolant(), s).item() for s in range(20)) < 1e-10


def test_subpixel_training_makes_a_good_function_between_the_samples(one_thread):
    """The cameraman fitted at 17 px and read at 33: sub-pixel training reads it between the samples about as
    well as bilinear interpolation; training on the nodes alone aliases far below it."""
    hi = load_image(ROOT / "data" / "camera.png", (33, 33), True, verbose=False)  # (1, 33, 33)
    lo = hi[:, ::2, ::2]
    bilinear = F.interpolate(lo[None], size=(33, 33), mode="bilinear", align_corners=True)[0]
    scores = {}
    for sub in (1, 4):
        torch.manual_seed(0)
        cfg = {"MODEL": "multiscale", "WIDTHS": (16, 16), "KERNEL": 3, "COARSE": 2, "OCTAVES": 3, "FEATURES": 8,
               "HEAD_WIDTHS": (16,), "FIRST_OMEGA": 10.0, "HEAD_OMEGA": 2.0, "STEPS": 300, "LR": 1e-2,
               "SUBPIXEL": sub, "PROGRESS": False, "LOG_EVERY": 300}  # fmt: skip
        model = build_model(cfg, 2, 1)
        fit_image(cfg, model, lo)
        scores[sub] = psnr((render_grid(model, (33, 33), (17, 17))[0] + 1).div(2).clamp(0, 1), hi)
    assert scores[4] > psnr(bilinear, hi) - 1.0 > scores[1] + 3.0, (scores, psnr(bilinear, hi))


def test_multiscale_one_pass_derivative_equals_autograd():
    torch.manual_seed(0)
    model = build_model({"MODEL": "multiscale", "WIDTHS": (8,), "COARSE": 2, "OCTAVES": 3, "FEATURES": 4}, 2, 2)
    set_fit_grid(model, (13, 11))
    out, d = point_derivatives(model, (25, 21))  # off the fit grid: between nodes and on them
    auto = point_autograd(model, (25, 21))
    assert d.shape == (2, 2, 25, 21) and torch.allclose(out, render_grid(model, (25, 21), (13, 11)), atol=1e-5)
    assert (d - auto).abs().max() <= 1e-3 * auto.abs().max()


def test_derive_reads_the_default_model(tmp_path):
    fit = run_script(ROOT / "2dimage" / "train.py", "--size=24", "--steps=20", "--widths=8,8", "--octaves=3",
                     "--progress=false", f"--out={tmp_path}")  # fmt: skip
    proc = run_script(ROOT / "downstream" / "derivative" / "derive.py", f"--run={run_folder(fit)}", "--baselines=",
                      "--timing_repeats=1", "--margin=2", "--progress=false", f"--out={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads((run_folder(proc) / "summary.json").read_text())
    assert s["max_rel_diff_autograd"] < 1e-3 and s["time_ratio"] > 0
