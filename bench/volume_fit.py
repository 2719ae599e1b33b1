"""Benchmark: 3D occupancy at equal wall time and equal parameter count: the multiscale O-INR (the 3dvolume
default), the full-resolution conv O-INR (3dvolume/conv.py), the hash grid, SIREN and WIRE (WIRE's occupancy
experiment compares these), every one sized to the multiscale model's parameter count.

    python bench/volume_fit.py [--resolution=128 --seconds=60 --methods=multiscale,hashgrid]

Each pointwise method trains on the same batches as 3dvolume/train.py (BATCH voxels per step, half of
them near the surface, `oinr.data.sampling`) with binary cross-entropy on logits, its own learning rate and
Adam settings, a cosine decay over the steps a short probe predicts for SECONDS, and stops at SECONDS;
the conv O-INR has no pointwise read-out and trains on the whole grid per step. Scored on the whole
grid: IoU at 0.5, and the Chamfer distance (unit-cube units) between the marching-cubes surfaces of the
prediction and the target (`oinr.metrics.chamfer`; two samplings of one surface give about 0.002 at
this size), time to IoU 0.99, seconds per step and peak memory of the process. Timings depend on the
machine and its load; compare within one run. Writes table.md and results.json into
OUT/bench/volume_fit/<timestamp>/.
"""

# data
DATA = "data/bunny_128.npz"  # a volume or a watertight mesh, as 3dvolume/train.py reads it
RESOLUTION = 128
# run
METHODS = ("multiscale", "oinr", "hashgrid", "siren", "wire")  # oinr: the conv preset 3dvolume/conv.py
SECONDS = 60.0  # wall time per fit (5 methods: about 6 minutes with the probes and the scoring)
THRESHOLD = 0.99  # the time-to-IoU column
SEED = 0
DEVICE = "auto"
# output
OUT = "results"  # the run goes to OUT/bench/volume_fit/<timestamp>/

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oinr.data.sampling import predict_points, sample_cells, surface_band  # noqa: E402
from oinr.data.surface import surface  # noqa: E402
from oinr.data.volume import load_volume  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.loop import lr_at  # noqa: E402
from oinr.fit.memory import peak_memory_mb  # noqa: E402
from oinr.fit.runs import new_run_dir, pick_device, seed_everything  # noqa: E402
from oinr.metrics import chamfer, iou  # noqa: E402
from oinr.models.baselines import BASELINES, hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.hashgrid import HashGrid, table_size_for_budget  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

TRAIN = REPO_ROOT / "3dvolume" / "train.py"
CONV = REPO_ROOT / "3dvolume" / "conv.py"


def build(name: str, base: dict, budget: int, max_res: int, device) -> torch.nn.Module:
    """Method `name` at about `budget` parameters (the multiscale model sets the budget)."""
    if name == "multiscale":
        return build_model(base, 3, 1, name).to(device)
    if name == "oinr":  # the conv preset's widths, scaled by one factor to the budget
        cfg = {**base, **script_defaults(CONV)}
        w = max(1, round(cfg["WIDTHS"][0] * math.sqrt(budget / n_params(build_model(cfg, 3, 1, name)))))
        return build_model({**cfg, "WIDTHS": (w,) * len(cfg["WIDTHS"])}, 3, 1, name).to(device)
    if name == "hashgrid":
        t = table_size_for_budget(3, 1, budget, min_res=16, max_res=max_res)
        return HashGrid(3, 1, table_size=t, min_res=16, max_res=max_res).to(device)
    return build_model({**base, "HIDDEN": hidden_for_budget(name, 3, 1, 3, budget), "LAYERS": 3}, 3, 1, name).to(device)


def timed_fit(model, lr: float, vol: torch.Tensor, seconds: float, batch: int, band_fraction: float) -> dict:
    """Fit `model` to the occupancy `vol` for `seconds`; a trace of (seconds, IoU) at a few points along the way."""
    shape, target = tuple(vol.shape), vol.flatten()
    pointwise = hasattr(model, "forward_points")
    band = surface_band(vol, 2)
    cl = torch.channels_last_3d  # the conv model as 3dvolume/train.py runs it (about 2x faster 3D convs on a CPU)
    if not pointwise:
        model.to(memory_format=cl)
    grid = None if pointwise else model.make_input(shape).contiguous(memory_format=cl)

    def loss_at(step):
        if not pointwise:
            return F.binary_cross_entropy_with_logits(model(grid), vol[None, None])
        idx = sample_cells(target.numel(), band, batch, band_fraction, step, SEED)
        return F.binary_cross_entropy_with_logits(model.forward_points(idx, shape)[:, 0], target[idx])

    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(getattr(model, "adam_betas", (0.9, 0.999))),
                           eps=float(getattr(model, "adam_eps", 1e-8)))  # fmt: skip
    for _ in range(2):  # the probe: the second step's cost (the first pays one-off set-up), not applied
        t0 = time.perf_counter()
        loss_at(0).backward()
        opt.zero_grad(set_to_none=True)
    steps = max(5, int(seconds / ((time.perf_counter() - t0) * 1.1)))  # 1.1: Adam's own cost
    trace, train_time, step = [], 0.0, 0
    checkpoints = {int(steps * f) for f in (0.1, 0.25, 0.5, 0.75)}
    while step < steps and train_time < seconds:
        t = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, "cosine", 0, 0.01)
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_time += time.perf_counter() - t
        step += 1
        if step in checkpoints:  # scoring time is not training time
            trace.append((train_time, iou(torch.sigmoid(predict(model, shape))[0, 0], vol)))
    return {"steps": step, "planned_steps": steps, "train_seconds": train_time, "trace": trace}


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
        model = build(name, base, budget, max(shape), device)
        lr = model_lr({**base, "MODEL": name})  # the conv preset shares the header LR
        out = timed_fit(model, lr, vol, SECONDS, base["BATCH"], base["BAND_FRACTION"])
        pred = torch.sigmoid(predict(model, shape))[0, 0].cpu()  # (D, H, W)
        score = iou(pred, vol.cpu())
        trace = out["trace"] + [(out["train_seconds"], score)]
        hit = next((t for t, s in trace if s >= THRESHOLD), None)
        cd = chamfer(surface(pred), target_surface)
        row = {"method": name, "params": n_params(model), "iou": score, "chamfer": cd, "time_to_threshold": hit,
               "s_per_step": out["train_seconds"] / out["steps"],
               "peak_memory_mb": peak_memory_mb(device), **out, "trace": trace}  # fmt: skip
        results.append(row)
        print(f"  {name:10s} {row['params']:>7d} params: IoU {score:.4f}, Chamfer {row['chamfer']:.4f}, "
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
