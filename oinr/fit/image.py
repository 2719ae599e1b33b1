"""Fitting one image with O-INR or a baseline, as the 2D scripts (train, denoise) share it.

Targets are fitted on the [-1, 1] scale (2*y - 1): the network's output is zero-mean at
initialisation, so no layer has to learn the image's mean first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from oinr.data.images import load_image, save_image, upsample_band_limited
from oinr.encoding import to_unit
from oinr.errors import UserError
from oinr.fit.experiment import finish, fit_config, open_run, setup
from oinr.fit.loop import FitResult, fit
from oinr.fit.memory import check_fits
from oinr.fit.restore import image_meta
from oinr.fit.runs import write_config
from oinr.metrics import psnr, psnr_from_mse, ssim
from oinr.models.conv import n_params
from oinr.models.function import set_fit_grid, shifted
from oinr.models.registry import build_model, model_lr
from oinr.paths import resolve_path
from oinr.plots import curves, montage

IMAGE_COLUMNS = ["step", "time_s", "loss", "lr", "psnr"]


def build_image_model(cfg: dict, channels: int, device, shape=None) -> torch.nn.Module:
    """MODEL from the header (any model of `oinr.models.registry`) for a `channels`-channel image, on `device`.

    With `shape` (H, W), a fit on that grid whose memory estimate exceeds what is available is refused here,
    before anything is allocated or written, with the --size that fits (`oinr.fit.memory`).
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
    return to_unit(model(model.make_input(tuple(hw)))[0]).cpu()


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
    set_fit_grid(model, (h, w))  # the grid that defines the function (and what render reads off it)
    grid = model.make_input((h, w))  # (1, C_in, H, W)
    y = (target * 2 - 1).unsqueeze(0).to(device)  # (1, C, H, W)
    ref = None if reference is None else reference.unsqueeze(0).to(device)  # (1, C, H, W) in [0, 1]

    factor = int(cfg.get("SUBPIXEL") or 1)
    if factor > 1:  # the loss reads the function between the nodes; the PSNR is still the fit grid's
        loss_fn = subpixel_loss(y, factor, int(cfg.get("SEED", 0)), float(cfg.get("ON_GRID") or 0.0))
        ref = (target if reference is None else reference).unsqueeze(0).to(device)
    else:

        def loss_fn(m, step):
            return torch.mean((m(grid) - y) ** 2)

    def evaluate(m, loss):
        if ref is None:
            return {"psnr": psnr_from_mse(loss, 2.0)}  # MSE on [-1, 1]: the same dB as on [0, 1]
        return {"psnr": psnr(to_unit(m(grid)), ref)}

    fc = fit_config(cfg, model_lr(cfg) if lr is None else lr, f"{cfg['MODEL']} {h}x{w}", model)
    meta = image_meta(experiment, c, (h, w))
    res = fit(model, loss_fn, fc, evaluate=evaluate, run=run, config=cfg, resume=ckpt, columns=IMAGE_COLUMNS, meta=meta)
    return render(model, (h, w)), res


