"""Benchmark: held-out video frames and imputed MRI slices, O-INR against interpolation along the sequence
and a SIREN over (x, y, t), every row one run of `sequence/train.py` (the SIREN at the O-INR's wall time, the
same cosine schedule).

Two parts, on disjoint data:

* ``--select=true``: the ablation the defaults were chosen on, on data no report reads: carphone's first
  24 frames at gap 2 and the MNI152 template (data/mni152_2mm.nii.gz) at 50 % missing. Every variant of
  VARIANTS runs for about SECONDS of training (its steps planned from a probe of its step time), so the
  rows compare at equal time.
* the report (default): sequence/train.py's defaults, unchanged, on carphone's last 24 frames and the first
  shot of bikes (frames 0-29; a cut follows) at frame gaps 2, 4 and 8, and on Colin27 (data/ch2_2mm.nii.gz)
  at 50 / 66 / 75 / 80 % missing.

    python bench/sequence.py [--select=true] [--seconds=45 --variants=frames-position,multiscale]

Prints one markdown table and writes it to OUT/bench/sequence[-select]-<timestamp>.md. Each row's run folder
stays under OUT/sequence/.
"""

SELECT = False  # True: the ablation on the selection data; False: the report rows
SECONDS = 45.0  # --select: training seconds per variant (its STEPS planned from a probe)
VARIANTS = (
    "frames-position",
    "frames-position-0.05",
    "frames-position-0.1",
    "frames-poster",
    "frames-channels",
    "multiscale",
    "conv-poster",
)  # see SETTINGS
REPORT_VIDEOS = (("data/carphone_48.mp4", (24, 48)), ("data/bikes_48.mp4", (0, 30)))  # (clip, frames)
GAPS = (2, 4, 8)  # frame gaps of the video rows
REPORT_VOLUMES = ("data/ch2_2mm.nii.gz",)
FRACTIONS = (0.5, 0.66, 0.75, 0.8)  # missing fractions of the slice rows
SELECT_VIDEO = ("data/carphone_48.mp4", (0, 24), 2)  # (clip, frames, gap) the video settings were chosen on
SELECT_VOLUME = ("data/mni152_2mm.nii.gz", 0.5)  # (volume, missing) the slice settings were chosen on
SIREN = True  # the SIREN (x, y, t) column (doubles the time)
OUT = "results"

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from oinr.data.sequence import batch_at, heldout_split, load_sequence, missing_split  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.runs import atomic_write  # noqa: E402
from oinr.models.sequence import build_sequence, frame_positions, read_frames, set_sequence_grid  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

SCRIPT = REPO_ROOT / "sequence" / "train.py"
DEFAULT = script_defaults(SCRIPT)
SETTINGS = {  # variant: its command-line settings on top of sequence/train.py's header
    "frames-position": {"MODEL": "frames", "CODE": "position"},  # t_n as a channel of its own (CODE_STEP 0.2)
    "frames-position-0.05": {"MODEL": "frames", "CODE": "position", "CODE_STEP": 0.05},  # smoother along t
    "frames-position-0.1": {"MODEL": "frames", "CODE": "position", "CODE_STEP": 0.1},
    "frames-poster": {"MODEL": "frames", "CODE": "poster"},  # the poster's gamma_n on every channel
    "frames-channels": {"MODEL": "frames", "CODE": "channels"},  # t_n and its sin/cos encoding
    "multiscale": {"MODEL": "multiscale", "KERNEL": 3},  # the volume over (t, y, x) (3^3 kernels)
    "conv-poster": {"MODEL": "oinr", "WIDTHS": (32, 32, 32), "FIRST_OMEGA": 3.0},  # the previous default
}


def flag(name: str, value) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    return f"--{name.lower()}={text}"


