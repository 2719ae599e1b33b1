"""Benchmark: 3D occupancy at equal wall time and equal parameter count: the multiscale O-INR (the 3dvolume
default), the full-resolution conv O-INR (3dvolume/conv.py, at its own lr), the hash grid, SIREN and WIRE
(WIRE's occupancy experiment compares these), every one sized to the multiscale model's parameter count.

    python bench/volume_fit.py [--resolution=128 --seconds=60 --methods=multiscale,hashgrid]

Every fit is the one timed fit (`oinr.fit.timed.timed_fit`): the grid-only parts (the conv model's input grid,
the surface band) built first, a warm-up step and a probe off the clock (the hash grid builds its per-voxel
table rows there), a cosine decay over the probed steps, its own learning rate and Adam constants, and a
hard stop at SECONDS. Each pointwise method trains on the same batches as 3dvolume/train.py (BATCH voxels
per step, half of them near the surface, `oinr.data.sampling`) with binary cross-entropy on logits; the conv
O-INR has no pointwise read-out and trains on the whole grid per step. The hash grid is sized as a user
would (`oinr.models.hashgrid.size_for_budget`). Scored on the whole grid, off the clock: IoU at 0.5 (also at
10, 25, 50 and 75% of the budget, for the time to IoU 0.99), and the Chamfer distance (unit-cube units)
between the marching-cubes surfaces of the prediction and the target (`oinr.metrics.chamfer`; two
samplings of one surface give about 0.002 at this size), seconds per step and peak memory of the process.
Timings depend on the machine and its load; compare within one run. Writes table.md and results.json into
OUT/bench/volume_fit/<timestamp>/.
"""

# data
DATA = "data/bunny_128.npz"  # a volume or a watertight mesh, as 3dvolume/train.py reads it
RESOLUTION = 128
# run
METHODS = ("multiscale", "oinr", "hashgrid", "siren", "wire")  # oinr: the conv preset 3dvolume/conv.py
SECONDS = 60.0  # training time per fit (5 methods: about 7 minutes with the warm-ups, probes and scoring)
THRESHOLD = 0.99  # the time-to-IoU column
SCORE_AT = (0.1, 0.25, 0.5, 0.75)  # fractions of SECONDS at which the IoU is scored, off the clock
SEED = 0
DEVICE = "auto"
# output
OUT = "results"  # the run goes to OUT/bench/volume_fit/<timestamp>/

import json  # noqa: E402
import math  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oinr.data.sampling import predict_points, sample_cells, surface_band  # noqa: E402
from oinr.data.surface import surface  # noqa: E402
from oinr.data.volume import load_volume  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.memory import peak_memory_mb  # noqa: E402
from oinr.fit.runs import new_run_dir, pick_device, seed_everything  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import chamfer, iou  # noqa: E402
from oinr.models.baselines import BASELINES, hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.function import set_fit_grid  # noqa: E402
from oinr.models.hashgrid import HashGrid, size_for_budget  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

TRAIN = REPO_ROOT / "3dvolume" / "train.py"
CONV = REPO_ROOT / "3dvolume" / "conv.py"


def build(name: str, base: dict, budget: int, max_res: int, device) -> tuple[torch.nn.Module, float]:
    """(method `name` at about `budget` parameters, its learning rate); the multiscale model sets the budget."""
    if name == "multiscale":
        return build_model(base, 3, 1, name).to(device), model_lr(base, name)
    if name == "oinr":  # the conv preset's widths, scaled by one factor to the budget; the preset's own lr
        cfg = {**base, **script_defaults(CONV)}
        w = max(1, round(cfg["WIDTHS"][0] * math.sqrt(budget / n_params(build_model(cfg, 3, 1, name)))))
        return build_model({**cfg, "WIDTHS": (w,) * len(cfg["WIDTHS"])}, 3, 1, name).to(device), model_lr(cfg, name)
    if name == "hashgrid":
        levels, t = size_for_budget(3, 1, budget, min_res=16, max_res=max_res)
        return HashGrid(3, 1, levels=levels, table_size=t, min_res=16, max_res=max_res).to(device), model_lr(base, name)
    cfg = {**base, "HIDDEN": hidden_for_budget(name, 3, 1, 3, budget), "LAYERS": 3}
    return build_model(cfg, 3, 1, name).to(device), model_lr({**cfg, "MODEL": name}, name)


