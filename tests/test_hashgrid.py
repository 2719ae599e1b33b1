"""The hash-grid baseline: exact dense levels, the paper's hash, continuity, gradients, budgets, fits, bad input."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from oinr.errors import UserError
from oinr.models import hashgrid
from oinr.models.baselines import CoordinateMLP
from oinr.models.conv import n_params
from oinr.models.hashgrid import (
    MIN_TABLE,
    PRIMES,
    HashEncoding,
    HashGrid,
    _Interpolate,
    count_params,
    level_resolutions,
    mlp_params,
    size_for_budget,
    table_size_for_budget,
)
from oinr.models.registry import build_model

ROOT = Path(__file__).resolve().parent.parent


def _encoding(dims: int, table_size: int) -> HashEncoding:
    """4 levels (N = 4, 6, 11, 20) in float64 with N(0, 1) features, so that errors are not hidden by 1e-4 values."""
    torch.manual_seed(0)
    enc = HashEncoding(dims, levels=4, features=2, table_size=table_size, min_res=4, max_res=20).double()
    with torch.no_grad():
        enc.table.normal_()
    return enc


def _vertices(n: int, dims: int) -> torch.Tensor:
    """All (n + 1)^d integer vertices of a level, row-major, ``(V, d)``."""
    axes = torch.meshgrid(*[torch.arange(n + 1)] * dims, indexing="ij")
    return torch.stack(axes, -1).reshape(-1, dims)


def test_resolutions_follow_the_paper():
    res = level_resolutions(16, 16, 256)
    assert res[0] == 16 and res[-1] == 256 and res == sorted(res)
    b = math.exp((math.log(256) - math.log(16)) / 15)
    assert res == [math.floor(16 * b**lvl + 1e-9) for lvl in range(16)]


@pytest.mark.parametrize("dims,table_size", [(2, 300), (3, 2000)])
def test_exact_on_grid_points(dims, table_size):
    enc = _encoding(dims, table_size)
    assert enc.n_dense == 3  # N = 20 has 21^d vertices > T: hashed
    for level, n in enumerate(enc.resolutions):
        v = _vertices(n, dims)
        x = v.double() / n * 2 - 1  # the vertices' coordinates in [-1, 1]
        got = enc(x).view(len(v), enc.levels, 2)[:, level]  # (V, F)
        if level < enc.n_dense:  # dense: row-major vertex index
            row = sum(v[:, k] * (n + 1) ** (dims - 1 - k) for k in range(dims))
        else:  # the paper's hash: XOR of coordinate * prime in uint32, mod T
            row = torch.tensor([_hash(tuple(p.tolist()), table_size) for p in v])
        want = enc.table[:, enc.level_slice(level)][:, row].T  # (V, F)
        assert torch.allclose(got, want, atol=1e-12), f"level {level}"


def _hash(vertex: tuple, table_size: int) -> int:
    h = 0
    for x, p in zip(vertex, PRIMES):
        h ^= (x * p) % 2**32
    return h % table_size


@pytest.mark.parametrize("dims", [2, 3])
def test_continuous_across_cell_borders(dims):
    """d-linear interpolation is Lipschitz: |f(a) - f(b)| <= |a - b|_1 * N_max * max|table| * 2 per level."""
    enc = _encoding(dims, 300 if dims == 2 else 2000)
    g = torch.Generator().manual_seed(1)
    bound = 2 * enc.table.abs().max() * max(enc.resolutions) / 2  # per unit of x in [-1, 1] (u = (x + 1) / 2)
    for n in enc.resolutions:  # points on a cell border of every level, nudged by +-eps along axis 0
        border = torch.randint(1, n, (64, 1), generator=g).double() / n * 2 - 1
        rest = torch.rand(64, dims - 1, generator=g, dtype=torch.float64) * 2 - 1
        x = torch.cat([border, rest], 1)  # (64, d)
        eps = 1e-9
        step = torch.zeros(dims, dtype=torch.float64)
        step[0] = eps
        jump = (enc(x + step) - enc(x - step)).abs().max()
        assert jump <= 2 * eps * bound * 1.01, f"N={n}: jump {jump:.3g} across a border"


def test_gradients_reach_every_level():
    torch.manual_seed(0)
    model = HashGrid(2, 3, levels=16, features=2, table_size=2**10, min_res=4, max_res=64)
    out = model(model.make_input((64, 64)))  # (1, 3, 64, 64)
    assert out.shape == (1, 3, 64, 64)
    out.square().mean().backward()
    enc = model.encoding
    assert 0 < enc.n_dense < enc.levels  # both kinds of level are exercised
    for level in range(enc.levels):
        g = enc.table.grad[:, enc.level_slice(level)]
        assert g.abs().sum() > 0, f"level {level} gets no gradient"
    # the interpolation's hand-written backward (a scatter-add) against finite differences
    table = torch.randn(2, 10, dtype=torch.float64, requires_grad=True)
    idx = torch.randint(0, 10, (7, 4))  # repeated rows included
    w = torch.rand(7, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: _Interpolate.apply(t, idx, w), (table,))


def test_param_count_and_budget():
    for dims, max_res in [(2, 256), (3, 64)]:
        for t in (1, 100, 2**14, 2**20):
            model = HashGrid(dims, 1, table_size=t, max_res=max_res)
            assert n_params(model) == count_params(dims, 1, t, max_res=max_res)
    for ppp in (0.1, 0.25, 0.5, 1.5):  # the rate-distortion budgets on a 256 x 256 image
        budget = round(ppp * 256 * 256)
        t = table_size_for_budget(2, 1, budget, max_res=256)
        assert abs(count_params(2, 1, t, max_res=256) - budget) <= 0.05 * budget
    with pytest.raises(UserError, match=r"the smallest it can meet is (\d+)") as e:
        table_size_for_budget(2, 1, 5000, max_res=256)
    smallest = int(e.value.args[0].split("the smallest it can meet is ")[1].split()[0])
    table_size_for_budget(2, 1, smallest, max_res=256)  # meetable
    with pytest.raises(UserError):
        table_size_for_budget(2, 1, smallest - 1, max_res=256)


def _model(dims: int, table_size: int, dtype=torch.float32) -> HashGrid:
    """A hash grid with dense and hashed levels and N(0, 1) features (so that errors are not hidden by 1e-4 values)."""
    torch.manual_seed(0)
    model = HashGrid(dims, 2, levels=5, table_size=table_size, min_res=4, max_res=24).to(dtype)
    with torch.no_grad():
        model.encoding.table.normal_()
    return model


def _grads(model, out, upstream):
    model.zero_grad()
    (out * upstream).sum().backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("dims,table_size,shape", [(2, 300, (37, 29)), (3, 2000, (13, 11, 9))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_precomputed_grid_equals_per_call(dims, table_size, shape, dtype, one_thread):
    """make_input's sparse lookup against the lookup computed per call (forward on a copy of the grid): equal to
    float rounding, forward and every parameter's gradient (2 ulp of float32 measured, 1e-6 allowed)."""
    model = _model(dims, table_size, dtype)
    enc = model.encoding
    assert 0 < enc.n_dense < enc.levels  # both kinds of level
    grid = model.make_input(shape)
    assert model._grid is not None and model._grid[0] is grid
    fast, slow = model(grid), model(grid.clone())  # (1, 2, *shape); a copy is another grid: computed per call
    assert fast.shape == slow.shape == (1, 2, *shape)
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    scale = slow.abs().max()
    assert (fast - slow).abs().max() <= tol * scale
    # the encoding alone (linear in the table): its features and the table's gradient for one upstream gradient
    x = grid.movedim(1, -1).reshape(-1, dims)  # (P, d)
    lookup = model._grid[2]
    feats_fast = hashgrid._SparseInterpolate.apply(enc.table, lookup).view(len(x), -1)  # (P, L * F)
    feats_slow = enc(x)
    assert (feats_fast - feats_slow).abs().max() <= tol * feats_slow.abs().max()
    g = torch.randn_like(feats_slow)
    gf = torch.autograd.grad((feats_fast * g).sum(), enc.table)[0]
    gs = torch.autograd.grad((feats_slow * g).sum(), enc.table)[0]
    assert (gf - gs).abs().max() <= tol * gs.abs().max() * 10  # up to ~(N_max / N_min)^d terms per entry
    # the whole model: every parameter's gradient
    up = torch.randn_like(slow)
    for a, b in zip(_grads(model, model(grid), up), _grads(model, model(grid.clone()), up)):
        assert (a - b).abs().max() <= 1e-3 * b.abs().max() + tol  # a ReLU kink may sit within rounding


