"""A fitted model as a function: the same values on its fit grid and at the matching points of any other
grid, for every model; 2dimage/render.py from a run folder, and its refusals."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from scripts import ROOT, run_folder, run_script

from oinr.models.function import render_grid, set_fit_grid
from oinr.models.registry import build_model

SMALL = {"WIDTHS": (8, 8), "OCTAVES": 3, "HIDDEN": 16, "LAYERS": 2, "COARSE": 2, "KERNEL": 3, "HASH_LOG2_T": 8,
         "HASH_LEVELS": 4, "HASH_MAX_RES": 16, "KERNEL_EXTENT": 0.5, "INIT_RESOLUTION": 17}  # fmt: skip


@pytest.mark.parametrize("name", ["multiscale", "oinr", "siren", "hashgrid"])
def test_a_finer_grid_reads_the_same_function_at_the_fit_nodes(name, one_thread):
    """Rendered at (n - 1) * 2 + 1 samples, every other sample is a fit-grid node: the values must agree."""
    torch.manual_seed(0)
    model = build_model({**SMALL, "MODEL": name}, 2, 1)
    fit = (17, 13)
    set_fit_grid(model, fit)  # as the fit code does
    on_grid = model(model.make_input(fit))  # (1, 1, 17, 13)
    fine = render_grid(model, (33, 25), fit)
    assert fine.shape == (1, 1, 33, 25)
    assert torch.allclose(fine[..., ::2, ::2], on_grid, atol=1e-5), (fine[..., ::2, ::2] - on_grid).abs().max()


def test_the_multiscale_function_does_not_depend_on_the_grid_it_is_read_on():
    """The fit grid sets the coarse grid and the encoding's Nyquist cap, so that a grid of another size is
    read off the same function: a coarser grid's nodes that fall on fit nodes give the same values."""
    torch.manual_seed(0)
    model = build_model({**SMALL, "MODEL": "multiscale", "OCTAVES": 5}, 2, 1)
    set_fit_grid(model, (33, 33))
    on_grid = model(model.make_input((33, 33)))
    coarse = model(model.make_input((17, 17)))  # every second fit node; 5 octaves are above 17 px's Nyquist
    assert torch.allclose(coarse, on_grid[..., ::2, ::2], atol=1e-5)
    restored = build_model({**SMALL, "MODEL": "multiscale", "OCTAVES": 5}, 2, 1)
    restored.load_state_dict(model.state_dict())  # the fit grid travels with the weights
    assert torch.allclose(restored(restored.make_input((17, 17))), coarse, atol=1e-6)


def test_the_conv_oinr_needs_integer_factors_and_the_cz_operator_its_own_grid():
    torch.manual_seed(0)
    conv = build_model({**SMALL, "MODEL": "oinr"}, 2, 1)
    with pytest.raises(ValueError, match="shifted passes"):
        render_grid(conv, (300, 300), (17, 17))  # 17 -> 300 samples: hundreds of distinct offsets
    cz = build_model({"MODEL": "cz", "OCTAVES": 3, "LEVELS": 2, "LATENT_D": 4, "LATENT_K": 4}, 2, 1)
    cz(cz.make_input((16, 16)))
    with pytest.raises(ValueError, match="sized by its fit grid"):
        render_grid(cz, (32, 32), (16, 16))


def test_render_script_writes_a_16_bit_png_of_the_function_and_refuses_bad_input(tmp_path):
    fit = run_script(ROOT / "2dimage" / "train.py", "--size=17", "--steps=30", "--widths=8,8", "--octaves=3",
                     f"--out={tmp_path}", "--progress=false")  # fmt: skip
    run = run_folder(fit)
    r = run_script(ROOT / "2dimage" / "render.py", f"--run={run}", "--size=33")
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip().splitlines()[-1]
    a = iio.imread(path)
    assert a.dtype == np.uint16 and a.shape == (33, 33)
    recon = iio.imread(run / "reconstruction.png").astype(float) / 255  # the fit grid, 8 bit
    assert np.abs(a[::2, ::2] / 65535 - recon).max() <= 1 / 255 + 1e-6
    again = run_script(ROOT / "2dimage" / "render.py", f"--run={run}", "--size=33")
    assert again.stdout.strip().splitlines()[-1] != path  # a second render never replaces the first
    for args, message in [(["--size=0"], "--size must be a positive"), (["--size=5,0"], "--size=H,W"),
                          (["--size=3000000"], "more than the free memory")]:  # fmt: skip
        bad = run_script(ROOT / "2dimage" / "render.py", f"--run={run}", *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    bad = run_script(ROOT / "2dimage" / "render.py", f"--run={tmp_path}", "--size=33")
    assert bad.returncode == 2 and bad.stderr.startswith("error:"), bad.stderr
