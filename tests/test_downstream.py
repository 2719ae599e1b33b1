"""Downstream: one-pass derivatives (oinr.downstream.derivative), weight interpolation (oinr.downstream.weight_path)."""

import json
from pathlib import Path

import pytest
import torch
from scripts import run_folder, run_script

from oinr.downstream.derivative import (
    compare,
    coordinate_derivatives,
    finite_differences,
    image_derivatives,
    operator_derivatives,
    shift_autograd,
)
from oinr.downstream.weight_path import fingerprint, path_metrics, render_path, weight_path
from oinr.encoding import axis_coords
from oinr.errors import UserError
from oinr.fit.loop import FitConfig, fit
from oinr.fit.runs import load_checkpoint, save_checkpoint
from oinr.models.baselines import SIREN
from oinr.models.conv import OINR
from oinr.models.ensemble import Ensemble

ROOT = Path(__file__).resolve().parent.parent
DERIVE = ROOT / "downstream" / "derivative" / "derive.py"
INTERPOLATE = ROOT / "downstream" / "interpolate" / "interpolate.py"
TINY = ["--progress=false", "--widths=8,8", "--octaves=3"]


@pytest.mark.parametrize("bias,noise,method", [(False, 0, "chain"), (True, 0, "chain"), (False, 2, "jvp")])
def test_one_pass_derivative_equals_autograd(bias, noise, method):
    torch.manual_seed(0)
    model = OINR(None, 2, widths=(8, 8), kernel_size=3, octaves=4, first_kernel_size=1, first_omega=3.0, bias=bias,
                 noise_channels=noise)  # fmt: skip
    shape = (20, 24)  # 4 octaves: the top one is zeroed on the 20-row axis (Nyquist cap), kept on the other
    out, d = operator_derivatives(model, shape, method=method)
    auto = shift_autograd(model, shape)
    assert d.shape == (2, 2, 20, 24) and torch.allclose(out, model(model.make_input(shape)), atol=1e-6)
    assert float((d - auto).abs().max() / auto.abs().max()) < 1e-5
    _, d_graph = operator_derivatives(model, shape, method=method, create_graph=True)  # out-of-place path
    assert torch.allclose(d_graph, d, rtol=1e-5, atol=1e-6)


def test_coordinate_mlp_derivative_matches_its_formula():
    torch.manual_seed(0)
    siren = SIREN(2, 1, hidden=16, layers=1, omega0=5.0)
    lin, last = siren.net[0].linear, siren.net[1]
    _, d = coordinate_derivatives(siren, (6, 7))  # (2, 1, 6, 7)
    x = torch.stack(torch.meshgrid(axis_coords(6), axis_coords(7), indexing="ij"), dim=-1)  # (6, 7, 2)
    slope = 5.0 * torch.cos(5.0 * lin(x))  # (6, 7, 16): d sin(w z) / dz
    exact = torch.einsum("hwk,ok,kd->dohw", slope, last.weight, lin.weight)  # (2, 1, 6, 7)
    assert torch.allclose(d, exact, atol=1e-5)


def _bumps(n):
    """Two Gaussians on the n x n grid in [0, 1] ``(1, n, n)`` and their exact derivative per pixel ``(2, 1, n, n)``."""
    x = axis_coords(n, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(x, x, indexing="ij"), dim=-1)  # (n, n, 2): (row, col) = (y, x)
    f, df = torch.zeros(n, n, dtype=torch.float64), torch.zeros(n, n, 2, dtype=torch.float64)
    for amp, centre, var in ((1.0, (-0.1, 0.2), 0.09), (-0.6, (0.4, -0.4), 0.04)):
        diff = pts - torch.tensor(centre, dtype=torch.float64)  # (n, n, 2)
        e = amp * torch.exp(-diff.square().sum(-1) / (2 * var))
        f, df = f + e, df - diff / var * e[..., None]
    img = 0.4 + 0.4 * f
    d = df.permute(2, 0, 1)[:, None] * 0.4 * 2 / (n - 1)  # (2, 1, n, n) per pixel
    return img[None].float(), d.float()


def test_fitted_network_derivative_is_close_to_analytic():
    # downstream/derivative/smooth.py's setting (a low-frequency O-INR) on two Gaussians; the filters alongside
    torch.manual_seed(0)
    n = 32
    img, exact = _bumps(n)
    model = OINR(None, 1, widths=(16, 16), kernel_size=3, octaves=2, first_kernel_size=1, first_omega=1.0)
    grid, y = model.make_input((n, n)), img[None] * 2 - 1
    fit(model, lambda m, s: ((m(grid) - y) ** 2).mean(), FitConfig(steps=600, lr=1e-2, progress=False))
    _, d = image_derivatives(model, (n, n))
    margin = model.receptive_radius()
    got = compare(d, exact, margin)
    assert got["corr"] > 0.93 and got["rel_err"] < 0.4, got  # measured 0.956 and 0.306 (fit: 43.9 dB)
    assert compare(finite_differences(img, "central"), exact, margin)["rel_err"] < 0.05  # the reference is right


def _pair_fit(same_init=True):
    torch.manual_seed(0)
    first = OINR(None, 1, widths=(8,), kernel_size=3, octaves=3)
    second = first if same_init else OINR(None, 1, widths=(8,), kernel_size=3, octaves=3)
    ens = Ensemble([first, second])
    grid = ens.make_input((12, 12))
    ys = torch.rand(2, 1, 1, 12, 12, generator=torch.Generator().manual_seed(1)) * 2 - 1
    fit(ens, lambda m, s: ((m(grid) - ys) ** 2).mean(dim=(1, 2, 3, 4)), FitConfig(steps=30, lr=1e-2, progress=False))
    return first, second, ens, grid


