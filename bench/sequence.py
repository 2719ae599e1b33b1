"""Benchmark: held-out video frames and imputed MRI slices, O-INR against interpolation along the sequence
and a SIREN over (x, y, t), every row one run of `sequence/train.py` (the SIREN at the O-INR's wall time, the
same cosine schedule).

Two parts, on disjoint data:

* ``--select=true``: the ablation the defaults were chosen on, on data no report reads: carphone's first
  24 frames at gap 2 and the MNI152 template (data/mni152_2mm.nii.gz) at 50 % missing. Every variant of
  VARIANTS trains for SECONDS under the shared timed fit (oinr/fit/timed.py), in this process: the rows
  compare at equal training time.
* the report (default): sequence/train.py's defaults, unchanged, on carphone's last 24 frames and the first
  shot of bikes (frames 0-29; a cut follows) at frame gaps 2, 4 and 8, and on Colin27 (data/ch2_2mm.nii.gz)
  at 50 / 66 / 75 / 80 % missing.

    python bench/sequence.py [--select=true] [--seconds=45 --variants=frames-position,multiscale]

Prints one markdown table and writes it to OUT/bench/sequence[-select]-<timestamp>.md. Each row's run folder
stays under OUT/sequence/.
"""

SELECT = False  # True: the ablation on the selection data; False: the report rows
SECONDS = 40.0  # --select: training seconds per variant (the shared timed fit)
VARIANTS = (
    "frames-position-0.2",
    "frames-position-0.05",
    "frames-position-0.1",
    "frames-k3",
    "frames-c4",
    "frames-poster",
    "frames-channels",
    "multiscale",
    "multiscale-c4",
    "conv-poster",
)  # see SETTINGS
REPORT_VIDEOS = (("data/carphone_48.mp4", (24, 48)), ("data/bikes_48.mp4", (0, 30)))  # (clip, frames)
GAPS = (2, 4, 8)  # frame gaps of the video rows
REPORT_VOLUMES = ("data/ch2_2mm.nii.gz",)
FRACTIONS = (0.5, 0.66, 0.75, 0.8)  # missing fractions of the slice rows
VOLUME_FRACTIONS = (0.5, 0.8)  # the volume model (MODEL=multiscale, the select's settings) beside, at these
VOLUME_STEPS = 200  # its steps (about 0.2 s each on 2 cores: some 40 s, the default's O-INR + SIREN time)
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

from oinr.data.sequence import (  # noqa: E402
    batch_at,
    frame_inputs,
    heldout_split,
    interpolate_frames,
    load_sequence,
    missing_split,
)
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.runs import atomic_write, seed_everything  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import mse, psnr_from_mse  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.sequence import build_sequence, read_frames, set_sequence_grid  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

SCRIPT = REPO_ROOT / "sequence" / "train.py"
DEFAULT = script_defaults(SCRIPT)
SETTINGS = {  # variant: its command-line settings on top of sequence/train.py's header
    "frames-position-0.2": {"MODEL": "frames", "CODE": "position", "CODE_STEP": 0.2},  # t_n, a channel of its own
    "frames-position-0.05": {"MODEL": "frames", "CODE": "position", "CODE_STEP": 0.05},  # smoother along t
    "frames-position-0.1": {"MODEL": "frames", "CODE": "position", "CODE_STEP": 0.1},  # the default
    "frames-k3": {"MODEL": "frames", "CODE": "position", "CODE_STEP": 0.1, "KERNEL": 3},  # cheaper steps
    "frames-c4": {
        "MODEL": "frames",
        "CODE": "position",
        "CODE_STEP": 0.1,
        "COARSE": 4,
        "FEATURES": 32,
        "HEAD_WIDTHS": (64,),
    },  # a coarser operator, a wider head  # fmt: skip
    "frames-poster": {"MODEL": "frames", "CODE": "poster"},  # the poster's gamma_n on every channel
    "frames-channels": {"MODEL": "frames", "CODE": "channels"},  # t_n and its sin/cos encoding
    "multiscale": {"MODEL": "multiscale", "KERNEL": 3},  # the volume over (t, y, x) (3^3 kernels)
    "multiscale-c4": {"MODEL": "multiscale", "KERNEL": 3, "COARSE": 4, "FEATURES": 32, "HEAD_WIDTHS": (64,)},
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


def select_row(name: str, data: str, frames, split: str, value) -> dict:
    """Variant `name` fitted for SECONDS under the shared timed fit (oinr.fit.timed: warm-up and probe off the
    clock, cosine decay over the planned steps, a hard stop) on `data`, split by gap or missing fraction."""
    cfg = {**DEFAULT, **SETTINGS[name]}
    seq = load_sequence(REPO_ROOT / data, frames, cfg["SIZE"], cfg["AXIS"])
    fr = seq.frames
    t, c, h, w = fr.shape
    train, test = heldout_split(t, value) if split == "gap" else missing_split(t, value)
    seed_everything(cfg["SEED"])
    kind = cfg["MODEL"]
    model = build_sequence(cfg, c, len(train))
    set_sequence_grid(model, kind, len(train), (h, w))
    z, y = frame_inputs(cfg, t), fr * 2 - 1

    def loss_fn(m, step):
        idx = batch_at(train, step, cfg["BATCH"], cfg["SEED"])
        return torch.mean((read_frames(m, kind, z[idx], (h, w)) - y[idx]) ** 2)

    res = timed_fit(model, cfg["LR"], seconds=SECONDS, threshold=None, loss_fn=loss_fn)
    with torch.no_grad():
        pred = {k: to_unit(torch.cat([read_frames(model, kind, z[idx[i : i + 8]], (h, w))
                for i in range(0, len(idx), 8)])) for k, idx in (("train", train), ("test", test))}  # fmt: skip
    r = {"mse_train": mse(pred["train"], fr[train]), "mse_test": mse(pred["test"], fr[test])}
    for k in ("linear", "cubic"):
        r[f"mse_test_{k}"] = mse(interpolate_frames(fr, train, test, k), fr[test])
    names = {"train": "train", "test": "heldout", "test_linear": "heldout_blend", "test_cubic": "heldout_cubic"}
    r |= {f"psnr_{v}": psnr_from_mse(r[f"mse_{k}"]) for k, v in names.items()}
    mode = "frames" if split == "gap" else "slices"
    return {"variant": name, "data": Path(data).name, "mode": mode, "frame_gap": value, "missing": value,
            "n_params": n_params(model), "steps": res["steps"], "wall_time_s": res["seconds"], **r}  # fmt: skip


def select_rows(variants) -> list[dict]:
    video, frames, gap = SELECT_VIDEO
    volume, missing = SELECT_VOLUME
    rows = []
    for name in variants:
        for row in (select_row(name, video, frames, "gap", gap), select_row(name, volume, (0, 0), "missing", missing)):
            rows.append(row)
            print(line(row), flush=True)
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
        for fraction in VOLUME_FRACTIONS:
            flags = [flag(k, v) for k, v in SETTINGS["multiscale"].items()]
            s = run([f"--data={data}", *flags, flag("missing", fraction), "--siren=false", f"--steps={VOLUME_STEPS}"])
            rows.append({"variant": "volume (multiscale)", "data": Path(data).name, **s})
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
    atomic_write(out, lambda f: f.write(text.encode()))
    print(out)


if __name__ == "__main__":
    cli(main)