@pytest.mark.parametrize("dims,table_size,shape", [(2, 300, (37, 29)), (3, 2000, (13, 11, 9))])
def test_points_lookup_is_bit_identical(dims, table_size, shape, one_thread):
    """forward_points through the per-grid rows against the per-call lookup: the same bits, output and gradients."""
    model = _model(dims, table_size)
    g = torch.Generator().manual_seed(1)
    n = math.prod(shape)
    for idx in (torch.randint(0, n, (500,), generator=g), torch.arange(n)):  # a batch with repeats, every cell
        fast = model.forward_points(idx, shape)  # (P, 2)
        slow = CoordinateMLP.forward_points(model, idx, shape)
        assert model._cells is not None and model._cells[0] == shape
        assert torch.equal(fast, slow)
        up = torch.randn(fast.shape, generator=g)
        assert all(torch.equal(a, b) for a, b in zip(_grads(model, fast, up), _grads(model, slow, up)))
    assert model._cells[2].shape == (n, model.encoding.levels, 2**dims)


def test_lookup_only_for_its_grid(monkeypatch, one_thread):
    """A grid changed in place, one that needs coordinate gradients, or a lookup over the memory cap: computed per
    call, and the same numbers."""
    model = _model(2, 300)
    grid = model.make_input((20, 20))
    want = model(grid.clone())  # per call
    grid.mul_(1.0)  # same values, a new version: the lookup no longer vouches for it
    assert torch.equal(model(grid), want)
    assert torch.equal(model(grid.clone().requires_grad_()), want)
    monkeypatch.setattr(hashgrid, "LOOKUP_MAX_BYTES", 0)
    grid = model.make_input((20, 20))
    assert model._grid is None and torch.equal(model(grid), want)
    idx = torch.arange(400)
    out = model.forward_points(idx, (20, 20))
    assert model._cells is None and torch.equal(out, CoordinateMLP.forward_points(model, idx, (20, 20)))