def run(args: list[str]) -> dict:
    """One run of sequence/train.py; its summary.json."""
    proc = subprocess.run([sys.executable, str(SCRIPT), *args, "--progress=false", f"--out={OUT}"],
                          capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"sequence/train.py {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    folder = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    return json.loads((folder / "summary.json").read_text()) | {"run": str(folder)}


def planned_steps(cfg: dict, data: str, frames, split, seconds: float) -> int:
    """Steps of variant header `cfg` that take about `seconds` on `data` (a probe of 3 steps after 1)."""
    seq = load_sequence(REPO_ROOT / data, frames, cfg["SIZE"])
    t, c, h, w = seq.frames.shape
    train, _ = split(t)
    torch.manual_seed(0)
    model = build_sequence(cfg, c, len(train))
    set_sequence_grid(model, cfg["MODEL"], len(train), (h, w))
    z = frame_positions(t) if cfg["MODEL"] != "oinr" and cfg.get("CODE") != "poster" else torch.arange(t) / t
    y = seq.frames * 2 - 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for step in range(4):
        idx = batch_at(train, step, cfg["BATCH"], 0)
        start = time.perf_counter()
        loss = torch.mean((read_frames(model, cfg["MODEL"], z[idx], (h, w)) - y[idx]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return max(10, int(seconds / (sum(times[1:]) / 3)))


def select_rows(variants) -> list[dict]:
    video, frames, gap = SELECT_VIDEO
    volume, missing = SELECT_VOLUME
    rows = []
    for name in variants:
        cfg = {**DEFAULT, **SETTINGS[name]}
        flags = [flag(k, v) for k, v in SETTINGS[name].items()]
        for data, rng, extra, split in [
            (video, frames, [flag("frame_gap", gap), flag("frames", frames)], lambda t: heldout_split(t, gap)),
            (volume, (0, 0), [flag("missing", missing)], lambda t: missing_split(t, missing)),
        ]:
            steps = planned_steps(cfg, data, rng, split, SECONDS)
            s = run([f"--data={data}", *flags, *extra, f"--steps={steps}", f"--siren={SIREN and data == video}"])
            rows.append({"variant": name, "data": Path(data).name, **s})
            print(line(rows[-1]), flush=True)
    return rows


def report_rows() -> list[dict]:
    rows = []
    for data, frames in REPORT_VIDEOS:
        for gap in GAPS:
            s = run([f"--data={data}", flag("frames", frames), flag("frame_gap", gap), f"--siren={SIREN}"])
            rows.append({"variant": "default", "data": Path(data).name, **s})
            print(line(rows[-1]), flush=True)
    for data in REPORT_VOLUMES:
        for fraction in FRACTIONS:
            s = run([f"--data={data}", flag("missing", fraction), f"--siren={SIREN}"])
            rows.append({"variant": "default", "data": Path(data).name, **s})
            print(line(rows[-1]), flush=True)
    return rows


HEAD = ("| variant | data | split | params | steps | s | train | held-out O-INR | linear | cubic | SIREN | "
        "O-INR - best interp. | train < every test |\n|" + "---|" * 13)  # fmt: skip


def line(r: dict) -> str:
    """One table row: PSNR (dB) for frames, MSE for slices; the verdict columns."""
    video = r["mode"] == "frames"
    split = f"gap {r['frame_gap']}" if video else f"{round(100 * r['missing'])} % missing"
    siren = r.get("mse_test_siren")
    tests = [r["mse_test_linear"], r["mse_test_cubic"], *([siren] if siren is not None else [])]
    fmt = (lambda k: f"{r[f'psnr_{k}']:.2f}") if video else (lambda k: f"{r[f'mse_{k}']:.2e}")
    cells = [fmt("train"), fmt("heldout" if video else "test"), fmt("heldout_blend" if video else "test_linear"),
             fmt("heldout_cubic" if video else "test_cubic"),
             (f"{r['psnr_heldout_siren']:.2f}" if video else f"{siren:.2e}") if siren is not None else "—"]  # fmt: skip
    best = min(r["mse_test_linear"], r["mse_test_cubic"])
    gain = r["psnr_heldout"] - max(r["psnr_heldout_blend"], r["psnr_heldout_cubic"]) if video else 0.0
    delta = f"{gain:+.2f} dB" if video else f"{r['mse_test'] / best:.2f}x MSE"
    return (f"| {r['variant']} | {r['data']} | {split} | {r['n_params']} | {r['steps']} | {r['wall_time_s']:.0f} | "
            + " | ".join(cells) + f" | {delta} | {'yes' if r['mse_train'] < min(tests) else 'no'} |")  # fmt: skip


def main():
    configure(globals())
    variants = [v.strip() for v in (VARIANTS.split(",") if isinstance(VARIANTS, str) else VARIANTS)]
    check(all(v in SETTINGS for v in variants), f"--variants: each one of {', '.join(SETTINGS)}, got {variants}")
    check(SECONDS > 0, f"--seconds must be > 0, got {SECONDS}")
    print(HEAD, flush=True)
    rows = select_rows(variants) if SELECT else report_rows()
    text = "\n".join([HEAD, *map(line, rows)]) + "\n"
    out = Path(OUT) / "bench" / f"sequence{'-select' if SELECT else ''}-{time.strftime('%Y%m%d-%H%M%S')}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, text)
    print(out)


if __name__ == "__main__":
    cli(main)
