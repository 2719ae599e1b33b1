"""Benchmark: what each idea of the multiscale O-INR buys, one change at a time, at equal wall time.

Every variant is fitted for SECONDS to the same image (the cameraman, where the default was chosen;
pass --image=kodim23 to see it on an image it was not tuned on); PSNR at that time, time to 30 dB,
parameters and seconds per step. Variants: the full-resolution conv O-INR (2dimage/conv.py); the
multiscale default (2dimage/train.py); and the default with one setting changed each (the coarse
factor 1 / 4, the head's first omega 1, no head, no conv biases). Every fit is the one timed fit
(`oinr.fit.timed.timed_fit`: the input grid built first, warm-up and probe off the clock, a hard stop at
SECONDS). Timings depend on the machine and its load; compare within one run.

    python bench/multiscale_ablation.py [--image=kodim23 --seconds=20]
"""

IMAGE = "camera"  # data/<name>.png, turned gray
SIZE = 256
SECONDS = 20.0  # per variant (7 variants: about 2.5 minutes)
THRESHOLD = 30.0  # dB: the time-to-quality column
SEED = 0
DEVICE = "auto"

import torch  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.runs import pick_device, seed_everything  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import psnr  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

BASE = script_defaults(REPO_ROOT / "2dimage" / "train.py")
VARIANTS = {
    "conv O-INR (2dimage/conv.py)": script_defaults(REPO_ROOT / "2dimage" / "conv.py"),
    "multiscale default": {},
    "coarse 1 (convs at full resolution)": {"COARSE": 1},
    "coarse 4": {"COARSE": 4},
    "head omega 1": {"HEAD_OMEGA": 1.0},
    "no head (linear read-out)": {"HEAD_WIDTHS": ()},
    "no conv biases": {"BIAS": False},
}


def main():
    configure(globals())
    device = pick_device(DEVICE)
    img = load_image(resolve_path(f"data/{IMAGE}.png"), SIZE, True, verbose=False)  # (1, H, W) in [0, 1]
    y = (img * 2 - 1).unsqueeze(0).to(device)  # (1, 1, H, W) on [-1, 1]
    print(f"{IMAGE} {tuple(img.shape[1:])}, {SECONDS:g} s per variant, torch threads {torch.get_num_threads()}")
    head = f"| variant | params | steps | s/step | PSNR (dB) | time to {THRESHOLD:g} dB (s) |"
    lines = [head, "|---|---|---|---|---|---|"]
    for name, overrides in VARIANTS.items():
        cfg = {**BASE, **overrides}
        seed_everything(SEED)
        model = build_model(cfg, 2, 1).to(device)
        grid = model.make_input(tuple(img.shape[1:]))  # (1, C_in, H, W), before the clock
        out = timed_fit(model, model_lr(cfg), grid, y, SECONDS, THRESHOLD)
        with torch.no_grad():
            p = psnr(to_unit(model(grid)[0]).cpu(), img)
        t = out["time_to_threshold"]
        per_step = out["seconds"] / max(out["steps"], 1)
        row = (f"| {name} | {n_params(model)} | {out['steps']} | {per_step:.3f} | {p:.2f} | "
               f"{'—' if t is None else f'{t:.1f}'} |")  # fmt: skip
        print(row, flush=True)
        lines.append(row)
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    cli(main)
