"""Benchmark: wall time to reach 25 and 30 dB on one image, every method at its own script setting, in one process.

Methods: multiscale (the 2dimage/train.py default), oinr (the conv O-INR, preset 2dimage/conv.py), hashgrid (the
registry's header setting: 16 levels, T = 2^14, N_max the image's longer side, Instant-NGP's Adam), and the
coordinate MLPs at their harness settings (siren at lr 1e-3, siren_paper at its paper's 1e-4). Every fit is
the one timed fit (`oinr.fit.timed.timed_fit`) on the grid's nodes: the input grid built before the clock,
a warm-up step and a probe off it, the method's learning rate and Adam constants, a cosine decay over the
steps the probe predicts for BUDGET seconds, a hard stop at BUDGET or when the last threshold is met. Beside
each: the achieved GFLOP/s of its matmuls and convolutions (counted on one step, off the clock, times the
steps over the seconds) against a large float32 matmul's (this machine's practical peak). Not a test:
timings depend on the machine and its load.

    python bench/image_fit.py [--size=256 --budget=300 --models=multiscale,oinr,hashgrid,siren]
"""

# data
DATA = "data/camera.png"  # the image every method fits
SIZE = 256  # longer side in pixels
GRAY = True  # the cameraman is gray already; True also makes a colour image comparable
# run
MODELS = ("multiscale", "oinr", "hashgrid", "siren", "siren_paper", "wire", "gauss", "ffn", "finer")  # see above
BUDGET = 300.0  # training seconds per method at most (a method that never reaches the last threshold stops here)
THRESHOLDS = (25.0, 30.0)  # dB
SEED = 0
DEVICE = "auto"

import time  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.image import build_image_model  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.registry import model_lr, model_names  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

TRAIN = REPO_ROOT / "2dimage" / "train.py"
CONV = REPO_ROOT / "2dimage" / "conv.py"


def matmul_gflops(device, n: int = 2048, seconds: float = 3.0) -> float:
    """Practical float32 peak: repeated n x n matmuls (a micro-benchmark, not a fit)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        a @ b
        k += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * k / (time.perf_counter() - t0) / 1e9


def method_config(name: str, cfg: dict, hw: tuple) -> dict:
    """The header a method runs with: the conv preset for oinr, the image's side as the hash grid's N_max."""
    model = "siren" if name == "siren_paper" else name
    out = {**cfg, **(script_defaults(CONV) if name == "oinr" else {}), "MODEL": model}
    out["BASELINE_SETTING"] = "paper" if name == "siren_paper" else "tuned"
    if model == "hashgrid":
        out["HASH_MAX_RES"] = max(hw)
    return out


def step_gflop(model, grid, y) -> float:
    """GFLOP of one training step's matmuls and convolutions (forward + backward), counted without updating.

    On a copy of the grid: the hash grid's precomputed lookup of `grid` is a sparse product, which the counter
    would count as a dense one; on another grid its interpolation is gathers, which it does not count."""
    with FlopCounterMode(display=False) as counter:
        torch.mean((model(grid.clone()) - y) ** 2).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 1e9


def time_to_thresholds(name: str, cfg: dict, img, device) -> dict:
    """One timed fit of method `name` until the last threshold or BUDGET; the first time each threshold is met."""
    c, h, w = img.shape
    mcfg = method_config(name, cfg, (h, w))
    torch.manual_seed(SEED)
    model = build_image_model(mcfg, c, device)
    grid, y = model.make_input((h, w)), (img * 2 - 1).unsqueeze(0).to(device)  # (1, C, H, W), before the clock
    gflop = step_gflop(model, grid, y)
    lr = model_lr(mcfg)
    out = timed_fit(model, lr, grid, y, BUDGET, max(THRESHOLDS), stop_at_threshold=True)
    hits = {t: next((s for s, p in out["trace"] if p >= t), None) for t in THRESHOLDS}
    final = out["trace"][-1][1] if out["trace"] else float("nan")
    return {"hits": hits, "steps": out["steps"], "final": final, "params": n_params(model), "lr": lr,
            "seconds": out["seconds"], "gflops": gflop * out["steps"] / max(out["seconds"], 1e-9)}  # fmt: skip


def main():
    configure(globals())
    known = ("siren_paper", *model_names())
    unknown = [m for m in MODELS if m not in known]
    check(not unknown, f"unknown model(s) {', '.join(unknown)}; use {', '.join(known)}")
    check(BUDGET > 0, f"--budget must be > 0 seconds, got {BUDGET}")
    device = pick_device(DEVICE)
    cfg = script_defaults(TRAIN)
    img = load_image(resolve_path(DATA), SIZE, GRAY, verbose=False)  # (C, H, W) in [0, 1]
    print(f"device {device}, torch threads {torch.get_num_threads()}, image {DATA} {tuple(img.shape)}")
    peak = matmul_gflops(device)
    print(f"matmul peak {peak:.1f} GFLOP/s")

    results = {}
    for name in MODELS:
        r = time_to_thresholds(name, cfg, img, device)
        results[name] = r
        shown = ", ".join(f"{t:g} dB " + ("never" if s is None else f"at {s:.1f} s") for t, s in r["hits"].items())
        print(f"  {name:12s} {r['params']:>8d} params, lr {r['lr']:g}: {shown} ({r['steps']} steps, {r['final']:.2f} "
              f"dB, {r['gflops']:.1f} GFLOP/s = {r['gflops'] / peak:.0%} of peak)", flush=True)  # fmt: skip

    ref = results.get("siren", {}).get("hits", {})
    print(f"\n| method | params | {' | '.join(f'time to {t:g} dB (s)' for t in THRESHOLDS)} | "
          f"{' | '.join(f'ratio to SIREN at {t:g} dB' for t in THRESHOLDS)} | GFLOP/s |")  # fmt: skip
    print("|---" * (3 + 2 * len(THRESHOLDS)) + "|")
    for name, r in results.items():
        times = [f">{BUDGET:g}" if r["hits"][t] is None else f"{r['hits'][t]:.1f}" for t in THRESHOLDS]
        ratios = [
            f"{r['hits'][t] / ref[t]:.3f}" if r["hits"][t] is not None and ref.get(t) else "—" for t in THRESHOLDS
        ]
        print(f"| {name} | {r['params']} | {' | '.join(times)} | {' | '.join(ratios)} | {r['gflops']:.1f} |")


if __name__ == "__main__":
    cli(main)
