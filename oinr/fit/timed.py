"""A fit for a fixed wall-time budget, as the benchmarks compare methods at equal time.

`timed_fit` fits a full-grid image model with the shared loop (`oinr.fit.loop.fit`), a cosine decay
over the steps a 2-step probe predicts for the budget, and stops when the budget is spent, whatever
the step; it keeps a trace of the training PSNR of each step's state against the seconds spent.
"""

from __future__ import annotations

import time

import torch

from oinr.fit.loop import FitConfig, fit
from oinr.metrics import psnr_from_mse


class _TimeUp(Exception):
    """Raised from inside the loss when the wall-time budget is spent; the model keeps its last step."""


def timed_fit(model, lr: float, grid, y, seconds: float, threshold: float = 30.0, loss_fn=None) -> dict:
    """Fit for `seconds` of wall time with a cosine decay over the steps a 2-step probe predicts.

    The loss is the MSE of ``model(grid)`` against `y` on [-1, 1], or ``loss_fn(model, step)`` when given
    (a point-sampled or batched fit; `grid` and `y` are then unused). The trace's PSNR reads the loss as
    an MSE on [-1, 1].
    """
    loss_at = loss_fn or (lambda m, step: torch.mean((m(grid) - y) ** 2))
    probe = [p.detach().clone() for p in model.parameters()]
    t0 = time.perf_counter()
    for _ in range(2):  # the probe: forward + backward, then the weights restored
        model.zero_grad(set_to_none=True)
        loss_at(model, 0).backward()
    per_step = (time.perf_counter() - t0) / 2
    with torch.no_grad():
        for p, q in zip(model.parameters(), probe):
            p.copy_(q)
    steps = max(10, int(seconds / (per_step * 1.1)))  # 1.1: Adam's own cost
    trace = []  # (seconds since the start, training PSNR of the state the loss is computed on)
    start = time.perf_counter()

    def timed_loss(m, step):
        elapsed = time.perf_counter() - start
        if elapsed > seconds and torch.is_grad_enabled():
            raise _TimeUp
        loss = loss_at(m, step)
        if torch.is_grad_enabled():
            trace.append((elapsed, psnr_from_mse(float(loss.detach()), 2.0)))  # [-1, 1]: the same dB as [0, 1]
        return loss

    fc = FitConfig(steps=steps, lr=lr, schedule="cosine", log_every=10**9, ckpt_every=10**9, progress=False,
                   betas=tuple(getattr(model, "adam_betas", (0.9, 0.999))),
                   eps=float(getattr(model, "adam_eps", 1e-8)))  # fmt: skip
    try:
        fit(model, timed_loss, fc)
    except _TimeUp:
        pass
    hit = next((t for t, p in trace if p >= threshold), None)
    return {"steps": len(trace), "planned_steps": steps, "seconds": time.perf_counter() - start,
            "time_to_threshold": hit, "trace": trace}  # fmt: skip
