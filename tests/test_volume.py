"""3D volumes: exact tiled prediction, IoU, voxelization, loaders and their errors, a small fit end to end."""

import gzip
import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import scripts
import torch
from scripts import run_folder

from oinr.data.surface import save_surface
from oinr.data.tiling import predict_tiled, tile_at, tile_side_for, tiles_for
from oinr.data.volume import load_volume, voxelize
from oinr.errors import UserError
from oinr.metrics import iou
from oinr.models.conv import OINR

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "3dvolume" / "train.py"
run_script = partial(scripts.run_script, TRAIN)
SMALL = ["--progress=false", "--widths=8,8", "--octaves=3", "--resolution=0"]


def sphere(n: int, r: float = 0.35, centre=(0.5, 0.5, 0.5)) -> np.ndarray:
    """Occupancy (n, n, n) in {0, 1} of a ball of radius r (unit-cube units) sampled at cell centres."""
    x = (np.arange(n) + 0.5) / n
    d, h, w = np.meshgrid(x, x, x, indexing="ij")
    return (((d - centre[0]) ** 2 + (h - centre[1]) ** 2 + (w - centre[2]) ** 2) < r**2).astype(np.float32)


# --- tiling --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["zeros", "replicate"])
def test_tiled_prediction_equals_whole_volume(padding):
    torch.manual_seed(0)
    model = OINR(None, 1, widths=(6, 6), dims=3, octaves=2, bias=True, omega=3.0, padding_mode=padding)
    grid = model.make_input((20, 20, 20))  # (1, 12, 20, 20, 20)
    with torch.no_grad():
        whole = model(grid)
        tiled = predict_tiled(model, grid, 8)
    assert model.receptive_radius() == 3
    assert torch.allclose(tiled, whole, rtol=1e-5, atol=1e-6)


def test_a_halo_short_of_the_receptive_radius_is_not_exact():
    torch.manual_seed(0)
    model = OINR(None, 1, widths=(6, 6), dims=3, octaves=2, omega=3.0)
    grid = model.make_input((20, 20, 20))
    with torch.no_grad():
        assert not torch.allclose(predict_tiled(model, grid, 8, radius=model.receptive_radius() - 1), model(grid))


def test_tiles_cover_the_grid_once_and_respect_the_memory_bound():
    shape, radius = (20, 17, 9), 2
    side = tile_side_for(shape, 1000, radius)
    tiles = tiles_for(shape, side, radius)
    count = np.zeros(shape, int)
    for t in tiles:
        count[t.interior] += 1
        assert t.voxels <= 1000
    assert (count == 1).all()
    assert tile_side_for(shape, 20 * 17 * 9, radius) is None  # the whole grid fits
    with pytest.raises(UserError):
        tile_side_for(shape, 10, radius)  # not even one cell with its halo


def test_tile_order_is_a_function_of_the_step():
    tiles = tiles_for((12, 12, 12), 4, 1)
    epoch = [tile_at(tiles, s, seed=3) for s in range(len(tiles))]
    assert sorted(t.interior for t in epoch) == sorted(t.interior for t in tiles)  # each tile once per epoch
    assert [tile_at(tiles, s, seed=3) for s in range(40)] == [tile_at(tiles, s, seed=3) for s in range(40)]
    assert epoch != [tile_at(tiles, s + len(tiles), seed=3) for s in range(len(tiles))]  # reshuffled next epoch


# --- metrics, meshes -----------------------------------------------------------------------------------------------


def test_iou_of_known_shapes():
    ball = torch.from_numpy(sphere(16))
    assert iou(ball, ball) == 1.0
    a, b = torch.zeros(8, 8, 8), torch.zeros(8, 8, 8)
    a[:3, :3, :3], b[5:, 5:, 5:] = 1, 1
    assert iou(a, b) == 0.0
    a, b = torch.zeros(8, 8, 8), torch.zeros(8, 8, 8)
    a[0:4, :4, :4], b[2:6, :4, :4] = 1, 1  # overlap 2 of the 6 slabs in the union
    assert iou(a, b) == pytest.approx(1 / 3)


