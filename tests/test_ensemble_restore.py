"""Many models in one fit (oinr.models.ensemble) and a model from a run folder (oinr.fit.restore)."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from oinr.errors import UserError
from oinr.fit.loop import FitConfig, fit
from oinr.fit.restore import load_run
from oinr.metrics import psnr
from oinr.models.baselines import SIREN
from oinr.models.conv import OINR
from oinr.models.ensemble import Ensemble

ROOT = Path(__file__).resolve().parent.parent


def _targets(k, shape=(16, 16)):
    g = torch.Generator().manual_seed(1)
    return torch.rand(k, 1, 1, *shape, generator=g) * 2 - 1  # (K, 1, 1, H, W)


@pytest.mark.parametrize("make", [lambda: OINR(None, 1, widths=(8, 8), kernel_size=3, octaves=3),
                                  lambda: SIREN(2, 1, hidden=16, layers=2)])  # fmt: skip
def test_ensemble_equals_separate_fits(make):
    torch.manual_seed(0)
    models = [make() for _ in range(3)]
    singles = [copy.deepcopy(m) for m in models]
    ens = Ensemble(models)
    grid = models[0].make_input((16, 16))
    ys = _targets(3)
    fc = FitConfig(steps=25, lr=5e-3, progress=False)
    res = fit(ens, lambda m, s: ((m(grid) - ys) ** 2).mean(dim=(1, 2, 3, 4)), fc)
    assert res.member_steps.tolist() == [25, 25, 25] and not res.diverged.any()
    for k, m in enumerate(singles):
        fit(m, lambda mm, s, k=k: ((mm(grid) - ys[k]) ** 2).mean(), fc)
        for a, b in zip(ens.member(k).parameters(), m.parameters()):
            assert torch.allclose(a, b, atol=1e-5), (k, (a - b).abs().max())
    assert ens.flat_weights().shape == (3, sum(p.numel() for p in singles[0].parameters()))


def test_ensemble_member_divergence_and_stop_are_per_member():
    torch.manual_seed(0)
    ens = Ensemble.replicate(OINR(None, 1, widths=(8,), kernel_size=3, octaves=3), 3)
    grid = ens.make_input((12, 12))
    ys = _targets(3, (12, 12))
    ys[1] = float("nan")  # member 1 cannot be fitted: its loss is NaN from the first step
    before = ens.member_state(1)

    def loss_fn(m, step):
        return ((m(grid) - ys) ** 2).mean(dim=(1, 2, 3, 4))

    # member 2 stops as soon as it is below a loose loss bound; member 0 trains on
    res = fit(ens, loss_fn, FitConfig(steps=30, lr=1e-2, log_every=5, progress=False),
              stop_each=lambda metrics: metrics["loss"] < torch.tensor([0.0, 0.0, 10.0]))  # fmt: skip
    assert res.diverged.tolist() == [False, True, False]
    assert res.stopped.tolist() == [False, False, True]
    assert res.member_steps.tolist() == [30, 0, 1]
    after = ens.member_state(1)
    assert all(torch.equal(before[n], after[n]) for n in before)  # frozen bit for bit
    assert torch.isfinite(ens.flat_weights()).all()


def test_model_from_run_folder_reproduces_psnr(tmp_path):
    args = ["--size=24", "--steps=30", "--widths=8,8", "--octaves=3", "--progress=false", f"--out={tmp_path}"]
    proc = subprocess.run([sys.executable, str(ROOT / "2dimage" / "train.py"), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    summary = json.loads((run / "summary.json").read_text())
    restored = load_run(run, experiment="2dimage")
    assert restored.meta["shape"] == summary["size"] and restored.step == 30
    from oinr.data.images import load_image
    from oinr.paths import resolve_path

    target = load_image(resolve_path("data/camera.png"), 24, verbose=False)
    assert psnr(restored.render(), target) == pytest.approx(summary["psnr"], abs=1e-4)
    with pytest.raises(UserError, match="'2dimage' run; a '3dvolume' run"):
        load_run(run, experiment="3dvolume")
    with pytest.raises(UserError, match="not a run folder"):
        load_run(tmp_path / "missing")
    (run / "ckpt.pt").unlink()
    with pytest.raises(UserError, match="no ckpt.pt"):
        load_run(run)
