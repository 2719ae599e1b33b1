"""The one training loop: Adam + learning-rate schedule, progress bar, metrics.csv, NaN guard,
periodic atomic checkpoints and exact resume.

The caller gives a ``loss_fn(model, step) -> loss`` (full grid, a tile chosen from the step, ...)
and an ``evaluate(model, loss) -> dict`` for the logged metrics. Everything that decides the next
step (model, optimizer, step, RNG state) is in the checkpoint and the learning rate is a pure
function of the step, so a resumed run ends equal to an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .errors import UserError
from .runs import MetricsLog, load_checkpoint, save_checkpoint

SCHEDULES = ("constant", "cosine", "exp")


class Diverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def lr_at(
    step: int, steps: int, lr: float, schedule: str = "cosine", warmup: int = 0, final_ratio: float = 0.01
) -> float:
    """Learning rate for 0-based `step` of `steps`: linear warm-up, then constant / cosine / exponential
    decay from `lr` to `lr * final_ratio` at the last step."""
    if schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup - 1)
    t = min(max(t, 0.0), 1.0)
    if schedule == "cosine":
        return lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * t)))
    if schedule == "exp":
        return lr * final_ratio**t
    return lr


@dataclass
class FitConfig:
    steps: int
    lr: float
    schedule: str = "cosine"
    warmup: int = 0
    final_lr_ratio: float = 0.01
    log_every: int = 10
    ckpt_every: int = 200
    progress: bool = True
    desc: str = "fit"
    betas: tuple = (0.9, 0.999)


@dataclass
class FitResult:
    steps: int
    wall_time_s: float
    last: dict = field(default_factory=dict)
    history: list = field(default_factory=list)

    def best(self, key: str, mode: str = "max") -> float:
        vals = [h[key] for h in self.history if key in h and math.isfinite(h[key])]
        if not vals:
            return math.nan
        return max(vals) if mode == "max" else min(vals)


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, int], torch.Tensor],
    fc: FitConfig,
    *,
    evaluate: Callable[[torch.nn.Module, float], dict] | None = None,
    run: Path | None = None,
    config: dict | None = None,
    resume: Path | None = None,
    columns: list[str] | None = None,
    stop: Callable[[dict], bool] | None = None,
) -> FitResult:
    """Train `model` for `fc.steps` Adam steps of ``loss_fn(model, step)``.

    With `run`, writes ``run/metrics.csv`` (step, time_s, loss, lr and the keys of `evaluate`) every
    `log_every` steps and ``run/ckpt.pt`` every `ckpt_every` steps and at the end. With `resume` (a
    checkpoint path) the model, optimizer, RNG and elapsed time are restored and the fit continues
    to `fc.steps`. `stop(row)`, checked at every logged row, ends the fit early when it returns True
    (the step count then is where it stopped).
    """
    if fc.steps <= 0:
        raise UserError(f"--steps must be > 0, got {fc.steps}")
    if not fc.lr > 0:
        raise UserError(f"--lr must be > 0, got {fc.lr}")
    opt = torch.optim.Adam(model.parameters(), lr=fc.lr, betas=fc.betas)
    start, elapsed0 = 0, 0.0
    ckpt = Path(run) / "ckpt.pt" if run is not None else None
    if resume is not None:
        state = load_checkpoint(resume)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise UserError(f"checkpoint {resume} does not match this model ({str(e).splitlines()[0][:160]})") from None
        start, elapsed0 = int(state["step"]), float(state.get("elapsed", 0.0))
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        if start >= fc.steps:
            print(f"note: the checkpoint is already at step {start} >= --steps={fc.steps}; nothing to train")

    log = None
    history: list[dict] = []
    if run is not None:
        cols = columns or ["step", "time_s", "loss", "lr"]
        log = MetricsLog(Path(run) / "metrics.csv", cols, resume_step=start if resume is not None else None)
        history = [{k: float(v) for k, v in r.items() if v != ""} for r in MetricsLog.read(log.path)]

    def save(step: int, elapsed: float):
        if ckpt is None:
            return
        save_checkpoint(
            ckpt,
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            step=step,
            elapsed=elapsed,
            rng=torch.get_rng_state(),
            config=config or {},
        )

    last: dict = history[-1] if history else {}
    t0 = time.perf_counter()
    bar = tqdm(range(start, fc.steps), desc=fc.desc, disable=not fc.progress, dynamic_ncols=True, leave=False)
    step = start
    for step in bar:
        lr = lr_at(step, fc.steps, fc.lr, fc.schedule, fc.warmup, fc.final_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, step)
        value = float(loss.detach())
        if not math.isfinite(value):
            bar.close()
            where = f"; the last good checkpoint is kept in {run}" if run is not None and ckpt.exists() else ""
            raise Diverged(f"the loss became {value} at step {step + 1}{where}; lower --lr or change the init")
        loss.backward()
        opt.step()
        done = step + 1
        if done % fc.log_every == 0 or done == fc.steps or done == 1:
            with torch.no_grad():
                row = {"step": done, "time_s": elapsed0 + time.perf_counter() - t0, "loss": value, "lr": lr}
                row.update(evaluate(model, value) if evaluate else {})
            last = row
            history.append(row)
            if log is not None:
                log.append(row)
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "time_s", "lr")})
            if stop is not None and stop(row):
                save(done, elapsed0 + time.perf_counter() - t0)
                break
        if ckpt is not None and (done % fc.ckpt_every == 0 or done == fc.steps):
            save(done, elapsed0 + time.perf_counter() - t0)
    bar.close()
    final = max(step + 1, start) if fc.steps > start else start
    return FitResult(steps=final, wall_time_s=elapsed0 + time.perf_counter() - t0, last=last, history=history)
