"""Benchmark: the CZ O-INR beside the conv O-INR (the paper's operator) and the multiscale default, in one run.

Each model is built from its script's header and presets: cz (cz_operator/train.py), tiled (with
cz_operator/tiled.py: a kernel per tile, 8M parameters), paper (with cz_operator/paper.py), conv
(2dimage/train.py 2dimage/conv.py) and multiscale (2dimage/train.py). Prints per model its parameters and
its cost per full-grid Adam step on a SIZE x SIZE gray grid; then, with SECONDS > 0, fits every model to each
image for the same wall time (oinr.fit.timed.timed_fit: the full-grid MSE on the image's own grid for every
model, so the multiscale default without its sub-pixel steps; cosine decay over the steps a probe predicts,
hard stop) and prints PSNR, steps and time to 30 dB, with the CZ operator's margin over the conv O-INR (the
goal: >= -0.5 dB). Not a test: timings depend on the machine and its load (the load average is printed).

    python bench/cz_operator.py [--seconds=60 --models=cz,conv,multiscale --images=data/camera.png]
"""

# data
IMAGES = ("data/camera.png", "data/kodim23.png")  # the equal-time fits (each script's GRAY: kodim23 in colour)
SIZE = 256  # longer side in pixels of every grid
# run
MODELS = ("cz", "conv", "multiscale")  # from SETUPS below: cz, tiled, paper, conv, multiscale
SECONDS = 60.0  # wall time of each equal-time fit; 0: parameters and cost per step only
STEPS = 5  # timed steps of the cost probe (after one warm-up step)
SEED = 0  # seeds every model's initialisation
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda

import os  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure, read_preset, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.image import build_image_model  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import psnr  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.function import set_fit_grid  # noqa: E402
from oinr.models.registry import model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

SETUPS = {  # name: (script, presets applied on its header)
    "cz": ("cz_operator/train.py", ()),
    "tiled": ("cz_operator/train.py", ("cz_operator/tiled.py",)),
    "paper": ("cz_operator/train.py", ("cz_operator/paper.py",)),
    "conv": ("2dimage/train.py", ("2dimage/conv.py",)),
    "multiscale": ("2dimage/train.py", ()),
}


def header(name: str) -> dict:
    """The resolved header of model `name`: its script's defaults, its presets, SIZE."""
    script, presets = SETUPS[name]
    cfg = script_defaults(REPO_ROOT / script)
    for p in presets:
        cfg.update(read_preset(REPO_ROOT / p))
    return {**cfg, "SIZE": SIZE, "SEED": SEED}


def build(cfg: dict, channels: int, shape, device):
    """The model of `cfg` for a `channels`-channel image of `shape`, its input grid (built off any clock)."""
    torch.manual_seed(SEED)
    model = build_image_model(cfg, channels, device, shape)
    set_fit_grid(model, shape)
    return model, model.make_input(shape)


def step_cost(cfg: dict, device) -> dict:
    """Parameters, seconds per Adam step and milliseconds per forward pass on a SIZE x SIZE gray grid."""
    model, grid = build(cfg, 1, (SIZE, SIZE), device)
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
    return {"params": n_params(model), "s_step": per_step, "ms_fwd": 1e3 * (time.perf_counter() - t0) / STEPS}


def equal_time(cfg: dict, img: torch.Tensor, device) -> dict:
    """A SECONDS fit of the model of `cfg` to `img` ``(C, H, W)``, scored off the clock."""
    model, grid = build(cfg, img.shape[0], tuple(img.shape[1:]), device)
    target = img.unsqueeze(0).to(device)  # (1, C, H, W) in [0, 1]
    r = timed_fit(model, model_lr(cfg), grid, target * 2 - 1, SECONDS)
    with torch.no_grad():
        p = float(psnr(to_unit(model(grid)), target))
    return {"params": n_params(model), "psnr": p, "steps": r["steps"], "t30": r["time_to_threshold"]}


def main():
    configure(globals())
    names = [MODELS] if isinstance(MODELS, str) else list(MODELS)
    unknown = [n for n in names if n not in SETUPS]
    if unknown:
        raise UserError(f"unknown model {unknown[0]!r} in --models; valid: {', '.join(SETUPS)}")
    check(SIZE >= 16 and STEPS >= 1 and SECONDS >= 0, f"need --size >= 16, --steps >= 1, --seconds >= 0; got "
          f"{SIZE}, {STEPS}, {SECONDS}")  # fmt: skip
    images = [IMAGES] if isinstance(IMAGES, str) else list(IMAGES)
    device = pick_device(DEVICE)
    cfgs = {n: header(n) for n in names}
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"{SIZE} px, {device}, torch threads {torch.get_num_threads()}{load}")
    print(f"cost per full-grid Adam step on a {SIZE}x{SIZE} gray grid ({STEPS} timed steps after a warm-up):")
    cost = {n: step_cost(cfgs[n], device) for n in names}
    for n, r in cost.items():
        print(f"  {n:11s} {r['params']:>10,} parameters  {r['s_step']:.3f} s/step  {r['ms_fwd']:8.1f} ms forward")
    if "cz" in cost and "conv" in cost:
        cz, conv = cost["cz"], cost["conv"]
        print(f"  cz / conv: {cz['params'] / conv['params']:.2f}x parameters, {cz['s_step'] / conv['s_step']:.2f}x "
              f"s/step, {cz['ms_fwd'] / conv['ms_fwd']:.2f}x forward")  # fmt: skip
    if SECONDS <= 0:
        return
    print(f"equal wall time: {SECONDS:g} s per fit (oinr.fit.timed.timed_fit), PSNR of the last state off the clock")
    for path in images:
        rows = {}
        for n in names:
            cfg = cfgs[n]
            img = load_image(resolve_path(path), cfg["SIZE"], cfg["GRAY"], verbose=False)  # (C, H, W) in [0, 1]
            rows[n] = r = equal_time(cfg, img, device)
            t30 = "-" if r["t30"] is None else f"{r['t30']:.1f} s"
            print(f"  {path} {'x'.join(map(str, img.shape))}  {n:11s} {r['params']:>10,} parameters  "
                  f"{r['psnr']:6.2f} dB  {r['steps']:5d} steps  30 dB at {t30}")  # fmt: skip
        if "cz" in rows and "conv" in rows:
            margin = rows["cz"]["psnr"] - rows["conv"]["psnr"]
            verdict = "met" if margin >= -0.5 else "not met"
            print(f"  {path}: cz - conv = {margin:+.2f} dB (goal >= -0.50 dB: {verdict})")


if __name__ == "__main__":
    cli(main)
