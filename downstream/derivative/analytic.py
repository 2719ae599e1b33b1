"""Derivatives against a closed form: O-INR (one forward pass), MLP INRs (autograd), Sobel, central differences.

The signal is a sum of BUMPS Gaussians on [-1, 1]^2 (centres, widths and signs drawn from SEED), scaled
to [0.1, 0.9] and sampled on a SIZE x SIZE grid; its exact derivative is known in closed form. O-INR
(2dimage/train.py's model) and the BASELINES are fitted to the samples, and every method's derivative is
compared with the exact one (relative L2 error, correlation), beside Sobel and central differences of
the samples themselves. Units: per pixel, of the signal in [0, 1], on the interior (MARGIN).

python downstream/derivative/analytic.py [--size=64 --steps=300 --baselines=siren,gauss]
"""

# data
SIZE = 64  # grid side (the signal is sampled on SIZE x SIZE)
BUMPS = 5  # Gaussians summed into the signal
SIGMA = (0.15, 0.4)  # range of their standard deviations, in units of the [-1, 1] coordinate
# encoding
OCTAVES = 5  # O-INR sin/cos octaves per axis (5 is the most below a 64 grid's Nyquist rate)
# model
MODEL = "multiscale"  # the O-INR: multiscale or oinr (other settings: 2dimage/train.py's header)
BASELINES = ("siren", "gauss")  # MLP INRs compared (siren, wire, gauss, ffn, finer), autograd derivatives
HIDDEN = 0  # baselines' hidden width; 0: matched to the O-INR's parameter count
LAYERS = 3  # baselines' hidden layers
# optim
STEPS = 300  # Adam steps of every fit, full grid
LR = 1e-2  # O-INR learning rate (2dimage/train.py's); baselines use their registry lr (oinr/models/baselines.py)
BASELINE_SETTING = "tuned"  # baselines' lr: tuned (the harness's best) or paper
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds the signal and every init
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/derivative_analytic/<timestamp>/
MARGIN = -1  # pixels cut at every border before comparing; -1: the O-INR's receptive radius
LOG_EVERY = 50  # steps between metrics.csv rows of each fit
CKPT_EVERY = 1000  # steps between checkpoints of each fit (one is always written at the end)
PROGRESS = True  # tqdm progress bars

import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.derivative import compare, finite_differences, image_derivatives  # noqa: E402
from oinr.encoding import axis_coords  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, open_run, setup  # noqa: E402
from oinr.fit.image import fit_in_folder  # noqa: E402
from oinr.metrics import psnr  # noqa: E402
from oinr.models.baselines import BASELINES as KNOWN_BASELINES  # noqa: E402
from oinr.models.baselines import hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.registry import build_model  # noqa: E402
from oinr.plots import derivative_figure  # noqa: E402