def subpixel_loss(y: torch.Tensor, factor: int, seed: int = 0, on_grid: float = 0.0, members: bool = False):
    """``loss_fn(model, step)``: the MSE at the fit grid's nodes moved by j_a / `factor` of a cell along each
    axis a, against the band-limited interpolant of the target `y` ``(1, C, *shape)`` there. With `members`,
    `y` is ``(K, C, *shape)``, one target per member of an ensemble, and the loss ``(K,)`` one per member.

    j is drawn per step from 0..factor-1 on each axis (0 on every axis in a share `on_grid` of the steps),
    seeded by (seed, step) so that a resumed run draws the same; points moved past the last node read the
    interpolant's mirror image (its symmetric extension). The model learns the function between its samples,
    not only at them (oinr.models.function.shifted).
    """
    shape = tuple(y.shape[2:])
    up = torch.stack([upsample_band_limited(t, factor) for t in y])  # (B, C, (H - 1) f + 1, (W - 1) f + 1)
    index = []  # per axis, per offset j: the fine indices of the moved nodes
    for n in shape:
        last = (n - 1) * factor
        pos = torch.arange(n)[None] * factor + torch.arange(factor)[:, None]  # (f, n)
        index.append(torch.where(pos > last, 2 * last - pos, pos).to(y.device))

    def loss_fn(m, step):
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        j = torch.randint(0, factor, (len(shape),), generator=g).tolist()
        if torch.rand((), generator=g) < on_grid:  # a share of the steps on the grid's own nodes
            j = [0] * len(shape)
        target = up[(slice(None), slice(None), *torch.meshgrid(*[ix[k] for ix, k in zip(index, j)], indexing="ij"))]
        delta = [k * 2.0 / ((n - 1) * factor) if n > 1 else 0.0 for k, n in zip(j, shape)]
        if members:  # (K, 1, C, *shape) against (K, C, *shape): one loss per member
            return ((shifted(m, shape, delta)[:, 0] - target) ** 2).flatten(1).mean(1)
        return torch.mean((shifted(m, shape, delta) - target) ** 2)

    return loss_fn


def fit_in_folder(cfg: dict, img: torch.Tensor, device, folder) -> torch.nn.Module:
    """Fit model ``cfg['MODEL']`` (header `cfg`) to `img` ``(C, H, W)`` into `folder`, a 2dimage-style run folder.

    The folder gets config.json, metrics.csv and ckpt.pt, so `oinr.fit.restore.load_run` rebuilds the fit
    (derive.py reuses it through --baseline_runs). Returns the fitted model in eval mode.
    """
    folder = Path(folder)
    folder.mkdir(parents=True)
    torch.manual_seed(int(cfg.get("SEED", 0)))
    model = build_image_model(cfg, img.shape[0], device)
    write_config(folder, cfg, device)
    fit_image(cfg, model, img, folder)
    return model.eval()


def image_experiment(cfg: dict, experiment: str, extra=None) -> Path:
    """The image experiments' one flow: load, build, fit, evaluate, save; returns the run folder.

    `cfg` is a resolved header with DATA, SIZE, GRAY, MODEL and the fit's settings; `extra(model)` adds
    entries to summary.json (the CZ operator's levels and coarsest grid, say).
    """
    # data
    path = resolve_path(cfg["DATA"])
    img = load_image(path, cfg["SIZE"], cfg["GRAY"])  # (C, H, W) in [0, 1]
    c, h, w = img.shape
    if str(cfg["MODEL"]).lower() == "hashgrid" and not cfg.get("HASH_MAX_RES"):  # kept in config.json
        cfg["HASH_MAX_RES"] = max(h, w)

    # model: everything that can fail on bad input is checked before the run folder exists
    device = setup(cfg)
    model = build_image_model(cfg, c, device, (h, w))
    run, ckpt = open_run(cfg, experiment, device)
    name = str(cfg["MODEL"])
    print(f"image {path}: {c}x{h}x{w}, model {name} ({n_params(model)} parameters), device {device}")

    # fit
    pred, res = fit_image(cfg, model, img, run, ckpt, experiment=experiment)

    # evaluate: the clipped reconstruction against the target, in [0, 1]
    p, s = psnr(pred, img), ssim(pred, img)

    # save
    save_image(run / "reconstruction.png", pred)
    label = f"{name} ({p:.2f} dB)"
    montage({"target": img, label: pred}, run / "figures" / "reconstruction.png", error_of=(label, "target"))
    curves(run / "metrics.csv", run / "figures" / "curves.png", title=f"{name} on {path.name}")
    finish(run, psnr=p, ssim=s, n_params=n_params(model), steps=res.steps, wall_time_s=res.wall_time_s,
           s_per_step=res.wall_time_s / max(res.steps, 1), device=str(device), model=name, lr=model_lr(cfg),
           image=str(cfg["DATA"]), size=[h, w], **(extra(model) if extra else {}))  # fmt: skip
    return run
