"""The CZ O-INR (oinr/models/cz.py): exact wavelet round trip, shapes, sizes, gradients, a fit, bad input."""

import json
from functools import partial
from pathlib import Path

import pytest
import scripts
import torch
import torch.nn.functional as F

from oinr.data.images import load_image
from oinr.fit.config import read_preset, script_defaults
from oinr.fit.restore import load_run
from oinr.models.cz import CZOINR, Banded, LevelLayer, TileAffine
from oinr.models.registry import build_model

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "cz_operator" / "train.py"
BENCH = ROOT / "bench" / "cz_operator.py"
run_script = partial(scripts.run_script, TRAIN, threads=1)
SMALL = ["--size=32", "--levels=2", "--latent_d=4", "--latent_k=4", "--progress=false"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("sharing,coarsest", [("tile", "dense"), ("shared", "mixer"), ("level", "conv")])
@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("shape", [(37, 21), (33, 64)])
@pytest.mark.parametrize("mode", ["periodization", "symmetric"])
def test_identity_level_operators_reconstruct_the_input(sharing, coarsest, flatten, shape, mode):
    # A_j = I, B_j = G_j = 0, T_J = I, no activation: decomposition then reconstruction is the identity
    torch.manual_seed(0)
    m = CZOINR(1, 2, d=3, k=3, levels=3, mode=mode, blocks=3, activation="none", flatten=flatten, sharing=sharing,
               coarsest=coarsest)  # fmt: skip
    m.make_input(shape)
    m.identity_()
    axes = m.padded_axes(m._axes(shape))
    z = torch.randn(2, 3, *axes)
    assert torch.allclose(m.reconstruct(m.decompose(z), axes), z, atol=1e-5)


def test_banded_layer_with_equal_tiles_is_a_convolution():
    # every tile holding the same kernel: the partially shared layer equals one 'same' convolution
    torch.manual_seed(0)
    layer = Banded(4, 6, 3, blocks=3, dims=2)
    with torch.no_grad():
        kernel = layer.weight[:6].clone()
        layer.weight.copy_(kernel.repeat(9, 1, 1, 1))
        layer.bias.zero_()
    x = torch.randn(2, 4, 10, 7)
    assert torch.allclose(layer(x), F.conv2d(x, kernel, padding=1), atol=1e-5)


def test_tile_affine_scales_and_shifts_each_tile():
    # 3 tiles on 7 x 5 coefficients: ceil(7 / 3) = 3 rows and ceil(5 / 3) = 2 columns a tile, the last ones short
    aff = TileAffine(2, 3, 2)
    with torch.no_grad():
        aff.scale.copy_(torch.arange(18.0).view(2, 3, 3))
        aff.shift.fill_(0.5)
    y = aff(torch.ones(1, 2, 7, 5))
    rows, cols = torch.tensor([0, 0, 0, 1, 1, 1, 2]), torch.tensor([0, 0, 1, 1, 2])
    expect = torch.arange(18.0).view(2, 3, 3)[:, rows][:, :, cols] + 0.5  # (2, 7, 5)
    assert torch.equal(y[0], expect)


def test_level_layer_with_unit_scales_is_a_convolution():
    # a kernel every tile shares, scales 1 and shifts 0: one 'same' convolution; a shared kernel passed in
    torch.manual_seed(0)
    layer = LevelLayer(4, 6, 3, blocks=2, dims=2)
    x = torch.randn(2, 4, 9, 6)
    assert torch.allclose(layer(x), F.conv2d(x, layer.weight, padding=1), atol=1e-5)
    shared = LevelLayer(4, 6, 3, blocks=2, dims=2, own_kernel=False)
    assert shared.weight is None and torch.allclose(shared(x, layer.weight), layer(x), atol=1e-6)


def test_sizes_of_the_default_and_the_presets():
    # the compact default is about the conv O-INR's size (102,816); the presets keep the 8M operators
    def size(presets, shape, channels):
        cfg = script_defaults(TRAIN)
        for name in presets:
            cfg.update(read_preset(ROOT / "cz_operator" / name))
        m = build_model(cfg, 2, channels)
        m.make_input(shape)
        return sum(p.numel() for p in m.parameters())

    assert size([], (256, 256), 1) == 115_689  # the cameraman: 93,312 shared kernels, 12,960 scales and shifts
    assert 80_000 <= size([], (171, 256), 3) <= 120_000  # kodim23 at 256 px in colour (6 x 8 coarse positions)
    assert size(["tiled.py"], (256, 256), 1) == 8_006_097
    assert size(["paper.py"], (256, 256), 1) == 7_716_041


def test_shared_kernels_serve_every_level():
    m = CZOINR(1, 2, octaves=3, d=4, k=4, levels=3, banded_layers=2, blocks=2)  # sharing='shared'
    assert len(m.shared) == 2 and all(layer.weight is None for level in m.banded for layer in level)
    tiled = CZOINR(1, 2, octaves=3, d=4, k=4, levels=3, banded_layers=2, blocks=2, sharing="tile")
    n = lambda model, part: sum(p.numel() for k, p in model.named_parameters() if k.startswith(part))  # noqa: E731
    assert n(m, "shared") == 16 * 16 * 9 * 2  # (d S) x (k S) x 3 x 3, per layer, once for 3 levels
    assert n(tiled, "banded") == 3 * 2 * (4 * 16 * 16 * 9 + 4 * 16)  # levels x layers x tiles' kernels and biases


@pytest.mark.parametrize("flatten", [False, True])
def test_output_shapes(flatten):
    torch.manual_seed(0)
    cfg = {"LEVELS": 3, "LATENT_D": 4, "LATENT_K": 5, "FLATTEN": flatten, "OCTAVES": 3}
    m = build_model({**cfg, "MODEL": "cz"}, 2, 3)
    grid = m.make_input((29, 40))
    assert grid.shape == (1, 12, 29, 40)
    assert m(grid).shape == (1, 3, 29, 40)
    assert m(grid.expand(2, -1, -1, -1)).shape == (2, 3, 29, 40)
    m1 = build_model({**cfg, "MODEL": "cz"}, 1, 2)  # a 1D signal
    assert m1(m1.make_input((50,))).shape == (1, 2, 50)
    with pytest.raises(ValueError, match="use --levels=9 or fewer"):  # 32 x 32 = 1024 samples, db2
        build_model({**cfg, "MODEL": "cz", "LEVELS": 10, "FLATTEN": True}, 2, 1).make_input((32, 32))


@pytest.mark.parametrize("sharing,coarsest", [("tile", "dense"), ("shared", "mixer"), ("level", "conv")])
def test_gradients_reach_every_level_operator(sharing, coarsest):
    torch.manual_seed(0)
    m = CZOINR(1, 2, octaves=3, d=4, k=4, levels=3, banded_layers=2, dense_layers=2, blocks=2, sharing=sharing,
               coarsest=coarsest)  # fmt: skip
    grid = m.make_input((24, 24))
    m(grid).square().mean().backward()
    names = [n for n, _ in m.named_parameters()]
    per_layer = {"tile": 2, "level": 3, "shared": 2}[sharing]  # (weight, bias); (weight, scale, shift); (scale, shift)
    assert sum(n.startswith("banded.") for n in names) == 3 * 2 * per_layer  # levels x layers x parameters
    assert sum(n.startswith("dense.") for n in names) == {"dense": 2, "mixer": 2, "conv": 0}[coarsest]
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "preset,floor",
    [
        ([], 33.0),  # the compact default: measured 36.4 dB (the target's mean alone: 11.5 dB)
        (["tiled.py"], 27.0),  # a kernel per tile and level, dense coarsest level: measured 30.1 dB
    ],
)
def test_small_fit_reaches_psnr_and_restores(tmp_path, preset, floor):
    proc = run_script(*preset, *SMALL, "--steps=60", "--lr=3e-3", f"--out={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    s = json.loads((run / "summary.json").read_text())
    assert s["psnr"] > floor and s["ssim"] > 0.8, s
    assert s["steps"] == 60 and s["coarse"] == [8, 8] and s["n_params"] > 0
    assert (run / "figures" / "reconstruction.png").stat().st_size > 0
    # the run folder rebuilds the model, the grid-sized coarsest level (dense or mixer matrices) included
    r = load_run(run)
    img = r.render()
    assert img.shape == (1, 32, 32) and r.model.coarse == (8, 8) and len(r.model.dense) == 2
    saved = load_image(run / "reconstruction.png", verbose=False)  # 8-bit
    assert (img - saved).abs().max() <= 0.5 / 255 + 1e-4


@pytest.mark.parametrize(
    "args,message",
    [
        (["--wavelet=db99"], "unknown wavelet 'db99'; discrete wavelets include"),
        (["--levels=0"], "levels must be >= 1"),
        (["--levels=6"], "use --levels=4 or fewer"),
        (["--sharing=all"], "sharing must be one of tile, level, shared"),
        (["--coarsest=fft"], "coarsest must be one of dense, mixer, conv"),
    ],
)
def test_bad_input_exits_2_without_run_folder(tmp_path, args, message):
    proc = run_script(*SMALL, *args, f"--out={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "cz_operator").exists()


def test_bench_compares_with_the_conv_oinr_preset():
    # bench/cz_operator.py: the CZ default beside the real conv O-INR preset and the multiscale default
    args = ["--size=64", "--steps=1", "--seconds=1", "--images=data/camera.png", "--models=cz,conv,multiscale"]
    proc = scripts.run_script(BENCH, *args, threads=1)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rows = [line.split() for line in out.splitlines() if line.endswith("ms forward")]  # name, parameters, ...
    counts = {row[0]: int(row[1].replace(",", "")) for row in rows}
    assert counts["conv"] == 102_816 and counts["multiscale"] == 77_713, out
    cz = build_model(script_defaults(TRAIN), 2, 1)
    cz.make_input((64, 64))
    assert counts["cz"] == sum(p.numel() for p in cz.parameters()), out
    fits = [line for line in out.splitlines() if line.strip().startswith("data/camera.png 1x64x64")]
    assert len(fits) == 3 and all(float(line.split(" dB")[0].split()[-1]) > 10.0 for line in fits), out
    assert "cz - conv = " in out and "goal >= -0.50 dB" in out


def test_bench_refuses_an_unknown_model():
    proc = scripts.run_script(BENCH, "--models=cz,siren", "--seconds=0", threads=1)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: unknown model 'siren'")