def test_voxelized_box_and_sphere_have_the_expected_volume():
    import trimesh

    # the longest side spans 90% of the unit cube (5% margin each side); a cell is occupied when it lies inside or
    # the surface passes through it, so the count lies between the solid's volume and that of the solid grown by
    # one cell each side
    n = 32
    box = voxelize(trimesh.creation.box(extents=(1.0, 1.0, 1.0)), n)
    assert box.shape == (n, n, n) and set(np.unique(box)) == {0.0, 1.0}
    assert (0.9 * n) ** 3 <= box.sum() <= (0.9 * n + 2) ** 3
    ball = voxelize(trimesh.creation.icosphere(subdivisions=3), n)
    assert 4 / 3 * np.pi * (0.45 * n) ** 3 * 0.98 <= ball.sum() <= 4 / 3 * np.pi * (0.45 * n + 1) ** 3
    centre = np.argwhere(ball).mean(axis=0)
    assert np.allclose(centre, (n - 1) / 2, atol=0.5)  # centred in the grid


def test_mesh_export_reads_back(tmp_path):
    import trimesh

    path = save_surface(torch.from_numpy(sphere(16)), tmp_path / "ball.ply")
    mesh = trimesh.load(path)
    assert len(mesh.faces) > 100 and mesh.is_watertight
    assert save_surface(torch.zeros(8, 8, 8), tmp_path / "empty.ply") is None  # nothing to mesh, no file


# --- loaders ------------------------------------------------------------------------------------------------------


def test_loaders_read_every_format(tmp_path):
    import nibabel
    import trimesh
    from scipy.io import savemat

    ball = sphere(16)
    np.save(tmp_path / "a.npy", ball)
    np.savez(tmp_path / "b.npz", occ=ball.astype(bool), other=np.zeros(3))
    savemat(tmp_path / "c.mat", {"hypercube": ball * 7 + 1})  # a density: scaled to [0, 1]
    nibabel.save(nibabel.Nifti1Image(ball[..., None], np.eye(4)), tmp_path / "d.nii.gz")
    for name, kw in [("a.npy", {}), ("b.npz", {"key": "occ"}), ("c.mat", {}), ("d.nii.gz", {})]:
        vol = load_volume(tmp_path / name, 0, **kw)
        assert vol.shape == (16, 16, 16) and torch.equal(vol, torch.from_numpy(ball)), name
    assert load_volume(tmp_path / "a.npy", 8).shape == (8, 8, 8)  # resampled, still binary
    assert set(load_volume(tmp_path / "a.npy", 8).unique().tolist()) == {0.0, 1.0}
    np.save(tmp_path / "density.npy", np.random.default_rng(0).random((16, 12, 8)))
    assert load_volume(tmp_path / "density.npy", 32).shape == (32, 24, 16)  # longer side to 32, aspect kept
    # a gzipped mesh is read in memory
    text = trimesh.creation.icosphere().export(file_type="obj")
    (tmp_path / "ball.obj.gz").write_bytes(gzip.compress(text.encode()))
    assert load_volume(tmp_path / "ball.obj.gz", 16).sum() > 0.2 * 16**3


def _bad_inputs(tmp_path):
    import trimesh
    from scipy.io import savemat

    ball = sphere(16)
    np.save(tmp_path / "zeros.npy", np.zeros((16, 16, 16)))
    np.save(tmp_path / "ones.npy", np.ones((16, 16, 16)))
    np.save(tmp_path / "flat.npy", ball[0])
    np.save(tmp_path / "thin.npy", ball[:, :, 6:9])
    np.savez(tmp_path / "two.npz", a=ball, b=ball)
    savemat(tmp_path / "wrong.mat", {"cube": ball})
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "junk.obj").write_bytes(b"\x00\x01 not a mesh")
    open_box = trimesh.creation.box()
    open_box.update_faces(np.arange(len(open_box.faces)) > 0)  # one face removed: a hole
    open_box.export(tmp_path / "open.ply")
    return [
        ("open.ply", 16, "not watertight.*--surface_only=True"),
        ("zeros.npy", 0, "all zeros"),
        ("ones.npy", 0, "all ones"),
        ("flat.npy", 0, "expected a 3D volume"),
        ("thin.npy", 0, "side below 8"),
        ("thin.npy", 16, "side below 8"),
        ("two.npz", 0, "holds 2 arrays \\(a, b\\)"),
        ("wrong.mat", 0, "no variable 'hypercube'; its variables: cube"),
        ("a.npy", 4, "--resolution must be"),
        ("open.ply", 0, "a mesh needs a voxel grid"),
        ("missing.npy", 0, "not found"),
        ("empty.npy", 0, "empty \\(0 bytes\\)"),
        ("junk.npy", 0, "not a readable .npy"),
        ("junk.obj", 16, "junk.obj"),
    ]


