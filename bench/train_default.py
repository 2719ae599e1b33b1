"""Benchmark: `python 2dimage/train.py` with no arguments, timed end to end (target: under 120 s, >= 32 dB).

Beside it, in the same run, the paper's preset (2dimage/paper.py) for a few steps, to print the
per-step cost of the default against the paper's setting. Not a test: timings depend on the machine.

    python bench/train_default.py [--paper_steps=10]
"""

PAPER_STEPS = 10  # steps of the paper preset to time (this benchmark prints its per-step cost)
TARGET_S = 120.0  # the default run's wall-time target, start to finish
TARGET_DB = 32.0  # the default run's PSNR target

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from oinr.config import configure  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.runs import REPO_ROOT  # noqa: E402

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
        return wall, json.loads((run / "summary.json").read_text())


def main():
    configure(globals())
    wall, s = timed_run()
    print(f"default: {wall:.1f} s start to finish ({s['wall_time_s']:.1f} s training, {s['steps']} steps), "
          f"{s['psnr']:.2f} dB, {s['n_params']} parameters, {s['size']} px on {s['device']}")  # fmt: skip
    verdict = lambda ok: "met" if ok else "MISSED"
    t_ok, db_ok = verdict(wall <= TARGET_S), verdict(s["psnr"] >= TARGET_DB)
    print(f"  targets: <= {TARGET_S:g} s {t_ok}, >= {TARGET_DB:g} dB {db_ok}")
    _, p = timed_run(str(REPO_ROOT / "2dimage" / "paper.py"), f"--steps={PAPER_STEPS}", "--size=256")
    per_default, per_paper = s["wall_time_s"] / s["steps"], p["wall_time_s"] / p["steps"]
    print(f"paper preset at 256 px: {per_paper:.2f} s/step ({p['psnr']:.2f} dB after {p['steps']} steps); "
          f"default {per_default:.2f} s/step: {per_paper / per_default:.1f}x cheaper per step")  # fmt: skip


if __name__ == "__main__":
    cli(main)