def loss_for(model, vol: torch.Tensor, batch: int, band_fraction: float):
    """``loss_fn(model, step)`` of 3dvolume/train.py for this model, with everything that depends only on the grid
    built here, before the clock: the surface band (pointwise models) or the input grid (the conv model)."""
    shape, target = tuple(vol.shape), vol.flatten()
    if hasattr(model, "forward_points"):
        band = surface_band(vol, 2)  # (n_band,) flat indices near the surface

        def loss_fn(m, step):
            idx = sample_cells(target.numel(), band, batch, band_fraction, step, SEED)  # (BATCH,)
            return F.binary_cross_entropy_with_logits(m.forward_points(idx, shape)[:, 0], target[idx])

        return loss_fn
    cl = torch.channels_last_3d  # the conv model as 3dvolume/train.py runs it (about 2x faster 3D convs on a CPU)
    model.to(memory_format=cl)
    grid = model.make_input(shape).contiguous(memory_format=cl)  # (1, C_in, D, H, W)
    y = vol[None, None].contiguous(memory_format=cl)  # (1, 1, D, H, W)
    return lambda m, step: F.binary_cross_entropy_with_logits(m(grid), y)


@torch.no_grad()
def predict(model, shape) -> torch.Tensor:
    if hasattr(model, "forward_points"):
        return predict_points(model, shape)
    return model(model.make_input(shape))


def main():
    configure(globals())
    check(SECONDS > 0, f"--seconds must be > 0, got {SECONDS}")
    unknown = [m for m in METHODS if m not in ("multiscale", "oinr", "hashgrid", *BASELINES)]
    check(not unknown, f"unknown method(s) {', '.join(unknown)}")
    device = pick_device(DEVICE)
    base = script_defaults(TRAIN)
    vol = load_volume(resolve_path(DATA), RESOLUTION).to(device)  # (D, H, W) occupancy
    shape = tuple(vol.shape)
    target_surface = surface(vol.cpu())
    budget = n_params(build_model(base, 3, 1, "multiscale"))
    run = new_run_dir(OUT, "bench/volume_fit")
    print(f"{DATA} at {'x'.join(map(str, shape))}, {SECONDS:g} s per fit, budget {budget} parameters; run folder {run}")

    results = []
    for name in METHODS:
        seed_everything(SEED)
        model, lr = build(name, base, budget, max(shape), device)
        set_fit_grid(model, shape)  # the multiscale model's coarse grid, as 3dvolume/train.py sets it
        loss_fn = loss_for(model, vol, base["BATCH"], base["BAND_FRACTION"])
        score = lambda m: iou(torch.sigmoid(predict(m, shape))[0, 0], vol)
        out = timed_fit(model, lr, seconds=SECONDS, threshold=None, loss_fn=loss_fn, metric=float, score=score,
                        score_at=SCORE_AT)  # fmt: skip
        pred = torch.sigmoid(predict(model, shape))[0, 0].cpu()  # (D, H, W)
        final = iou(pred, vol.cpu())
        scores = out["scores"] + [(out["seconds"], final)]
        hit = next((t for t, s in scores if s >= THRESHOLD), None)
        cd = chamfer(surface(pred), target_surface)
        row = {"method": name, "params": n_params(model), "lr": lr, "iou": final, "chamfer": cd,
               "time_to_threshold": hit, "s_per_step": out["seconds"] / max(out["steps"], 1),
               "peak_memory_mb": peak_memory_mb(device), **out, "scores": scores}  # fmt: skip
        results.append(row)
        print(f"  {name:10s} {row['params']:>7d} params, lr {lr:g}: IoU {final:.4f}, Chamfer {cd:.4f}, "
              f"{out['steps']} steps ({row['s_per_step']:.3f} s each), IoU {THRESHOLD} at "
              f"{'—' if hit is None else f'{hit:.1f} s'}", flush=True)  # fmt: skip

    head = f"| method | params | steps | s/step | IoU | Chamfer | time to IoU {THRESHOLD} (s) | ratio to hashgrid |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    ref = next((r["time_to_threshold"] for r in results if r["method"] == "hashgrid"), None)
    for r in results:
        t = r["time_to_threshold"]
        ratio = f"{t / ref:.2f}" if t is not None and ref else "—"
        lines.append(f"| {r['method']} | {r['params']} | {r['steps']} | {r['s_per_step']:.3f} | {r['iou']:.4f} | "
                     f"{r['chamfer']:.4f} | {'—' if t is None else f'{t:.1f}'} | {ratio} |")  # fmt: skip
    table = "\n".join(lines) + "\n"
    (run / "table.md").write_text(table)
    (run / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print("\n" + table)
    print(f"run folder: {run}")


if __name__ == "__main__":
    cli(main)
