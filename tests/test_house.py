"""The shared core: point evaluation with size-1 axes, the registry's settings, progress in logs."""

import json
import subprocess
import sys

import pytest
import torch

from oinr.encoding import axis_coords, cell_coords
from oinr.fit.runs import progress
from oinr.models.registry import build_model, ignored_settings, model_settings
from oinr.paths import REPO_ROOT

SHAPES = [(7,), (1, 7), (6, 1), (5, 6, 1), (1, 4, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_cell_coords_match_the_grid(shape):
    """cell_coords puts every cell where axis_coords puts it, a size-1 axis included (at -1)."""
    idx = torch.arange(int(torch.tensor(shape).prod()))
    grid = torch.stack(torch.meshgrid(*[axis_coords(n) for n in shape], indexing="ij"), -1).reshape(-1, len(shape))
    assert torch.allclose(cell_coords(idx, shape), grid, atol=1e-6)


@pytest.mark.parametrize("name", ["multiscale", "siren", "ffn", "hashgrid"])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_points_equals_the_grid(name, shape):
    """Every model with forward_points gives, at all cells, what forward gives on the whole grid."""
    dims = len(shape)
    if name == "hashgrid" and dims == 1:
        pytest.skip("the hash grid is 2-d and 3-d")
    torch.manual_seed(0)
    cfg = {"MODEL": name, "HIDDEN": 16, "LAYERS": 2, "WIDTHS": (8,), "COARSE": 2, "HASH_LOG2_T": 8,
           "HASH_LEVELS": 4, "HASH_MAX_RES": 16, "OCTAVES": 3}  # fmt: skip
    model = build_model(cfg, dims, 2)
    full = model(model.make_input(shape)).flatten(2)[0].T  # (P, 2)
    idx = torch.arange(full.shape[0]).flip(0)
    assert torch.allclose(model.forward_points(idx, shape), full[idx], atol=1e-5)


def test_ignored_settings_name_what_the_model_does_not_read():
    cfg = {"MODEL": "multiscale", "WIDTHS": (8,), "INIT": "sine", "NOISE_CHANNELS": 0, "HIDDEN": 64, "STEPS": 5}
    assert ignored_settings(cfg) == ["HIDDEN", "INIT", "NOISE_CHANNELS"]
    assert ignored_settings(cfg, "oinr") == ["HIDDEN"]
    assert "HASH_LOG2_T" in model_settings() and "STEPS" not in model_settings()


def test_a_peer_setting_from_the_command_line_reaches_the_model_and_config(tmp_path):
    """HIDDEN is not in 2dimage/train.py's header, yet --hidden sets the baseline's width; MODEL's
    unread header settings are listed in config.json."""
    cmd = [sys.executable, str(REPO_ROOT / "2dimage" / "train.py"), "--model=siren", "--hidden=12", "--layers=1",
           "--size=16", "--steps=2", f"--out={tmp_path}", "--progress=false"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    run = next((tmp_path / "2dimage").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_params"] == 2 * 12 + 12 + 12 * 1 + 1  # (x, y) -> 12 -> gray
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["HIDDEN"] == 12 and "KERNEL" in config["ignored_settings"]
    bad = subprocess.run(cmd[:2] + ["--hiden=12"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: unknown setting 'hiden'")


def test_progress_in_a_log_is_ten_plain_lines(capsys):
    bar = progress(range(50), "fit", True)  # pytest's captured stderr is not a terminal
    for i in bar:
        bar.set_postfix({"loss": f"{1 / (i + 1):.3g}"})
    err = capsys.readouterr().err
    assert "\r" not in err and len(err.strip().splitlines()) == 10
    assert err.strip().splitlines()[-1] == "fit: 50/50 loss=0.02"
    assert list(progress(range(3), "quiet", False)) == [0, 1, 2] and capsys.readouterr().err == ""
