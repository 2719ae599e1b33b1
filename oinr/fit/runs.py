"""Run folders, config.json, metrics.csv, summary.json, checkpoints and seeding.

A run lives in ``<OUT>/<experiment>/<YYYYmmdd-HHMMSS>[-k]/`` and is never overwritten: a clash adds
a counter. Checkpoints are dicts of state_dicts plus the config, written atomically (temp file +
rename) and read with ``torch.load(weights_only=True)``, so a file that carries code is refused.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from oinr.errors import UserError
from oinr.paths import REPO_ROOT


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; otherwise the named device (checked).

    Under torchrun (LOCAL_RANK set) 'auto' and 'cuda' mean ``cuda:LOCAL_RANK``: one GPU per process.
    """
    local = os.environ.get("LOCAL_RANK")
    if name in ("auto", "cuda") and local is not None and torch.cuda.is_available():
        return torch.device("cuda", int(local) % torch.cuda.device_count())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for but CUDA is not available; use --device=cpu")
    return dev


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=False
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def new_run_dir(out: str | Path, experiment: str) -> Path:
    """Create and return a fresh run folder under ``out/experiment`` (never an existing one)."""
    root = Path(out) / experiment
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the results folder {root}: {e.strerror}") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        run = root / (stamp if k == 0 else f"{stamp}-{k}")
        try:
            run.mkdir()
            (run / "figures").mkdir()
            return run
        except FileExistsError:
            continue
    raise UserError(f"could not find a free run folder name under {root}")


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def write_json(path: Path, obj) -> None:
    """Write JSON atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(_jsonable(obj), indent=2).encode()))


def write_config(run: Path, cfg: dict, device, **extra) -> None:
    """config.json: resolved config, argv, git commit, device, library versions and `extra` entries."""
    write_json(
        run / "config.json",
        {
            "config": cfg,
            **extra,
            "argv": sys.argv,
            "git_commit": git_commit(),
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )


def write_summary(run: Path, **metrics) -> dict:
    """summary.json with the headline metrics (psnr, n_params, steps, wall_time_s, device, ...)."""
    write_json(run / "summary.json", metrics)
    return metrics


def atomic_write(path: Path, writer) -> None:
    """Write through a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, **state) -> None:
    """Save a dict of state_dicts / tensors / plain values atomically."""
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint written by save_checkpoint; anything that is not plain tensors/dicts is refused."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means 'not a safe checkpoint'
        raise UserError(f"refusing checkpoint {path}: not a plain tensor/state-dict file ({first_line(e)})") from None


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, shortened at a word boundary to at most `limit` characters."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else e.__class__.__name__
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


class MetricsLog:
    """metrics.csv: a header row, then one row per logged step (step, time_s, loss, ...).

    On resume, rows past the checkpoint's step are dropped so the file matches an uninterrupted run.
    """

    def __init__(self, path: Path, columns: list[str], resume_step: int | None = None):
        self.path, self.columns = Path(path), list(columns)
        if resume_step is not None and self.path.exists():
            rows = [r for r in self.read(self.path) if int(float(r["step"])) <= resume_step]
            self._rewrite(rows)
        elif not self.path.exists():
            self._rewrite([])

    def _rewrite(self, rows):
        def writer(f):
            f.write((",".join(self.columns) + "\n").encode())
            for r in rows:
                f.write((",".join(str(r.get(c, "")) for c in self.columns) + "\n").encode())

        atomic_write(self.path, writer)

    def append(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c, "")) for c in self.columns])

    @staticmethod
    def read(path: Path) -> list[dict]:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


class _LineProgress:
    """A progress report for logs: one plain line at every tenth of the way, no carriage returns."""

    def __init__(self, iterable, desc: str, total: int):
        self.iterable, self.desc, self.total, self.postfix = iterable, desc or "progress", total, {}

    def __iter__(self):
        marks = {max(1, round(self.total * k / 10)) for k in range(1, 11)} if self.total else set()
        for i, x in enumerate(self.iterable, 1):
            yield x
            if i in marks:
                extra = " ".join(f"{k}={v}" for k, v in self.postfix.items())
                print(f"{self.desc}: {i}/{self.total} {extra}".rstrip(), file=sys.stderr, flush=True)

    def set_postfix(self, values: dict) -> None:
        self.postfix = dict(values)

    def close(self) -> None:
        pass


def progress(iterable, desc: str = "", enabled: bool = True):
    """A tqdm bar on a terminal; a line every 10 % when stderr is a file or a pipe; nothing when not `enabled`."""
    from tqdm.auto import tqdm

    if enabled and not sys.stderr.isatty():
        return _LineProgress(iterable, desc, len(iterable) if hasattr(iterable, "__len__") else 0)
    return tqdm(iterable, desc=desc, disable=not enabled, dynamic_ncols=True, leave=False)
