"""Throughput and peak memory of whole-volume against tiled training of a 3D O-INR (not a test).

Each mode runs in its own subprocess, so the peak memory (max RSS on a CPU, max allocated on CUDA) is
that mode's alone: `whole` trains on the full grid every step, `tiled` on one tile per step with the
halo that keeps it exact (`oinr.data.tiling`, tiles sized to MAX_VOXELS). Prints voxels per second
(interior voxels trained per second of forward + backward + Adam), peak memory and the part of it the
training steps added, with the ratios tiled / whole.

    python bench/volume_tiling.py [--resolution=128 --max_voxels=262144 --steps=4 --threads=2]
"""

# data
DATA = "data/bunny_128.npz"  # the volume to train on
RESOLUTION = 128  # grid side (0: native)
# model
OCTAVES = 5  # sin/cos octaves per axis
WIDTHS = (16, 16)  # hidden conv widths (3dvolume/train.py's default)
# optim
MAX_VOXELS = 2**18  # the tiled mode's memory bound, cells per step halo included (a 64^3 crop)
STEPS = 4  # timed steps per mode, after one warm-up step
THREADS = 0  # torch threads; 0 keeps torch's default
DEVICE = "cpu"  # cpu, cuda, cuda:N
SEED = 0  # seeds the model
# output
MODE = ""  # internal: '' runs both modes as subprocesses; whole or tiled runs that one and prints JSON

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oinr.data.tiling import tile_at, tile_side_for, tiles_for  # noqa: E402
from oinr.data.volume import load_volume  # noqa: E402
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.memory import peak_memory_mb  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.models.conv import OINR  # noqa: E402


def measure(mode: str) -> dict:
    """Train STEPS timed steps in `mode` and return voxels/s and peak memory."""
    device = pick_device(DEVICE)
    if THREADS:
        torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    cl = torch.channels_last_3d
    vol = load_volume(DATA, RESOLUTION)  # (D, H, W)
    shape = tuple(vol.shape)
    target = vol[None, None].to(device).contiguous(memory_format=cl)  # (1, 1, D, H, W)
    model = OINR(None, 1, widths=WIDTHS, dims=3, octaves=OCTAVES).to(device).to(memory_format=cl)
    grid = model.make_input(shape).contiguous(memory_format=cl)  # (1, C_in, D, H, W)
    radius = model.receptive_radius()
    side = tile_side_for(shape, MAX_VOXELS, radius) if mode == "tiled" else None
    tiles = tiles_for(shape, side or max(shape), radius)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    base = peak_memory_mb(device)  # the volume, its encoding grid and the libraries, before any step
    interior, processed, seconds = 0, 0, 0.0
    for step in range(STEPS + 1):
        t = tile_at(tiles, step, SEED)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(grid[(..., *t.crop)])[(..., *t.inner)]  # (1, 1, *tile)
        F.binary_cross_entropy_with_logits(out, target[(..., *t.interior)]).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step:  # the first step warms up the conv kernels
            seconds += time.perf_counter() - t0
            interior += out.numel()
            processed += t.voxels
    return {"mode": mode, "grid": "x".join(map(str, shape)), "tiles": len(tiles), "voxels_per_s": interior / seconds,
            "halo_overhead": processed / interior, "peak_mib": peak_memory_mb(device),
            "step_mib": peak_memory_mb(device) - base}  # fmt: skip


def main():
    cfg = configure(globals())
    check(STEPS > 0, f"--steps must be > 0, got {STEPS}")
    check(MODE in ("", "whole", "tiled"), f"--mode must be '', whole or tiled, got {MODE!r}")
    if MODE:
        print(json.dumps(measure(MODE)))
        return
    overrides = [f"--{k.lower()}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in cfg.items()]
    rows = []
    for mode in ("whole", "tiled"):
        proc = subprocess.run([sys.executable, __file__, *overrides, f"--mode={mode}"], capture_output=True, text=True)
        if proc.returncode:
            raise UserError(f"the {mode} run failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    whole, tiled = rows
    print(f"grid {whole['grid']}, widths {WIDTHS}, octaves {OCTAVES}, device {DEVICE}, threads {THREADS or 'default'}")
    print(f"{'mode':<12}{'tiles':>6}{'halo x':>8}{'voxels/s':>12}{'peak MiB':>10}{'step MiB':>10}")
    for r in rows:
        cells = f"{r['tiles']:>6}{r['halo_overhead']:>8.2f}{r['voxels_per_s']:>12.0f}{r['peak_mib']:>10.0f}"
        print(f"{r['mode']:<12}{cells}{r['step_mib']:>10.0f}")
    ratios = [tiled[k] / whole[k] for k in ("voxels_per_s", "peak_mib", "step_mib")]
    print(f"{'tiled/whole':<26}{ratios[0]:>12.2f}{ratios[1]:>10.2f}{ratios[2]:>10.2f}")
    print("step MiB: how far the training steps raised the peak above the setup's (0: within memory already used)")


if __name__ == "__main__":
    cli(main)
