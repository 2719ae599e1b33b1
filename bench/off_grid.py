"""Benchmark: how good each representation is between its samples, at equal training time.

Per image: a SIZE-px image (gray) is blurred with [1, 2, 1] x [1, 2, 1] / 16 and decimated by 2, so that
the half-size grid and the full one share the [-1, 1] extent (sample i of n at -1 + 2i/(n - 1)). Every
method is fitted to the half-size image for SECONDS (the shared timed fit: the grid and the targets are
built before the clock starts), then read off its grid:

* on-grid: PSNR on the half-size grid it was fitted on;
* 2x: the function rendered at the full size (oinr.models.function.render_grid), PSNR against the
  full-size image; beside bilinear and bicubic (align_corners=True), Lanczos-3 and the band-limited
  interpolant (the samples' mirror-symmetric Fourier series) of the same half-size samples;
* derivative: d/dx and d/dy of the represented function at the fit nodes (central differences of a 4x
  rendering, a step of a quarter cell), their correlation with and error relative to central differences
  of the full-size image at the same points;
* above Nyquist: the share of a 4x rendering's energy (mean removed, mirror-extended) at frequencies above
  the half-size grid's Nyquist rate: what the fit put between the samples that the samples cannot hold.

Settings come from 2dimage/train.py's header (the default) and 2dimage/conv.py (the paper's operator);
rows with SUBPIXEL > 1 train on sub-pixel moved grids (oinr.fit.image.subpixel_loss); VARIANTS lists the
rows. The first image tunes (the cameraman, where the defaults were chosen); the others are held out.

    python bench/off_grid.py [--images=data/camera.png,data/kodim23.png --seconds=20]
"""

IMAGES = ("data/camera.png", "data/kodim23.png")  # the first one tunes, the rest are held out
SIZE = 257  # full-size side (odd: its half has (SIZE - 1) / 2 + 1 samples on the same extent)
SECONDS = 20.0  # training wall time per method and image
METHODS = ("default", "linear", "multiscale-grid", "conv", "conv-subpixel", "siren")  # see VARIANTS
SEED = 0
DEVICE = "auto"
OUT = "results"  # the table goes to OUT/bench/off_grid-<timestamp>.md

import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oinr.data.images import load_image, upsample_band_limited  # noqa: E402
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.image import subpixel_loss  # noqa: E402
from oinr.fit.runs import atomic_write, pick_device, seed_everything  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import psnr  # noqa: E402
from oinr.models.baselines import hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.function import render_grid, set_fit_grid  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402

DEFAULT = script_defaults(REPO_ROOT / "2dimage" / "train.py")
CONV = {**DEFAULT, **script_defaults(REPO_ROOT / "2dimage" / "conv.py")}
VARIANTS = {  # name: the header it runs under; a baseline is sized to the default's parameter count
    "default": DEFAULT,  # the multiscale O-INR with sub-pixel training (2dimage/train.py)
    "multiscale-grid": {**DEFAULT, "SUBPIXEL": 1},  # the same trained on the grid's nodes only: the previous default
    "coarse1": {**DEFAULT, "COARSE": 1},  # the default with the coarse operator at full resolution
    "linear": {**DEFAULT, "INTERP": "linear"},  # the default's features read by each interpolation
    "cubic": {**DEFAULT, "INTERP": "cubic"},
    "bspline": {**DEFAULT, "INTERP": "bspline"},
    "bspline-omega1": {**DEFAULT, "INTERP": "bspline", "HEAD_OMEGA": 1.0},
    "conv": {**CONV, "SUBPIXEL": 1},  # the paper's operator (2dimage/conv.py), on the grid's nodes
    "conv-subpixel": {**CONV, "SUBPIXEL": DEFAULT["SUBPIXEL"]},  # the same with sub-pixel training
    "siren": {**DEFAULT, "MODEL": "siren", "SUBPIXEL": 1},
}


