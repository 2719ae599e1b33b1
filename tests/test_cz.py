"""The CZ O-INR (oinr/models/cz.py): exact wavelet round trip, shapes, gradients, a fit, bad input."""

import json
from functools import partial
from pathlib import Path

import pytest
import scripts
import torch
import torch.nn.functional as F

from oinr.data.images import load_image
from oinr.fit.restore import load_run
from oinr.models.cz import CZOINR, Banded
from oinr.models.registry import build_model

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "cz_operator" / "train.py"
run_script = partial(scripts.run_script, TRAIN, threads=1)
SMALL = ["--size=32", "--levels=2", "--latent_d=4", "--latent_k=4", "--progress=false"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("shape", [(37, 21), (33, 64)])
@pytest.mark.parametrize("mode", ["periodization", "symmetric"])
def test_identity_level_operators_reconstruct_the_input(flatten, shape, mode):
    # A_j = I, B_j = G_j = 0, T_J = I, no activation: decomposition then reconstruction is the identity
    torch.manual_seed(0)
    m = CZOINR(1, 2, d=3, k=3, levels=3, mode=mode, blocks=3, activation="none", flatten=flatten)
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


def test_gradients_reach_every_level_operator():
    torch.manual_seed(0)
    m = CZOINR(1, 2, octaves=3, d=4, k=4, levels=3, banded_layers=2, dense_layers=2, blocks=2)
    grid = m.make_input((24, 24))
    m(grid).square().mean().backward()
    names = [n for n, _ in m.named_parameters()]
    assert sum(n.startswith("banded.") for n in names) == 3 * 2 * 2  # levels x layers x (weight, bias)
    assert sum(n.startswith("dense.") for n in names) == 2
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_small_fit_reaches_psnr_and_restores(tmp_path):
    proc = run_script(*SMALL, "--steps=60", "--lr=3e-3", f"--out={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    s = json.loads((run / "summary.json").read_text())
    assert s["psnr"] > 27.0 and s["ssim"] > 0.8, s  # measured 30.1 dB (the target's mean alone: 11.5 dB)
    assert s["steps"] == 60 and s["coarse"] == [8, 8] and s["n_params"] > 0
    assert (run / "figures" / "reconstruction.png").stat().st_size > 0
    # the run folder rebuilds the model, the dense coarsest level included
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
    ],
)
def test_bad_input_exits_2_without_run_folder(tmp_path, args, message):
    proc = run_script(*SMALL, *args, f"--out={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "cz_operator").exists()