def gaussians(n: int, bumps: int, sigma: tuple, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The signal ``(1, n, n)`` in [0.1, 0.9] and its exact derivative per pixel ``(2, 1, n, n)`` (row, col)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(bumps, 2, generator=g, dtype=torch.float64) * 1.4 - 0.7  # (K, 2) inside the domain
    widths = sigma[0] + (sigma[1] - sigma[0]) * torch.rand(bumps, generator=g, dtype=torch.float64)  # (K,)
    amps = torch.where(torch.rand(bumps, generator=g) < 0.3, -1.0, 1.0).double()  # some dips among the bumps
    x = axis_coords(n, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(x, x, indexing="ij"), dim=-1)  # (n, n, 2)
    diff = pts[None] - centres[:, None, None]  # (K, n, n, 2)
    e = amps[:, None, None] * torch.exp(-diff.square().sum(-1) / (2 * widths[:, None, None] ** 2))  # (K, n, n)
    f = e.sum(0)  # (n, n)
    df = (-diff / widths[:, None, None, None] ** 2 * e[..., None]).sum(0)  # (n, n, 2): d/d(row), d/d(col)
    lo, hi = f.min(), f.max()
    scale = 0.8 / (hi - lo)
    img = 0.1 + scale * (f - lo)
    d = df.permute(2, 0, 1) * scale * 2.0 / (n - 1)  # (2, n, n) per pixel
    return img[None].float(), d[:, None].float()


def main():
    cfg = configure(globals(), base="../../2dimage/train.py")  # the O-INR's settings, as 2dimage/train.py runs it
    check(SIZE >= 16, f"--size must be >= 16, got {SIZE}")
    check(BUMPS >= 1, f"--bumps must be >= 1, got {BUMPS}")
    check(len(SIGMA) == 2 and 0 < SIGMA[0] <= SIGMA[1], f"--sigma must be (lo, hi) with 0 < lo <= hi, got {SIGMA}")
    for b in BASELINES:
        check(b in KNOWN_BASELINES, f"--baselines: unknown baseline {b!r}; choose from {', '.join(KNOWN_BASELINES)}")
    device = setup(cfg)
    img, exact = gaussians(SIZE, BUMPS, SIGMA, SEED)  # (1, n, n), (2, 1, n, n)
    check(MODEL in ("multiscale", "oinr"), f"--model must be multiscale or oinr, got {MODEL!r}")
    radius = build_model(cfg, 2, 1).receptive_radius()
    margin = radius if MARGIN < 0 else MARGIN
    check(2 * margin + 4 <= SIZE, f"a margin of {margin} px leaves too little of a {SIZE} grid; raise --size")
    run, _ = open_run(cfg, "derivative_analytic", device)
    t_start = time.perf_counter()
    print(f"{BUMPS} Gaussians on {SIZE}x{SIZE}; methods {MODEL}, {', '.join(BASELINES)}; device {device}")

    rows, shown = {}, {"exact": (img, exact)}
    budget = None
    for name in (MODEL, *BASELINES):
        mcfg = {**cfg, "MODEL": name, "BASELINE_LR": 0.0, "RESUME": ""}
        if name != MODEL:
            mcfg["HIDDEN"] = HIDDEN or hidden_for_budget(name, 2, 1, LAYERS, budget)
        model = fit_in_folder(mcfg, img, device, run / "fits" / name)
        budget = budget or n_params(model)
        rec, d = image_derivatives(model, (SIZE, SIZE))  # (1, n, n), (2, 1, n, n) per pixel
        rows[name] = {"psnr": psnr(rec, img), "n_params": n_params(model), **compare(d, exact, margin)}
        if name in (MODEL, "siren"):
            shown[name] = (rec, d)
    for kind in ("sobel", "central"):
        rows[kind] = {"psnr": None, "n_params": 0, **compare(finite_differences(img, kind), exact, margin)}

    print("| method | params | fit psnr | rel_err vs exact | corr vs exact |\n|---|---|---|---|---|")
    for name, r in rows.items():
        fit = "—" if r["psnr"] is None else f"{r['psnr']:.2f}"
        print(f"| {name} | {r['n_params']} | {fit} | {r['rel_err']:.4f} | {r['corr']:.4f} |")
    (run / "table.json").write_text(json.dumps(rows, indent=2))
    derivative_figure(shown, run / "figures" / "derivatives.png", f"{BUMPS} Gaussians, {SIZE}x{SIZE}, per pixel")
    flat = {f"{name}_{k}": r[k] for name, r in rows.items() for k in ("rel_err", "corr")}
    finish(run, rel_err=rows[MODEL]["rel_err"], corr=rows[MODEL]["corr"], psnr=rows[MODEL]["psnr"], **flat,
           methods=rows, reference="exact", margin=margin, units="per pixel, signal in [0, 1]",
           n_params=rows[MODEL]["n_params"], steps=STEPS, wall_time_s=time.perf_counter() - t_start,
           device=str(device), model=MODEL, size=[SIZE, SIZE])  # fmt: skip


if __name__ == "__main__":
    cli(main)