def half(img: torch.Tensor) -> torch.Tensor:
    """(C, H, W), H and W odd -> (C, (H + 1) / 2, (W + 1) / 2): [1, 2, 1]^2 / 16 blur (edges replicated), [::2, ::2]."""
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None]) / 16
    c = img.shape[0]
    x = F.conv2d(F.pad(img[None], (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3).contiguous(), groups=c)
    return x[0, :, ::2, ::2]


def lanczos(img: torch.Tensor, shape, a: int = 3) -> torch.Tensor:
    """Lanczos-a resampling of (C, h, w) to `shape` with corners aligned, edges mirrored; separable."""
    out = img.double()
    for dim, n in ((-2, shape[0]), (-1, shape[1])):
        m = out.shape[dim]
        t = torch.linspace(0, m - 1, n, dtype=torch.float64)  # target positions in source samples
        taps = t.floor()[:, None] + torch.arange(-a + 1, a + 1)[None]  # (n, 2a)
        w = torch.special.sinc(t[:, None] - taps) * torch.special.sinc((t[:, None] - taps) / a)
        src = taps.long().abs()  # mirror at 0, then at m - 1
        src = torch.where(src > m - 1, 2 * (m - 1) - src, src).clamp(0, m - 1)
        w = w / w.sum(1, keepdim=True)
        out = (out.movedim(dim, -1)[..., src] * w).sum(-1).movedim(-1, dim)
    return out.float()


def derivatives(fine: torch.Tensor, k: int) -> torch.Tensor:
    """d/dy, d/dx (per cell of the grid whose every k-th sample `fine` holds) at those samples: central
    differences of `fine` (C, (H - 1) k + 1, ...) one fine step apart, interior nodes only; (2, C, H - 2, W - 2)."""
    dy = (fine[:, 2:, 1:-1] - fine[:, :-2, 1:-1]) * k / 2  # fine steps -> per coarse cell
    dx = (fine[:, 1:-1, 2:] - fine[:, 1:-1, :-2]) * k / 2
    return torch.stack([dy[:, k - 1 :: k, k - 1 :: k][:, :-1, :-1], dx[:, k - 1 :: k, k - 1 :: k][:, :-1, :-1]])


def above_nyquist(fine: torch.Tensor, shape) -> float:
    """Share of the energy of `fine` (mean removed, mirror-extended) above the Nyquist rate of a `shape` grid."""
    x = fine - fine.mean()
    x = torch.cat([x, x.flip(-1)[..., 1:-1]], -1)
    x = torch.cat([x, x.flip(-2)[..., 1:-1, :]], -2)  # (C, 2(N - 1), 2(M - 1))
    e = torch.fft.fft2(x.double()).abs() ** 2
    ky = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64).abs() * x.shape[-2] / (2 * (shape[0] - 1))
    kx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64).abs() * x.shape[-1] / (2 * (shape[1] - 1))
    high = (ky[:, None] > 0.5) | (kx[None, :] > 0.5)  # in cycles per coarse cell: Nyquist is 1/2
    return float(e[:, high].sum() / e.sum().clamp_min(1e-30))


def scores(fine4: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor, up2: torch.Tensor) -> dict:
    """The row of one method: its 4x rendering (C, 4(h - 1) + 1, ...) in [0, 1] and its 2x one."""
    ref = derivatives(hi, 2)  # the full-size image's slopes at the half-size grid's interior nodes
    d = derivatives(fine4, 4)
    corr = torch.corrcoef(torch.stack([d.flatten(), ref.flatten()]))[0, 1]
    return {"on-grid": psnr(fine4[:, ::4, ::4], lo), "2x": psnr(up2.clamp(0, 1), hi), "deriv corr": float(corr),
            "deriv rel err": float((d - ref).norm() / ref.norm()), "above Nyquist %": 100 * above_nyquist(fine4, lo.shape[1:])}  # fmt: skip  # noqa: E501