def test_bad_inputs_raise_one_line_user_errors(tmp_path):
    np.save(tmp_path / "a.npy", sphere(16))
    for name, resolution, message in _bad_inputs(tmp_path):
        with pytest.raises(UserError, match=message) as e:
            load_volume(tmp_path / name, resolution)
        assert "\n" not in str(e.value), name


def test_surface_only_keeps_an_open_mesh_as_its_surface(tmp_path):
    import trimesh

    open_box = trimesh.creation.box()
    open_box.update_faces(np.arange(len(open_box.faces)) > 0)
    shell = voxelize(open_box, 32, surface_only=True)
    full = voxelize(trimesh.creation.box(), 32)
    assert 0 < shell.sum() < full.sum()


# --- the script ---------------------------------------------------------------------------------------------------


def test_small_fit_reaches_iou_and_writes_outputs(tmp_path):
    np.save(tmp_path / "ball.npy", sphere(16))
    proc = run_script(f"--data={tmp_path / 'ball.npy'}", *SMALL, "--steps=100", "--log_every=50", f"--out={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    run = run_folder(proc)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iou"] > 0.9, summary
    assert {"mse", "n_params", "steps", "wall_time_s", "device", "peak_memory_mb"} <= set(summary)
    assert (run / "metrics.csv").read_text().splitlines()[0] == "step,time_s,loss,lr,iou"
    for name in ("target.ply", "prediction.ply", "figures/preview.png", "figures/curves.png"):
        assert (run / name).stat().st_size > 0, name


def test_tiled_training_resumes_exactly(tmp_path):
    # the tile of each step comes from the step alone: a fit stopped at 6 steps and resumed to 12 equals a 12-step
    # fit (a constant rate: a cosine schedule depends on the total step count)
    from oinr.fit.loop import FitConfig, fit

    target = torch.from_numpy(sphere(12))[None, None]  # (1, 1, 12, 12, 12)

    def train(steps, run, resume=None):
        torch.manual_seed(0)
        model = OINR(None, 1, widths=(4, 4), dims=3, octaves=2)
        grid = model.make_input((12, 12, 12))
        tiles = tiles_for((12, 12, 12), tile_side_for((12, 12, 12), 1000, model.receptive_radius()), 3)
        assert len(tiles) > 1

        def loss_fn(m, step):
            t = tile_at(tiles, step, seed=1)
            out = m(grid[(..., *t.crop)])[(..., *t.inner)]
            return torch.nn.functional.binary_cross_entropy_with_logits(out, target[(..., *t.interior)])

        run.mkdir()
        fc = FitConfig(steps=steps, lr=1e-2, schedule="constant", progress=False, ckpt_every=6)
        fit(model, loss_fn, fc, run=run, resume=resume)
        return model.state_dict()

    whole = train(12, tmp_path / "a")
    train(6, tmp_path / "b")
    resumed = train(12, tmp_path / "c", resume=tmp_path / "b" / "ckpt.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_missing_data_exits_2_with_one_error_line(tmp_path):
    proc = run_script(f"--data={tmp_path / 'missing.npy'}", f"--out={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not found" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "3dvolume").exists()  # nothing written for a bad input


def test_volume_too_large_for_memory_is_refused_in_one_line(tmp_path):
    import resource

    cap = 3 * 2**30  # a 3 GiB address-space limit

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    out = tmp_path / "results"
    args = ["--resolution=400", f"--out={out}", "--progress=false"]
    proc = subprocess.run([sys.executable, str(TRAIN), *args], capture_output=True, text=True, preexec_fn=limit,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: a volume of 400x400x400 needs about") and "--resolution=" in line, line
    assert not out.exists()