def test_copies_leave_the_lookups_behind(one_thread):
    import copy

    model = _model(2, 300)
    grid = model.make_input((16, 16))
    model.forward_points(torch.arange(10), (16, 16))
    twin = copy.deepcopy(model)  # sparse tensors cannot be deep-copied: the twin starts without lookups
    assert twin._grid is None and twin._cells is None
    assert torch.equal(twin(grid), model(grid.clone()))
    assert (twin(grid) - model(grid)).abs().max() <= 1e-6 * model(grid).abs().max()


def test_size_for_budget_like_a_user():
    """16 levels while every table keeps >= MIN_TABLE entries, fewer below; refused when the MLP holds > half."""
    for ppp, hw, levels in [
        (0.25, (256, 256), 16),
        (0.25, (171, 256), 9),
        (0.5, (171, 256), 16),
        (1.5, (256, 256), 16),
    ]:
        budget = round(ppp * hw[0] * hw[1])
        n, t = size_for_budget(2, 1, budget, max_res=max(hw))
        assert (n, t >= MIN_TABLE) == (levels, True), (ppp, hw, n, t)
        assert abs(count_params(2, 1, t, n, max_res=max(hw)) - budget) <= 0.05 * budget
        assert mlp_params(1, n) <= budget / 2
        for more in range(n + 1, 17):  # every larger level count: an MLP over half, or tables below MIN_TABLE
            small = table_size_for_budget(2, 1, budget, more, max_res=max(hw)) < MIN_TABLE
            assert small or mlp_params(1, more) > budget / 2, (ppp, hw, more)
    with pytest.raises(UserError, match="mostly its MLP"):  # 0.1 parameters per pixel at 256^2
        size_for_budget(2, 1, round(0.1 * 256 * 256), max_res=256)


@pytest.mark.parametrize(
    "cfg,message",
    [
        ({"HASH_LEVELS": 0}, "hash_levels"),
        ({"HASH_LOG2_T": 12.5}, "hash_log2_t"),
        ({"HASH_LOG2_T": 31}, "hash_log2_t"),
        ({"HASH_MIN_RES": 64, "HASH_MAX_RES": 32}, "hash_min_res"),
        ({"HASH_FEATURES": 0}, "features"),
    ],
)
def test_bad_settings_refused(cfg, message):
    with pytest.raises(UserError, match=message):
        build_model({"SIZE": 32, **cfg}, 2, 1, "hashgrid")


def _run(script, *args, cwd):
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)  # fmt: skip


def test_2dimage_fit_reaches_psnr(tmp_path):
    """The script with --model=hashgrid: the cameraman at 32 px, 60 steps of Adam(1e-2, (0.9, 0.99), 1e-15)."""
    proc = _run("2dimage/train.py", "--model=hashgrid", "--size=32", "--steps=60", "--progress=false",
                "--hash_log2_t=10", f"--out={tmp_path}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["psnr"] > 35.0, summary  # measured 46.6 dB
    assert summary["n_params"] == count_params(2, 1, 2**10, max_res=32)
    assert json.loads((run / "config.json").read_text())["config"]["HASH_MAX_RES"] == 32


def test_3dvolume_on_voxel_batches(tmp_path):
    """A pointwise model: the bunny at 16^3 trained on batches of 512 voxels, half near the surface
    (T = 2^13 keeps every level dense)."""
    args = ["--model=hashgrid", "--resolution=16", "--steps=48", "--batch=512", "--log_every=48",
            "--schedule=constant", "--progress=false", "--hash_log2_t=13", f"--out={tmp_path}"]  # fmt: skip
    proc = _run("3dvolume/train.py", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "512 voxels (50% near the surface) per step" in proc.stdout
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["tiles"] == 0 and summary["iou"] > 0.9, summary


def test_script_refuses_bad_levels(tmp_path):
    proc = _run(
        "2dimage/train.py", "--model=hashgrid", "--size=32", "--hash_levels=0", f"--out={tmp_path}", cwd=tmp_path
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
    assert "hash_levels" in proc.stderr and not (tmp_path / "2dimage").exists()