def interpolators(lo: torch.Tensor) -> dict:
    """The classical readings of the samples `lo` (C, h, w) between them: name -> (shape -> image)."""

    def up(mode):
        return lambda s: F.interpolate(lo[None], size=s, mode=mode, align_corners=True)[0]

    return {"bilinear": up("bilinear"), "bicubic": up("bicubic"), "lanczos-3": lambda s: lanczos(lo, s),
            "band-limited": lambda s: upsample_band_limited(lo, (s[0] - 1) // (lo.shape[1] - 1))}  # fmt: skip


def fit_method(name: str, lo: torch.Tensor, budget: int, device) -> tuple[torch.nn.Module, dict]:
    """The model of row `name`, fitted to `lo` for SECONDS; (model, parameters and steps)."""
    check(name in VARIANTS, f"unknown method {name!r}; choose from {', '.join(VARIANTS)}")
    cfg = dict(VARIANTS[name])
    if cfg["MODEL"] not in ("oinr", "multiscale"):
        cfg["HIDDEN"] = hidden_for_budget(cfg["MODEL"], 2, lo.shape[0], cfg.get("LAYERS", 3), budget)
    seed_everything(SEED)
    model = build_model(cfg, 2, lo.shape[0]).to(device)
    y = (lo * 2 - 1).unsqueeze(0).to(device)  # (1, C, h, w) on [-1, 1]
    set_fit_grid(model, lo.shape[1:])
    grid = model.make_input(tuple(lo.shape[1:]))  # built before the clock starts, as every method's targets
    loss = subpixel_loss(y, cfg["SUBPIXEL"], SEED, cfg.get("ON_GRID", 0.0)) if cfg["SUBPIXEL"] > 1 else None
    info = timed_fit(model, model_lr(cfg), grid, y, SECONDS, loss_fn=loss)
    return model, {"params": n_params(model), "steps": info["steps"]}


def main():
    configure(globals())
    device = pick_device(DEVICE)
    rows = []
    for k, path in enumerate(IMAGES):
        full = load_image(resolve_path(path), SIZE, True, verbose=False)  # (1, H, W) in [0, 1]
        hi = full[:, : full.shape[1] - 1 + full.shape[1] % 2, : full.shape[2] - 1 + full.shape[2] % 2]  # odd sides
        lo = half(hi)
        shape2, shape4 = tuple(hi.shape[1:]), tuple((n - 1) * 4 + 1 for n in lo.shape[1:])
        role = "tuning" if k == 0 else "held out"
        print(f"{path} ({role}): fitted at {tuple(lo.shape[1:])}, read at {shape2}; {SECONDS:g} s per method")
        for name, f in interpolators(lo).items():
            rows.append({"image": path, "role": role, "method": name, "params": "", "steps": "",
                         **scores(f(shape4).clamp(0, 1), hi, lo, f(shape2))})  # fmt: skip
        budget = n_params(build_model(DEFAULT, 2, 1))
        for name in METHODS:
            t0 = time.perf_counter()
            model, info = fit_method(name, lo, budget, device)
            with torch.no_grad():
                fine4 = to_unit(render_grid(model, shape4, lo.shape[1:])[0]).cpu()
                up2 = to_unit(render_grid(model, shape2, lo.shape[1:])[0]).cpu()
            rows.append({"image": path, "role": role, "method": name, **info, **scores(fine4, hi, lo, up2)})
            print(f"  {name}: {rows[-1]['2x']:.2f} dB at 2x, {info['steps']} steps ({time.perf_counter() - t0:.0f} s)",
                  flush=True)  # fmt: skip
    cols = ["image", "role", "method", "params", "steps", "on-grid", "2x", "deriv corr", "deriv rel err",
            "above Nyquist %"]  # fmt: skip
    fmt = lambda v: (
        f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else f"{v:.2f}" if isinstance(v, float) else str(v)
    )  # noqa: E731, E501
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    text = f"off-grid benchmark, {SECONDS:g} s per fit, torch threads {torch.get_num_threads()}\n\n" + "\n".join(lines)
    print(text)
    out = resolve_path(OUT) / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"off_grid-{time.strftime('%Y%m%d-%H%M%S')}.md"
    atomic_write(path, lambda f: f.write((text + "\n").encode()))
    print(path)


if __name__ == "__main__":
    cli(main)
