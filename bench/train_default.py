"""Benchmark: `python 2dimage/train.py` with no arguments, timed end to end (targets: under 120 s, >= 32 dB,
30 dB within 10 s of training).

Beside it, in the same run, the full-resolution conv O-INR (2dimage/conv.py, the default before the
multiscale model) to the end, for the ratio of their times to 30 dB, and the paper's preset
(2dimage/paper.py) for a few steps, to print the per-step cost of the default against the paper's
setting. Not a test: timings depend on the machine.

    python bench/train_default.py [--paper_steps=10]
"""

PAPER_STEPS = 10  # steps of the paper preset to time (this benchmark prints its per-step cost)
TARGET_S = 120.0  # the default run's wall-time target, start to finish
TARGET_DB = 32.0  # the default run's PSNR target
TARGET_30DB_S = 10.0  # training seconds to 30 dB (read off metrics.csv, every LOG_EVERY steps)

import csv  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

TRAIN = REPO_ROOT / "2dimage" / "train.py"


def timed_run(*args) -> tuple[float, dict]:
    """(wall seconds start to finish, summary.json) of one train.py run into a scratch folder."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(TRAIN), *args, f"--out={out}", "--progress=false"],
                              capture_output=True, text=True)  # fmt: skip
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"train.py {' '.join(args)} failed:\n{proc.stderr}")
        run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
        summary = json.loads((run / "summary.json").read_text())
        rows = list(csv.DictReader((run / "metrics.csv").open()))
        summary["time_to_30db_s"] = next((float(r["time_s"]) for r in rows if float(r["psnr"]) >= 30), None)
        return wall, summary


def main():
    configure(globals())
    wall, s = timed_run()
    print(f"default: {wall:.1f} s start to finish ({s['wall_time_s']:.1f} s training, {s['steps']} steps), "
          f"{s['psnr']:.2f} dB, {s['n_params']} parameters, {s['size']} px on {s['device']}")  # fmt: skip
    verdict = lambda ok: "met" if ok else "MISSED"
    t_ok, db_ok = verdict(wall <= TARGET_S), verdict(s["psnr"] >= TARGET_DB)
    hit = s["time_to_30db_s"]
    h_ok = verdict(hit is not None and hit <= TARGET_30DB_S)
    print(f"  30 dB after {'—' if hit is None else f'{hit:.1f}'} s of training (step rows every 10 steps)")
    print(f"  targets: <= {TARGET_S:g} s {t_ok}, >= {TARGET_DB:g} dB {db_ok}, 30 dB within {TARGET_30DB_S:g} s {h_ok}")
    _, c = timed_run(str(REPO_ROOT / "2dimage" / "conv.py"))
    ratio = c["time_to_30db_s"] / hit if hit and c["time_to_30db_s"] else float("nan")
    print(f"conv preset: {c['psnr']:.2f} dB after {c['steps']} steps in {c['wall_time_s']:.1f} s, 30 dB after "
          f"{c['time_to_30db_s']} s: the default reaches 30 dB {ratio:.1f}x sooner")  # fmt: skip
    _, p = timed_run(str(REPO_ROOT / "2dimage" / "paper.py"), f"--steps={PAPER_STEPS}", "--size=256")
    per_default, per_paper = s["wall_time_s"] / s["steps"], p["wall_time_s"] / p["steps"]
    print(f"paper preset at 256 px: {per_paper:.2f} s/step ({p['psnr']:.2f} dB after {p['steps']} steps); "
          f"default {per_default:.2f} s/step: {per_paper / per_default:.1f}x cheaper per step")  # fmt: skip


if __name__ == "__main__":
    cli(main)
