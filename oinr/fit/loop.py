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

from oinr.errors import UserError
from oinr.fit.runs import MetricsLog, first_line, load_checkpoint, progress, save_checkpoint

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
    eps: float = 1e-8
    optimizer: str = "adam"  # adam, or sgd (momentum betas[0]: an update linear in the gradients)


@dataclass
class FitResult:
    steps: int
    wall_time_s: float
    last: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    # ensembles (a loss_fn that returns one loss per member): per-member outcome, (K,) tensors
    member_steps: torch.Tensor | None = None  # steps each member trained (its stop or divergence step)
    diverged: torch.Tensor | None = None  # bool: the member's loss became NaN/inf (its last finite weights kept)
    stopped: torch.Tensor | None = None  # bool: the member met `stop_each` before the step limit

    def best(self, key: str, mode: str = "max") -> float:
        vals = [h[key] for h in self.history if key in h and math.isfinite(h[key])]
        if not vals:
            return math.nan
        return max(vals) if mode == "max" else min(vals)


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state) -> None:
    if isinstance(state, torch.Tensor):  # checkpoints before the CUDA state was saved
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"])[: torch.cuda.device_count()])


def _summarise(metrics: dict, active: torch.Tensor | None) -> dict:
    """Per-member metric tensors -> scalars for metrics.csv: the mean over members still finite."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, torch.Tensor) and v.ndim == 1:
            v = v.detach().float()
            keep = torch.isfinite(v)
            out[k] = float(v[keep].mean()) if keep.any() else math.nan
        else:
            out[k] = float(v)
    if active is not None:
        out["active"] = int(active.sum())
    return out


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, int], torch.Tensor],
    fc: FitConfig,
    *,
    evaluate: Callable[[torch.nn.Module, torch.Tensor], dict] | None = None,
    run: Path | None = None,
    config: dict | None = None,
    resume: Path | None = None,
    columns: list[str] | None = None,
    stop: Callable[[dict], bool] | None = None,
    stop_each: Callable[[dict], torch.Tensor] | None = None,
    meta: dict | None = None,
) -> FitResult:
    """Train `model` for `fc.steps` Adam steps of ``loss_fn(model, step)``.

    Metrics. Every `log_every` steps (and after the first and the last) one row describes one state of
    the model, the state after ``step`` updates: its loss is recomputed on that state (``loss_fn(model,
    step)`` without gradient) and `evaluate(model, loss)` adds the other metrics of the same state.

    With `run`, writes ``run/metrics.csv`` (step, time_s, loss, lr and the keys of `evaluate`) and
    ``run/ckpt.pt`` every `ckpt_every` steps and at the end; `meta` (what `oinr.fit.restore.load_run` needs
    to rebuild the model and its target: dims, out_channels, shape, output scale, ...) is stored in it.
    With `resume` (a checkpoint path) the model, optimizer, RNG (CPU and CUDA) and elapsed time are
    restored and the fit continues to `fc.steps`. `stop(row)`, checked at every logged row, ends the fit
    early when it returns True (the step count then is where it stopped).

    Ensembles. When `loss_fn` returns a ``(K,)`` tensor, `model` is an `oinr.models.ensemble.Ensemble` of K
    members and each entry is one member's loss: the members are trained together (the sum is
    differentiated; the members share no parameters, so each gets its own gradient) but judged apart.
    A member whose loss becomes NaN/inf is frozen at its last finite weights and flagged as diverged
    (the others go on); `stop_each(metrics) -> (K,) bool` at each logged row freezes the members that
    are done. A frozen member's weights stay bit-for-bit where they were. The fit ends when all members
    are frozen or at `fc.steps`. `evaluate` may return ``(K,)`` tensors; metrics.csv logs their mean
    over the finite members, and an ``active`` count.
    """
    if fc.steps <= 0:
        raise UserError(f"--steps must be > 0, got {fc.steps}")
    if not fc.lr > 0:
        raise UserError(f"--lr must be > 0, got {fc.lr}")
    if fc.optimizer not in ("adam", "sgd"):
        raise UserError(f"--optimizer must be adam or sgd, got {fc.optimizer!r}")
    if fc.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=fc.lr, momentum=fc.betas[0])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=fc.lr, betas=fc.betas, eps=fc.eps)
    start, elapsed0 = 0, 0.0
    ckpt = Path(run) / "ckpt.pt" if run is not None else None
    members = getattr(model, "members", None)  # K for an Ensemble
    active = torch.ones(members, dtype=torch.bool) if members else None
    diverged = torch.zeros(members, dtype=torch.bool) if members else None
    member_steps = torch.zeros(members, dtype=torch.long) if members else None
    if resume is not None:
        state = load_checkpoint(resume)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise UserError(f"checkpoint {resume} does not match this model ({first_line(e)})") from None
        start, elapsed0 = int(state["step"]), float(state.get("elapsed", 0.0))
        if "rng" in state:
            _set_rng_state(state["rng"])
        if members and "active" in state:
            active, diverged = state["active"].clone(), state["diverged"].clone()
            member_steps = state["member_steps"].clone()
        if start >= fc.steps:
            print(f"note: the checkpoint is already at step {start} >= --steps={fc.steps}; nothing to train")

    log = None
    history: list[dict] = []
    if run is not None:
        cols = columns or ["step", "time_s", "loss", "lr"]
        if members and "active" not in cols:
            cols = [*cols, "active"]
        log = MetricsLog(Path(run) / "metrics.csv", cols, resume_step=start if resume is not None else None)
        history = [{k: float(v) for k, v in r.items() if v != ""} for r in MetricsLog.read(log.path)]

    def save(step: int, elapsed: float):
        if ckpt is None:
            return
        extra = dict(active=active, diverged=diverged, member_steps=member_steps) if members else {}
        save_checkpoint(ckpt, model=model.state_dict(), optimizer=opt.state_dict(), step=step, elapsed=elapsed,
                        rng=_rng_state(), config=config or {}, meta=meta or {}, **extra)  # fmt: skip

    def log_row(step: int, lr: float, t0: float) -> dict:
        """Loss and metrics of the model's current state (after `step` updates), appended to metrics.csv."""
        with torch.no_grad():
            cur = loss_fn(model, step)
            row = {"step": step, "time_s": elapsed0 + time.perf_counter() - t0, "lr": lr}
            metrics = {"loss": cur, **(evaluate(model, cur) if evaluate else {})}
            row.update(_summarise(metrics, active))
        history.append(row)
        if log is not None:
            log.append(row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "time_s", "lr")})
        return row, metrics

    last: dict = history[-1] if history else {}
    t0 = time.perf_counter()
    bar = progress(range(start, fc.steps), fc.desc, fc.progress)
    step = start
    params = [p for p in model.parameters() if p.requires_grad]
    for step in bar:
        lr = lr_at(step, fc.steps, fc.lr, fc.schedule, fc.warmup, fc.final_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, step)
        if members:
            value = loss.detach()
            bad = active & ~torch.isfinite(value.cpu())
            if bad.any():
                diverged |= bad
                active &= ~bad
                member_steps[bad] = step
                print(f"note: {int(bad.sum())} member(s) diverged at step {step + 1} (frozen, flagged); "
                      f"{int(active.sum())} still training")  # fmt: skip
            if not active.any():
                break
            keep = active.to(value.device)
            torch.where(keep, loss, torch.zeros_like(loss)).sum().backward()
            frozen = None if bool(active.all()) else [p.detach().clone() for p in params]  # only while any is frozen
            opt.step()
            if frozen is not None:
                with torch.no_grad():  # frozen members: weights restored exactly (Adam's momentum would move them)
                    for p, old in zip(params, frozen):
                        p.copy_(torch.where(keep.view(-1, *[1] * (p.ndim - 1)), p, old))
        else:
            value = float(loss.detach())
            if not math.isfinite(value):
                bar.close()
                where = f"; the last good checkpoint is kept in {run}" if run is not None and ckpt.exists() else ""
                raise Diverged(f"the loss became {value} at step {step + 1}{where}; lower --lr or change the init")
            loss.backward()
            opt.step()
        done = step + 1
        if members:
            member_steps[active] = done
        if done % fc.log_every == 0 or done == fc.steps or done == 1:
            last, metrics = log_row(done, lr, t0)
            if members and stop_each is not None:
                finished = stop_each(metrics).detach().cpu().bool() & active
                active &= ~finished
            if stop is not None and stop(last) or (members and not active.any()):
                save(done, elapsed0 + time.perf_counter() - t0)
                break
        if ckpt is not None and (done % fc.ckpt_every == 0 or done == fc.steps):
            save(done, elapsed0 + time.perf_counter() - t0)
    bar.close()
    final = max(step + 1, start) if fc.steps > start else start
    result = FitResult(steps=final, wall_time_s=elapsed0 + time.perf_counter() - t0, last=last, history=history)
    if members:
        result.member_steps, result.diverged = member_steps, diverged
        result.stopped = ~active & ~diverged & (member_steps < fc.steps)
    return result
