"""The multiscale O-INR, point-sampled training and the 3D surface metrics."""

import math

import numpy as np
import pytest
import torch

from oinr.data.sampling import predict_points, sample_cells, surface_band
from oinr.encoding import axis_coords, cell_coords
from oinr.fit.loop import FitConfig, fit
from oinr.metrics import chamfer, iou
from oinr.models.multiscale import MultiscaleOINR, coarse_shape
from oinr.models.registry import build_model


@pytest.mark.parametrize("shape", [(37,), (33, 40), (17, 20, 23), (9, 9, 9)])
def test_points_equal_the_whole_grid(shape):
    torch.manual_seed(0)
    m = MultiscaleOINR(2, len(shape), octaves=4, coarse=4, widths=(6, 6), features=4, head_widths=(8,))
    full = m(m.make_input(shape))  # (1, 2, *shape)
    assert full.shape == (1, 2, *shape)
    idx = torch.randperm(math.prod(shape))[:60]
    pts = m.forward_points(idx, shape)  # (60, 2)
    torch.testing.assert_close(pts, full.flatten(2)[0].T[idx], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(predict_points(m, shape, chunk=50), full, atol=1e-5, rtol=1e-5)


def test_cell_coords_are_the_grid_positions():
    shape = (3, 5, 4)
    grid = torch.stack(torch.meshgrid(*[axis_coords(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    torch.testing.assert_close(cell_coords(torch.arange(60), shape), grid)


def test_any_grid_size_and_the_coarse_grid_spans_the_domain():
    m = MultiscaleOINR(1, 2, octaves=5, coarse=4, widths=(4, 4), features=3, head_widths=(4,))
    for shape in [(8, 8), (31, 64), (65, 17), (2, 2)]:
        assert m(m.make_input(shape)).shape == (1, 1, *shape)
    assert coarse_shape((129, 128, 5), 4) == (33, 33, 2)  # ceil((n - 1) / 4) cells, both ends on [-1, 1]
    with pytest.raises(ValueError, match="coarse factor"):
        MultiscaleOINR(1, 2, coarse=0)


def test_gradients_reach_the_coarse_operator_and_the_head():
    torch.manual_seed(0)
    m = MultiscaleOINR(1, 3, octaves=3, coarse=2, widths=(4, 4), features=3, head_widths=(5,))
    m.forward_points(torch.arange(0, 1000, 7), (10, 10, 10)).square().mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_registry_builds_it_from_a_header():
    cfg = {"MODEL": "multiscale", "WIDTHS": (8, 8), "COARSE": 2, "FEATURES": 4, "HEAD_WIDTHS": (6,), "OCTAVES": 3}
    m = build_model(cfg, 2, 3)
    assert isinstance(m, MultiscaleOINR) and m.coarse == 2 and m.out.out_features == 3


def _ball(n: int, r: float) -> torch.Tensor:
    x = (torch.arange(n) + 0.5) / n - 0.5
    zz, yy, xx = torch.meshgrid(x, x, x, indexing="ij")
    return ((zz**2 + yy**2 + xx**2) <= r**2).float()  # (n, n, n)


def test_surface_band_is_the_cells_near_the_other_phase():
    vol = _ball(20, 0.3)
    band = surface_band(vol, radius=1)
    mask = torch.zeros(vol.numel(), dtype=torch.bool)
    mask[band] = True
    mask = mask.view(vol.shape)
    v = vol.numpy()
    for z, y, x in [(10, 10, 10), (10, 10, 4), (10, 10, 3), (0, 0, 0), (10, 10, 15)]:
        nb = v[max(z - 1, 0) : z + 2, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
        assert bool(mask[z, y, x]) == (nb.min() < 0.5 <= nb.max()), (z, y, x)
    assert surface_band(torch.ones(6, 6, 6)).numel() == 0


def test_batches_are_a_function_of_seed_and_step():
    band = torch.arange(100, 200)
    a = sample_cells(10**6, band, 1000, 0.25, step=7, seed=3)
    assert torch.equal(a, sample_cells(10**6, band, 1000, 0.25, step=7, seed=3))
    assert not torch.equal(a, sample_cells(10**6, band, 1000, 0.25, step=8, seed=3))
    near = ((a >= 100) & (a < 200)).sum().item()
    assert 250 <= near <= 260  # 250 from the band, a few uniform ones may fall in it
    assert sample_cells(50, band[:0], 20, 0.5, step=0).max() < 50  # no band: all uniform


def test_point_sampled_training_resumes_exactly(tmp_path):
    vol = _ball(12, 0.3)
    shape, target = tuple(vol.shape), vol.flatten()
    band = surface_band(vol, 1)

    def train(steps, run, resume=None):
        torch.manual_seed(0)
        m = MultiscaleOINR(1, 3, octaves=3, coarse=2, widths=(4, 4), features=3, head_widths=(6,))

        def loss_fn(model, step):
            idx = sample_cells(target.numel(), band, 256, 0.5, step, seed=1)
            return torch.nn.functional.binary_cross_entropy_with_logits(model.forward_points(idx, shape)[:, 0],
                                                                        target[idx])  # fmt: skip

        run.mkdir()
        fit(m, loss_fn, FitConfig(steps=steps, lr=1e-2, schedule="constant", progress=False, ckpt_every=5),
            run=run, resume=resume)  # fmt: skip
        return m.state_dict()

    whole = train(10, tmp_path / "a")
    train(5, tmp_path / "b")
    resumed = train(10, tmp_path / "c", resume=tmp_path / "b" / "ckpt.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_iou_and_chamfer_of_two_concentric_spheres():
    import trimesh

    from oinr.data.surface import surface

    # IoU of nested balls is (r_small / r_big)^3; voxelized at 64^3 within a percent
    assert iou(_ball(64, 0.25), _ball(64, 0.3)) == pytest.approx((0.25 / 0.3) ** 3, rel=0.02)
    # Chamfer of concentric spheres is the gap between the radii (every nearest point lies on the same ray)
    a, b = (trimesh.creation.icosphere(subdivisions=5, radius=r) for r in (0.3, 0.25))
    assert chamfer(a, b) == pytest.approx(0.05, abs=0.004)
    assert chamfer(a, a) < 0.005  # the sampling floor: about half the spacing of 30,000 points
    assert chamfer(a, None) == math.inf
    # marching cubes of a voxelized ball of radius 0.3 (unit cube) against the exact sphere
    mc = surface(_ball(64, 0.3))
    exact = trimesh.creation.icosphere(subdivisions=5, radius=0.3)
    exact.apply_translation(np.full(3, 0.5))
    assert chamfer(mc, exact) < 1.5 / 64


def test_rate_distortion_sizes_both_oinrs_to_the_budget():
    import importlib.util

    from oinr.errors import UserError
    from oinr.fit.config import script_defaults
    from oinr.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("rd", REPO_ROOT / "bench" / "rate_distortion.py")
    rd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rd)
    base = {**script_defaults(REPO_ROOT / "2dimage" / "train.py"), "HASH_MAX_RES": 256}
    for name in ("multiscale", "oinr"):
        for budget in (6554, 16384, 32768, 98304):
            over = rd.size_for_budget(base, name, budget)
            n = rd._count({**base, **(rd.CONV if name == "oinr" else {}), **over}, name)
            assert abs(n - budget) <= 0.05 * budget, (name, budget, n, over)
    with pytest.raises(UserError, match="smallest size"):
        rd.size_for_budget(base, "multiscale", 100)  # its smallest (widths 1, 1 feature, head 1) has 161
