"""Choose 2dimage/denoise.py's O-INR settings and step count on a tuning image, never on the reported one.

Every CANDIDATES entry (overrides of denoise.py's header) is fitted to the noisy TUNE image for MAX_STEPS
steps at a constant learning rate (so that the first s steps of a longer run are the run of s steps), its
PSNR against the clean tuning image logged every LOG_EVERY steps. The winner is the candidate with the
highest PSNR at any logged step, and STEPS is that step: the settings and the step count denoise.py then
runs with on the reported image (the cameraman). Prints one row per candidate and the winner's flags.

    python 2dimage/denoise_select.py [--tune=data/kodim23.png --max_steps=300]
"""

# data
TUNE = "data/kodim23.png"  # the tuning image (not the reported one)
# model
CANDIDATES = (  # overrides of denoise.py's header, one fit each ("" = its header as is)
    "",  # the conv O-INR on the grid's nodes (the header)
    "--model=multiscale --octaves=5 --coarse=2",
    "--model=multiscale --octaves=5 --coarse=4",
    "--model=multiscale --octaves=4 --coarse=8",
    "--model=multiscale --octaves=5 --coarse=8",
    "--model=multiscale --octaves=6 --coarse=8",
    "--model=multiscale --octaves=5 --coarse=16",
    "--model=multiscale --octaves=5 --coarse=4 --subpixel=4",
    "--model=multiscale --octaves=5 --coarse=8 --subpixel=4",
    "--model=multiscale --octaves=5 --coarse=16 --subpixel=4",
)
# optim
MAX_STEPS = 300  # steps of each tuning fit
LOG_EVERY = 3  # steps between PSNR readings
# output
OUT = "results"  # the tuning runs go to OUT/denoise/

import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402


def main():
    configure(globals())
    check(MAX_STEPS >= 1 and LOG_EVERY >= 1, "--max_steps and --log_every must be >= 1")
    check(bool(CANDIDATES), "--candidates must list at least one setting")
    script = REPO_ROOT / "2dimage" / "denoise.py"
    rows = []
    for cand in CANDIDATES:
        args = [f"--data={TUNE}", f"--steps={MAX_STEPS}", f"--log_every={LOG_EVERY}", "--schedule=constant",
                "--progress=false", f"--out={OUT}", *shlex.split(cand)]  # fmt: skip
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise UserError(f"candidate {cand!r} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        run = Path(proc.stdout.strip().splitlines()[-1].split(": ", 1)[-1])
        s = json.loads((run / "summary.json").read_text())
        rows.append((cand, s["oracle_best_psnr"], s["oracle_best_step"], s["input_psnr"], str(run)))
        print(f"{cand or '(header)'}: best {s['oracle_best_psnr']:.2f} dB at step {s['oracle_best_step']} "
              f"(noisy {s['input_psnr']:.2f})", flush=True)  # fmt: skip
    cand, best, step, _, run = max(rows, key=lambda r: r[1])
    print(f"winner on {TUNE}: {cand or '(header)'} at step {step} ({best:.2f} dB; run {run})")
    print(f"denoise.py flags: {cand} --schedule=constant --steps={step}")


if __name__ == "__main__":
    cli(main)