def test_path_ends_reproduce_the_two_fits():
    first, _, ens, grid = _pair_fit()
    ts = [i / 10 for i in range(11)]
    init = fingerprint(first)
    states = weight_path(ens.member_state(0), ens.member_state(1), ts, init, init)
    for end, k in ((states[0], 0), (states[-1], 1)):
        assert all(torch.equal(end[n], ens.member_state(k)[n]) for n in end)  # bit for bit
    frames = render_path(first, states, grid)  # (11, 1, 12, 12)
    with torch.no_grad():
        fits = ens(grid)[:, 0]  # (2, 1, 12, 12)
        assert torch.allclose(frames[0], fits[0], atol=1e-6) and torch.allclose(frames[-1], fits[1], atol=1e-6)
        assert torch.allclose(frames[0], ens.member(0)(grid)[0], atol=1e-6)
    unit = lambda y: ((y + 1) / 2).clamp(0, 1)
    m = path_metrics(unit(frames), unit(fits[0]), unit(fits[1]), ts)
    assert m["psnr_t"][0] > 100 and m["psnr_t"][-1] > 100 and m["tv_ratio"] >= 1.0 - 1e-6


def test_interpolation_refuses_different_initialisations():
    first, second, ens, _ = _pair_fit(same_init=False)
    a, b = ens.member_state(0), ens.member_state(1)
    with pytest.raises(UserError, match="different initialisations"):
        weight_path(a, b, [0.0, 0.5, 1.0], fingerprint(first), fingerprint(second))
    states = weight_path(a, b, [0.0, 0.5, 1.0], fingerprint(first), fingerprint(second), allow_different_init=True)
    assert torch.allclose(states[1]["last.weight"], (a["last.weight"] + b["last.weight"]) / 2, atol=1e-7)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    conv = ROOT / "2dimage" / "conv.py"  # derive.py reads the conv O-INR
    proc = run_script(ROOT / "2dimage" / "train.py", conv, *TINY, "--size=24", "--steps=30", f"--out={out}")
    assert proc.returncode == 0, proc.stderr
    return run_folder(proc)


def test_derive_end_to_end(image_run, tmp_path):
    proc = run_script(DERIVE, f"--run={image_run}", "--baselines=siren", "--baseline_steps=20", "--hidden=16",
                      "--progress=false", "--timing_repeats=1", f"--out={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = run_folder(proc)
    s = json.loads((run / "summary.json").read_text())
    assert s["max_rel_diff_autograd"] < 1e-5 and s["time_ratio"] > 0
    assert {"rel_err_sobel", "corr_sobel", "rel_err_central", "corr_central", "siren_rel_err_sobel"} <= set(s)
    assert (run / "figures" / "derivatives.png").stat().st_size > 0
    assert (run / "baselines" / "siren" / "ckpt.pt").is_file()


def _edited_copy(run: Path, dest: Path, config=None, meta=None) -> Path:
    import shutil

    shutil.copytree(run, dest)
    if config:
        f = dest / "config.json"
        doc = json.loads(f.read_text())
        doc["config"].update(config)
        f.write_text(json.dumps(doc))
    if meta:
        state = load_checkpoint(dest / "ckpt.pt")
        state["meta"].update(meta)
        save_checkpoint(dest / "ckpt.pt", **state)
    return dest


def test_derive_bad_inputs_exit_2(image_run, tmp_path):
    no_ckpt = _edited_copy(image_run, tmp_path / "no_ckpt")
    (no_ckpt / "ckpt.pt").unlink()
    cases = {
        tmp_path / "missing": "not a run folder",
        no_ckpt: "no ckpt.pt",
        _edited_copy(image_run, tmp_path / "volume", meta={"experiment": "3dvolume", "dims": 3}): "'2dimage' run",
        _edited_copy(image_run, tmp_path / "mismatch", config={"WIDTHS": [12, 12]}): "does not match",
    }
    out = tmp_path / "out"
    for run, message in cases.items():
        proc = run_script(DERIVE, f"--run={run}", f"--out={out}")
        assert proc.returncode == 2, (run, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (run, proc.stderr)
    assert not out.exists()  # nothing written


def test_interpolate_end_to_end(tmp_path):
    proc = run_script(INTERPOLATE, *TINY, "--size=16,16", "--steps=20", "--models=multiscale,oinr,siren",
                      "--hidden=16", f"--out={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads((run_folder(proc) / "summary.json").read_text())
    for name in ("multiscale", "oinr", "siren"):
        row = s["methods"][name]
        assert len(row["psnr_t"]) == 11 and row["min_psnr"] == min(row["psnr_t"])
        assert row["psnr_t"][0] >= row["fit_psnr_a"] - 1e-3  # theta(0) renders the first fit (clamped: never worse)
        assert row["tv"] > 0 and row["tv_blend"] > 0  # (20 steps: the fits, and so the path, fall short of the images)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--size=0"], "differ in size"),  # 256x256 against 512x768, no resize asked for
        (["--same_init=false"], "different initialisations"),
        (["--models=oinr,mlp"], "unknown method"),
        (["--data_b=/nonexistent.png"], "not found"),
    ],
)
def test_interpolate_bad_inputs_exit_2(tmp_path, args, message):
    proc = run_script(INTERPOLATE, *TINY, *args, f"--out={tmp_path / 'out'}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()
