"""Benchmark: wall time to reach 25 and 30 dB on one image, O-INR against every baseline, in one process.

Also the O-INR training step's achieved GFLOP/s next to a large float32 matmul's (this machine's
practical peak), measured in the same run. Not a test: timings depend on the machine and its load.

    python bench/image_fit.py [--size=256 --budget=300 --models=oinr,siren,siren_paper]
"""

# data
DATA = "data/camera.png"  # the image every method fits
SIZE = 256  # longer side in pixels
GRAY = True  # the cameraman is gray already; True also makes a colour image comparable
# run
MODELS = ("oinr", "siren", "siren_paper", "wire", "gauss", "ffn", "finer")  # siren lr 1e-3; siren_paper 1e-4
BUDGET = 300.0  # seconds per method at most (a method that never reaches 30 dB stops here)
THRESHOLDS = (25.0, 30.0)  # dB
SEED = 0
DEVICE = "auto"

import math  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.image import build_image_model  # noqa: E402
from oinr.fit.loop import FitConfig, fit  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.metrics import psnr_from_mse  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.registry import model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

TRAIN = REPO_ROOT / "2dimage" / "train.py"


def matmul_gflops(device, n: int = 2048, seconds: float = 3.0) -> float:
    """Practical float32 peak: repeated n x n matmuls."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        a @ b
        k += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * k / (time.perf_counter() - t0) / 1e9


def step_gflops(model, grid, target, steps: int = 5) -> tuple[float, float]:
    """(GFLOP per training step, achieved GFLOP/s) of forward + backward + Adam on the full grid."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        torch.mean((model(grid) - target) ** 2).backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if grid.device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - t0) / steps
    return flops / 1e9, flops / per_step / 1e9


def time_to_thresholds(name: str, cfg: dict, img, device) -> dict:
    """Fit with the model's script setting (or BUDGET seconds at most); the first times each threshold is met."""
    torch.manual_seed(SEED)
    model_name = "siren" if name == "siren_paper" else name
    c, h, w = img.shape
    model = build_image_model({**cfg, "MODEL": model_name}, c, device)
    grid, y = model.make_input((h, w)), (img * 2 - 1).unsqueeze(0).to(device)  # (1, C, H, W)
    lr = model_lr({**cfg, "MODEL": model_name, "BASELINE_SETTING": "paper" if name == "siren_paper" else "tuned"})
    steps = cfg["STEPS"] if name == "oinr" else 100_000  # baselines: constant-ish rate until the budget
    fc = FitConfig(steps=steps, lr=lr, schedule=cfg["SCHEDULE"] if name == "oinr" else "constant",
                   final_lr_ratio=cfg["FINAL_LR_RATIO"], log_every=1, progress=False)  # fmt: skip
    hits: dict = {}

    def evaluate(m, loss):
        return {"psnr": psnr_from_mse(loss, 2.0)}

    def stop(row):
        for t in THRESHOLDS:
            if row["psnr"] >= t and t not in hits:
                hits[t] = row["time_s"]
        return len(hits) == len(THRESHOLDS) or row["time_s"] > BUDGET

    res = fit(model, lambda m, s: torch.mean((m(grid) - y) ** 2), fc, evaluate=evaluate, stop=stop)
    return {"hits": hits, "steps": res.steps, "final": res.last.get("psnr", math.nan), "params": n_params(model),
            "lr": lr, "time": res.wall_time_s}  # fmt: skip


def main():
    configure(globals())
    device = pick_device(DEVICE)
    cfg = script_defaults(TRAIN)
    img = load_image(resolve_path(DATA), SIZE, GRAY, verbose=False)
    print(f"device {device}, torch threads {torch.get_num_threads()}, image {DATA} {tuple(img.shape)}")

    peak = matmul_gflops(device)
    torch.manual_seed(SEED)
    model = build_image_model(cfg, img.shape[0], device)
    grid, y = model.make_input(tuple(img.shape[1:])), (img * 2 - 1).unsqueeze(0).to(device)
    gflop, achieved = step_gflops(model, grid, y)
    print(f"matmul peak {peak:.1f} GFLOP/s; O-INR step {gflop:.2f} GFLOP at {achieved:.1f} GFLOP/s "
          f"= {achieved / peak:.0%} of peak")  # fmt: skip

    results = {}
    for name in MODELS:
        r = time_to_thresholds(name, cfg, img, device)
        results[name] = r
        shown = ", ".join(
            f"{t:g} dB at {r['hits'][t]:.1f} s" if t in r["hits"] else f"{t:g} dB never" for t in THRESHOLDS
        )
        tail = f"({r['steps']} steps, {r['final']:.2f} dB)"
        print(f"  {name:12s} {r['params']:>8d} params, lr {r['lr']:g}: {shown} {tail}", flush=True)

    ref = results.get("siren", {}).get("hits", {})
    print(f"\n| method | params | {' | '.join(f'time to {t:g} dB (s)' for t in THRESHOLDS)} | "
          f"{' | '.join(f'ratio to SIREN at {t:g} dB' for t in THRESHOLDS)} |")  # fmt: skip
    print("|---" * (2 + 2 * len(THRESHOLDS)) + "|")
    for name, r in results.items():
        times = [f"{r['hits'][t]:.1f}" if t in r["hits"] else f">{BUDGET:g}" for t in THRESHOLDS]
        ratios = [f"{r['hits'][t] / ref[t]:.3f}" if t in r["hits"] and t in ref else "—" for t in THRESHOLDS]
        print(f"| {name} | {r['params']} | {' | '.join(times)} | {' | '.join(ratios)} |")


if __name__ == "__main__":
    cli(main)
