"""Fitting one image with O-INR or a baseline, as the 2D scripts (train, denoise) share it.

Targets are fitted on the [-1, 1] scale (2*y - 1): the network's output is zero-mean at
initialisation, so no layer has to learn the image's mean first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import UserError
from .experiment import fit_config
from .fitting import FitResult, fit
from .memory import check_fits
from .metrics import psnr, psnr_from_mse
from .models import build_model, model_lr
from .restore import image_meta

IMAGE_COLUMNS = ["step", "time_s", "loss", "lr", "psnr"]


def build_image_model(cfg: dict, channels: int, device, shape=None) -> torch.nn.Module:
    """MODEL from the header (any registered model, see `oinr.models`), for a `channels`-channel image, on `device`.

    With `shape` (H, W), a fit on that grid whose memory estimate exceeds what is available is refused here,
    before anything is allocated or written, with the --size that fits (`oinr.memory`).
    """
    model = build_model(cfg, 2, channels).to(device)
    if shape is None:
        return model
    if not getattr(model, "grid_bound", False):  # estimated on a small probe grid, before the real one exists
        check_fits(model, tuple(shape), channels, device, "fitting an image",
                   lambda side: f"pass --size={side} (or smaller) to fit a downscaled copy")  # fmt: skip
        return model
    try:  # a grid-bound model (the CZ operator) checks the grid and sizes its coarsest level for it
        model.make_input(tuple(shape))
    except ValueError as e:
        name = cfg.get("MODEL", "oinr")
        raise UserError(f"--model={name} cannot fit a {shape[0]}x{shape[1]} image: {e}") from None
    return model


@torch.no_grad()
def render(model: torch.nn.Module, hw) -> torch.Tensor:
    """A fitted model's image on the grid of size `hw`: ``(C, h, w)`` in [0, 1] on the CPU."""
    return ((model(model.make_input(tuple(hw)))[0] + 1) / 2).clamp(0, 1).cpu()


def fit_image(
    cfg: dict,
    model: torch.nn.Module,
    target: torch.Tensor,
    run: Path | None = None,
    ckpt: Path | None = None,
    reference: torch.Tensor | None = None,
    experiment: str = "2dimage",
    lr: float | None = None,
) -> tuple[torch.Tensor, FitResult]:
    """Fit `model` to `target` ``(C, H, W)`` in [0, 1]; return (reconstruction ``(C, H, W)`` in [0, 1], result).

    metrics.csv's ``psnr`` is against `reference` when given (the clean image when denoising), else
    against the target (read off the training loss, no extra forward pass). `lr` overrides the model's
    registry rate. Without `run` nothing is written (a baseline fitted inside another experiment).
    """
    c, h, w = target.shape
    device = next(model.parameters()).device
    grid = model.make_input((h, w))  # (1, C_in, H, W)
    y = (target * 2 - 1).unsqueeze(0).to(device)  # (1, C, H, W)
    ref = None if reference is None else reference.unsqueeze(0).to(device)  # (1, C, H, W) in [0, 1]

    def loss_fn(m, step):
        return torch.mean((m(grid) - y) ** 2)

    def evaluate(m, loss):
        if ref is None:
            return {"psnr": psnr_from_mse(loss, 2.0)}  # MSE on [-1, 1]: the same dB as on [0, 1]
        return {"psnr": psnr(((m(grid) + 1) / 2).clamp(0, 1), ref)}

    fc = fit_config(cfg, model_lr(cfg) if lr is None else lr, f"{cfg['MODEL']} {h}x{w}", model)
    meta = image_meta(experiment, c, (h, w))
    res = fit(model, loss_fn, fc, evaluate=evaluate, run=run, config=cfg, resume=ckpt, columns=IMAGE_COLUMNS, meta=meta)
    return render(model, (h, w)), res
