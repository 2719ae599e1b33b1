"""The one timed fit: every equal-time number of the project comes from `timed_fit`, under one protocol.

Before the clock starts:
  * what depends only on the grid is built by the caller, once, for every method alike: the input grid
    of a full-grid fit (``model.make_input(shape)``: an O-INR's encoding, the hash grid's precomputed
    lookup) and, for a point-sampled fit, the target and its sampling band;
  * one warm-up step (forward, backward, an Adam update) fills what a model builds on its first call (the
    multiscale O-INR's coarse encoding, the hash grid's per-cell rows of a grid trained in batches) and the
    allocator's caches; then `PROBE_STEPS` steps are timed to plan the schedule. The weights and the random
    state are put back afterwards, bit for bit, so the fit starts from the model as it was given.
On the clock: Adam with the model's own constants (``adam_betas``, ``adam_eps``: the hash grid's paper
settings), a cosine decay over the steps the probe predicts for the budget, and a hard stop: a step starts
only while the time left holds it (the last step's duration), so the fit ends within the budget.
Off the clock: ``score(model)`` at the fractions `score_at` of the budget (the clock is paused meanwhile),
the loop's logging rows, and the trace: ``metric(loss)`` of every step, read off the loss the step computes
anyway (by default the PSNR of an MSE on [-1, 1]).

``loss_fn(model, step)`` serves full-grid and point-sampled fits alike; without it the loss is the MSE of
``model(grid)`` against `y`.
"""

from __future__ import annotations

import time

import torch

from oinr.errors import UserError
from oinr.fit.loop import Diverged, FitConfig, _rng_state, _set_rng_state, fit
from oinr.metrics import psnr_from_mse

PROBE_STEPS = 2  # timed steps after the warm-up, to plan the cosine schedule


class _Stop(Exception):
    """Raised from inside the loss when the fit is over (budget, threshold); the model keeps its last step."""


def _sync(model) -> None:
    dev = next(model.parameters()).device
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def adam_constants(model) -> tuple[tuple, float]:
    """(betas, eps) of the model's own Adam (the hash grid's paper setting), else Adam's defaults."""
    return tuple(getattr(model, "adam_betas", (0.9, 0.999))), float(getattr(model, "adam_eps", 1e-8))


def probe(model, lr: float, loss_fn, steps: int = PROBE_STEPS) -> float:
    """Seconds per training step of ``loss_fn``: one warm-up step, then `steps` timed ones (forward, backward,
    Adam), all off any clock; the weights, buffers and random state are restored afterwards, bit for bit."""
    tensors = [*model.parameters(), *model.buffers()]
    saved = [t.detach().clone() for t in tensors]
    rng = _rng_state()
    betas, eps = adam_constants(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps)  # thrown away: fit() starts afresh

    def step(s):
        opt.zero_grad(set_to_none=True)
        loss_fn(model, s).backward()
        opt.step()

    step(0)  # the warm-up: first-call builds, allocator
    _sync(model)
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        step(s)
    _sync(model)
    per_step = (time.perf_counter() - t0) / steps
    with torch.no_grad():
        for t, v in zip(tensors, saved):
            t.copy_(v)
    model.zero_grad(set_to_none=True)
    _set_rng_state(rng)
    return per_step


def timed_fit(model, lr: float, grid=None, y=None, seconds: float = 10.0, threshold: float | None = 30.0,
              loss_fn=None, *, metric=None, score=None, score_at=(),
              stop_at_threshold: bool = False) -> dict:  # fmt: skip
    """Fit `model` for `seconds` of training time under the protocol above.

    `metric(loss) -> float` makes the per-step trace (default: PSNR of an MSE on [-1, 1]); `threshold` on it
    gives ``time_to_threshold`` (seconds on the clock when a step's state first met it), and with
    `stop_at_threshold` ends the fit there. `score(model) -> float` runs off the clock (under no_grad) at each
    fraction of the budget in `score_at`.

    Returns steps (updates applied), planned_steps, seconds (on the clock), probe_s (seconds per step the probe
    measured), time_to_threshold, trace [(seconds, metric)], scores [(seconds, score)], and why it ended:
    ``budget``, ``plan`` (the planned steps ran out first), ``threshold`` or ``diverged``.
    """
    if not seconds > 0:
        raise UserError(f"the time budget must be > 0 seconds, got {seconds}")
    loss_at = loss_fn or (lambda m, step: torch.mean((m(grid) - y) ** 2))
    metric = metric or (lambda loss: psnr_from_mse(loss, 2.0))  # [-1, 1]: the same dB as [0, 1]
    per_step = probe(model, lr, loss_at)
    planned = max(10, int(seconds / per_step))
    betas, eps = adam_constants(model)
    fc = FitConfig(steps=planned, lr=lr, schedule="cosine", log_every=10**9, ckpt_every=10**9, progress=False,
                   betas=betas, eps=eps)  # fmt: skip
    marks = sorted(seconds * f for f in score_at) if score is not None else []
    trace, scores = [], []
    st = {"paused": 0.0, "step_start": None, "step_s": per_step, "done": 0, "last": None, "why": "plan"}
    start = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - start - st["paused"]

    def timed_loss(m, step):
        if not torch.is_grad_enabled():  # the loop's logging row: the last loss, no forward on the clock
            return st["last"]
        now = elapsed()
        if st["step_start"] is not None:
            st["step_s"] = now - st["step_start"]  # the last step: forward, backward, Adam
        while marks and now >= marks[0]:
            marks.pop(0)
            t = time.perf_counter()
            with torch.no_grad():
                scores.append((now, float(score(m))))
            _sync(m)
            st["paused"] += time.perf_counter() - t
        if now + st["step_s"] > seconds:
            st["why"] = "budget"
            raise _Stop
        st["step_start"] = now
        loss = loss_at(m, step)
        trace.append((now, float(metric(float(loss.detach())))))
        if stop_at_threshold and threshold is not None and trace[-1][1] >= threshold:
            st["why"] = "threshold"
            raise _Stop
        st["done"] += 1
        st["last"] = loss.detach()
        return loss

    try:
        fit(model, timed_loss, fc)
    except _Stop:
        pass
    except Diverged:
        st["why"], st["done"] = "diverged", len(trace) - 1
    _sync(model)
    spent = elapsed()
    hit = None if threshold is None else next((t for t, v in trace if v >= threshold), None)
    return {"steps": st["done"], "planned_steps": planned, "seconds": spent, "probe_s": per_step,
            "time_to_threshold": hit, "trace": trace, "scores": scores, "ended": st["why"]}  # fmt: skip
