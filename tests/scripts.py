"""Running an experiment script as a user does, and reading the run folder it names on its last line."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_script(script, *args, cwd=None, threads=None):
    """`python script args...` from `cwd` (the repository root by default); `threads` sets OMP_NUM_THREADS
    (one thread is steadier for tiny fits on a shared 2-core machine)."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)  # fmt: skip


def run_folder(proc) -> Path:
    """The run folder a script printed as its last line."""
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("run folder: "), proc.stdout + proc.stderr
    return Path(last.removeprefix("run folder: "))
