"""From a run folder back to a model: config.json + ckpt.pt -> the model, its input grid, its target's metadata.

Every fitting script passes ``meta`` to `oinr.fit.loop.fit`, which stores it in the checkpoint:

    experiment      the script's experiment name (2dimage, 3dvolume, sequence, ...)
    dims            spatial axes of the signal (2 for an image)
    out_channels    channels of the signal
    shape           the grid the model was fitted on, tensor order ((H, W) or (D, H, W))
    output          how the network output maps to the signal in [0, 1]: 'pm1' ((y + 1) / 2, targets
                    fitted on [-1, 1]), 'logit' (sigmoid, occupancy fitted with cross-entropy), 'unit' (as is)
    value_range     [lo, hi] of the original signal that [0, 1] stands for (e.g. [0, 255] for 8-bit)

`load_run` rebuilds the model through the registry (`oinr.models.registry.build_model`) from the saved header,
loads the weights, and returns them with the input grid; resume, the report and the downstream scripts
use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from oinr.encoding import to_unit
from oinr.errors import UserError
from oinr.fit.config import load_run_config
from oinr.fit.runs import first_line, load_checkpoint
from oinr.models.function import render_grid
from oinr.models.registry import build_model

OUTPUTS = {
    "pm1": to_unit,
    "logit": torch.sigmoid,
    "unit": lambda y: y.clamp(0, 1),
}


def image_meta(experiment: str, channels: int, shape, output: str = "pm1", **extra) -> dict:
    """The checkpoint metadata of a fit on a grid of `shape` with `channels` channels."""
    return {"experiment": experiment, "dims": len(shape), "out_channels": int(channels),
            "shape": [int(s) for s in shape], "output": output, "value_range": [0.0, 1.0], **extra}  # fmt: skip


@dataclass
class Restored:
    model: torch.nn.Module
    cfg: dict  # the run's resolved header
    meta: dict  # see the module docstring
    step: int  # the checkpoint's step
    run: Path

    def make_input(self, shape=None) -> torch.Tensor:
        """The model's input grid ``(1, C_in, *shape)`` (default: the grid it was fitted on)."""
        return self.model.make_input(tuple(shape or self.meta["shape"]))

    def to_signal(self, out: torch.Tensor) -> torch.Tensor:
        """Network output -> the signal in [0, 1]."""
        return OUTPUTS[self.meta.get("output", "pm1")](out)

    @torch.no_grad()
    def render(self, shape=None) -> torch.Tensor:
        """The represented signal ``(C, *shape)`` in [0, 1] on the fitted grid, or read off it on a grid of any
        `shape` (`oinr.models.function.render_grid`: a ValueError for a grid the model cannot read)."""
        return self.to_signal(render_grid(self.model, tuple(shape or self.meta["shape"]), self.meta["shape"]))[0].cpu()


def load_run(run, device="cpu", experiment: str | None = None) -> Restored:
    """Rebuild the model of run folder `run` with its final weights (see the module docstring).

    `experiment`, when given, must match the run's (e.g. '2dimage' for the derivative script).
    Every failure is a one-line UserError: not a run folder, no checkpoint, a checkpoint from before
    metadata was stored, a checkpoint that does not match the model its config describes.
    """
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"{run} is not a run folder (expected a folder with config.json and ckpt.pt)")
    ckpt = run / "ckpt.pt"
    if not ckpt.is_file():
        raise UserError(f"{run} has no ckpt.pt; the run ended before its first checkpoint")
    cfg = load_run_config(run)
    state = load_checkpoint(ckpt)
    meta = state.get("meta") or {}
    if not {"dims", "out_channels", "shape"} <= set(meta):
        raise UserError(f"{ckpt} carries no model metadata (written by an older version); rerun the fit")
    if experiment is not None and meta.get("experiment") != experiment:
        raise UserError(f"{run} is a {meta.get('experiment', 'unknown')!r} run; a {experiment!r} run is needed")
    model = build_model(cfg, int(meta["dims"]), int(meta["out_channels"]))
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"{ckpt} does not match the model its config.json describes ({first_line(e)})") from None
    model.eval()
    if hasattr(model, "fit_grid") and model.fit_grid() is None:  # a checkpoint from before the fit grid was kept
        model.fit_grid(meta["shape"])
    return Restored(model.to(device), cfg, meta, int(state.get("step", 0)), run)
