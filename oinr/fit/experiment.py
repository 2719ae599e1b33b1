"""The start and end of every experiment script: checks, device, seed, run folder, summary."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from oinr.errors import UserError
from oinr.fit.loop import SCHEDULES, FitConfig
from oinr.fit.runs import git_commit, new_run_dir, pick_device, seed_everything, write_config, write_json, write_summary
from oinr.models.registry import ignored_settings


def check(cond: bool, message: str) -> None:
    """Raise a UserError with `message` unless `cond`."""
    if not cond:
        raise UserError(message)


def check_common(cfg: dict) -> None:
    """Validate the settings every fitting script shares, before anything is written."""
    check(cfg["STEPS"] > 0, f"--steps must be > 0, got {cfg['STEPS']}")
    check(cfg.get("LR", 1.0) > 0, f"--lr must be > 0, got {cfg.get('LR')}")
    check(cfg.get("LOG_EVERY", 1) > 0, f"--log_every must be > 0, got {cfg.get('LOG_EVERY')}")
    check(cfg.get("CKPT_EVERY", 1) > 0, f"--ckpt_every must be > 0, got {cfg.get('CKPT_EVERY')}")
    sched = cfg.get("SCHEDULE", "cosine")
    check(sched in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, got {sched!r}")


def setup(cfg: dict):
    """Check the shared settings, pick the device and seed everything; returns the device."""
    check_common(cfg)
    device = pick_device(cfg.get("DEVICE", "auto"))
    seed_everything(cfg.get("SEED", 0))
    return device


def open_run(cfg: dict, experiment: str, device):
    """The run folder (a new one, or the RESUME folder) with its config.json; returns (run, ckpt or None).

    Call it after everything that can fail on bad input, so a mistake leaves no folder behind.
    """
    resume = cfg.get("RESUME") or ""
    if resume:
        run = Path(resume)
        ckpt = run / "ckpt.pt"
        check(ckpt.is_file(), f"--resume: {ckpt} not found; the run has no checkpoint to continue from")
        record_resume(run, cfg, device)  # config.json stays the run's original record
    else:
        run, ckpt = new_run_dir(cfg.get("OUT", "results"), experiment), None
        ignored = ignored_settings(cfg) if "MODEL" in cfg else []
        if ignored:  # header settings of other models: kept in the config, listed as not read
            print(f"note: model {cfg['MODEL']!r} does not read {', '.join(ignored)} (listed in config.json)")
        write_config(run, cfg, device, ignored_settings=ignored)
    return run, ckpt


def record_resume(run: Path, cfg: dict, device) -> None:
    """Append to run/resumes.json what this resume changed against config.json (e.g. a new STEPS)."""
    original = json.loads((run / "config.json").read_text()).get("config", {})
    changed = {k: [original.get(k), v] for k, v in json.loads(json.dumps(cfg)).items()
               if k != "RESUME" and original.get(k) != v}  # fmt: skip
    path = run / "resumes.json"
    try:
        history = json.loads(path.read_text()) if path.exists() else []
    except ValueError:
        history = []
    history.append({"started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv, "device": str(device),
                    "git_commit": git_commit(), "changed": changed})  # fmt: skip
    write_json(path, history)


def fit_config(cfg: dict, lr: float, desc: str, model=None) -> FitConfig:
    """A FitConfig from the shared header names; a `model` with ``adam_betas`` / ``adam_eps`` (the hash grid's
    paper setting) gets its own Adam constants, any other Adam's defaults."""
    return FitConfig(
        betas=tuple(getattr(model, "adam_betas", (0.9, 0.999))),
        eps=float(getattr(model, "adam_eps", 1e-8)),
        steps=cfg["STEPS"],
        lr=lr,
        schedule=cfg.get("SCHEDULE", "cosine"),
        warmup=cfg.get("WARMUP", 0),
        final_lr_ratio=cfg.get("FINAL_LR_RATIO", 0.01),
        log_every=cfg.get("LOG_EVERY", 10),
        ckpt_every=cfg.get("CKPT_EVERY", 200),
        progress=cfg.get("PROGRESS", True),
        desc=desc,
    )


def finish(run: Path, **summary) -> dict:
    """Write summary.json, print the headline numbers, and name the run folder on the last line."""
    write_summary(run, **summary)
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}
    print(json.dumps(shown))
    print(f"run folder: {run}")
    return summary
