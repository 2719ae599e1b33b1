"""Benchmark: the CZ O-INR's cost per training step and its size beside the conv O-INR's, measured in one run.

Both models are built from their scripts' headers (cz_operator/train.py, 2dimage/train.py), or from their
paper presets with --paper=true, on the same image size, and timed over the same number of full-grid
Adam steps after a warm-up. Prints s/step, forward ms and parameters, with the CZ/conv ratios. Not a test:
timings depend on the machine and its load.

    python bench/cz_operator.py [--size=256 --steps=5 --paper=false]
"""

SIZE = 256  # square grid side of both models
STEPS = 5  # timed steps per model (after one warm-up step)
PAPER = False  # True: cz_operator/paper.py beside 2dimage/paper.py instead of the scripts' defaults
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda

import time  # noqa: E402

import torch  # noqa: E402

from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.image import build_image_model  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402


def header(folder: str) -> dict:
    cfg = script_defaults(REPO_ROOT / folder / "train.py")
    if PAPER:
        cfg.update(script_defaults(REPO_ROOT / folder / "paper.py"))
    return cfg


def timed(cfg: dict, device) -> dict:
    """Seconds per Adam step and per forward pass of the model of `cfg` on a SIZE x SIZE gray image."""
    torch.manual_seed(0)
    model = build_image_model(cfg, 1, device)
    grid = model.make_input((SIZE, SIZE))
    y = torch.zeros(1, 1, SIZE, SIZE, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        opt.zero_grad()
        torch.mean((model(grid) - y) ** 2).backward()
        opt.step()

    step()  # warm-up: allocation, kernel selection, the CZ model's cached encoding transform
    sync()
    t0 = time.perf_counter()
    for _ in range(STEPS):
        step()
    sync()
    per_step = (time.perf_counter() - t0) / STEPS
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(STEPS):
            model(grid)
        sync()
    return {"s_step": per_step, "ms_fwd": 1e3 * (time.perf_counter() - t0) / STEPS, "params": n_params(model)}


def main():
    configure(globals())
    check(SIZE >= 16 and STEPS >= 1, f"--size must be >= 16 and --steps >= 1, got {SIZE}, {STEPS}")
    device = pick_device(DEVICE)
    setting = "paper presets" if PAPER else "script defaults"
    print(f"{SIZE}x{SIZE}, {setting}, {device}, torch threads {torch.get_num_threads()}, {STEPS} timed steps each")
    rows = {"cz": timed(header("cz_operator"), device), "oinr (conv)": timed(header("2dimage"), device)}
    for name, r in rows.items():
        print(f"  {name:12s} {r['s_step']:.3f} s/step  {r['ms_fwd']:8.1f} ms forward  {r['params']:>10,} parameters")
    cz, conv = rows["cz"], rows["oinr (conv)"]
    print(f"CZ / conv: {cz['s_step'] / conv['s_step']:.2f}x s/step, {cz['ms_fwd'] / conv['ms_fwd']:.2f}x forward, "
          f"{cz['params'] / conv['params']:.1f}x parameters")  # fmt: skip


if __name__ == "__main__":
    cli(main)
