"""Benchmark: training frames per second of the sequence O-INR (sequence/train.py's MODEL and header), batched
against one frame per step, for the default setting and the paper preset (sequence/paper.py).

Each setting trains a few Adam steps on the shipped carphone clip: BATCH frames through the conv stack
in one batched pass, then the same frames one per pass (what a per-frame loop would cost). Not a test:
timings depend on the machine and on what else runs on it.

    python bench/sequence_fps.py [--steps=5 --paper=true --device=cuda]
"""

STEPS = 5  # timed steps per setting (after one warm-up step)
PAPER = True  # also time sequence/paper.py (about 10x the default's cost per frame on a CPU)
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda

import contextlib  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from oinr.data.sequence import frame_inputs, load_sequence  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.sequence import build_sequence, read_frames, set_sequence_grid  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

SCRIPT = REPO_ROOT / "sequence" / "train.py"


def frames_per_s(cfg: dict, device, steps: int) -> tuple[float, float, int, tuple]:
    """(batched frames/s, one-frame-per-pass frames/s, parameters, (B, C, H, W)) for header `cfg`."""
    seq = load_sequence(REPO_ROOT / cfg["DATA"], cfg["FRAMES"], cfg["SIZE"])
    t, c, h, w = seq.frames.shape
    b = min(cfg["BATCH"], t)
    with contextlib.redirect_stdout(io.StringIO()):  # the conv O-INR's first-kernel note
        model = build_sequence(cfg, c, t).to(device)
    set_sequence_grid(model, cfg["MODEL"], t, (h, w))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = frame_inputs(cfg, t).to(device)
    y = seq.frames[:b].to(device) * 2 - 1  # (B, C, H, W)

    def step(idx):
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((read_frames(model, cfg["MODEL"], g[idx], (h, w)) - y[idx]) ** 2)
        loss.backward()
        opt.step()

    def timed(groups) -> float:
        step(groups[0])  # warm-up: allocation, kernel selection
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            for idx in groups:
                step(idx)
        sync()
        return steps * b / (time.perf_counter() - t0)

    batched = timed([list(range(b))])
    single = timed([[i] for i in range(b)])
    return batched, single, n_params(model), (b, c, h, w)


def main():
    configure(globals())
    device = pick_device(DEVICE)
    settings = {"default": script_defaults(SCRIPT)}
    if PAPER:
        settings["paper"] = {**settings["default"], **script_defaults(REPO_ROOT / "sequence" / "paper.py")}
        settings["paper"]["FRAMES"] = (0, 48)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {STEPS} steps per setting")
    for name, cfg in settings.items():
        batched, single, params, shape = frames_per_s(cfg, device, STEPS)
        b, c, h, w = shape
        print(f"{name}: {params} parameters, batch {b} of {c}x{h}x{w}: {batched:.1f} frames/s batched, "
              f"{single:.1f} frames/s one per pass ({batched / single:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    cli(main)
