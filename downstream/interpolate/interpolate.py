"""Weight-space interpolation (the paper's weight-space argument), measured: O-INR against MLP INRs.

Two networks of each method are fitted from one initialisation to two images (one batched fit,
`oinr.models.ensemble`): the default O-INR (`multiscale`, 2dimage/train.py's model with its sub-pixel
training), the paper's conv O-INR (`oinr`, on the grid's nodes, this header's settings) and MLP INRs;
their weights blended, theta(t) = (1 - t) theta_a + t theta_b for T_STEPS values of t
in [0, 1], and the path rendered. "Meaningful" is measured against the pixel-space blend
(1 - t) a + t b: PSNR at every t (its minimum over t), and the total variation of the frames along t
relative to the blend's (1: as direct as the blend; larger: detours or noise). See oinr/downstream/weight_path.py.

python downstream/interpolate/interpolate.py [--models=multiscale,oinr,siren,gauss --size=64,64 --steps=300]
"""

# data
DATA_A = "data/camera.png"  # the image at t = 0
DATA_B = "data/kodim23.png"  # the image at t = 1
SIZE = (64, 64)  # (H, W): both resized to it; N: longer side to N (aspect kept); 0: native (sizes must then match)
GRAY = True  # both to luminance (the two must end with the same channels)
# encoding
OCTAVES = 5  # O-INR sin/cos octaves per axis (5 is the most below a 64 grid's Nyquist rate)
# model
MODELS = ("multiscale", "oinr", "siren", "gauss")  # methods: multiscale (the default O-INR), oinr (the conv O-INR),
# and any of siren, wire, gauss, ffn, finer
SUBPIXEL = 4  # multiscale: sub-pixel training as 2dimage/train.py (1: the grid's nodes only); its other settings
# are 2dimage/train.py's
WIDTHS = (32, 32, 32)  # O-INR hidden conv widths (2dimage/train.py's defaults)
KERNEL = 7  # O-INR odd kernel of the hidden and output convs
FIRST_KERNEL = 1  # O-INR first conv (1 x 1 is equivalent on a sin/cos grid, see oinr/models/conv.py)
BIAS = False  # O-INR conv biases (the paper: none)
OMEGA = 1.0  # O-INR sine frequency of the hidden activations
FIRST_OMEGA = 10.0  # O-INR sine frequency of the first activation
INIT = "sine"  # O-INR init: sine (SIREN-style) or default (PyTorch's)
HIDDEN = 0  # baselines' hidden width; 0: matched to the conv O-INR's parameter count
LAYERS = 3  # baselines' hidden layers
SAME_INIT = True  # True: both fits of a method start from one init (the paper's setting); False: two seeds
ALLOW_DIFFERENT_INIT = False  # SAME_INIT = False is refused unless this is True (a control experiment)
# optim
STEPS = 300  # Adam steps of each (batched) pair of fits, full grid
LR = 1e-2  # O-INR learning rate; baselines use their registry lr (oinr/models/baselines.py)
BASELINE_SETTING = "tuned"  # baselines' lr: tuned (the harness's best) or paper
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds the init (the second init under SAME_INIT = False is SEED + 1)
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/interpolate/<timestamp>/
T_STEPS = 11  # points of the path, t = 0, 1/(T-1), ..., 1
LOG_EVERY = 50  # steps between metrics.csv rows of each fit
PROGRESS = True  # tqdm progress bars

import time  # noqa: E402

import torch  # noqa: E402

from oinr.data.images import load_image, save_image  # noqa: E402
from oinr.downstream.weight_path import check_same_init, fingerprint, path_metrics, render_path, weight_path  # noqa: E402
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check, finish, fit_config, open_run, setup  # noqa: E402
from oinr.fit.image import subpixel_loss  # noqa: E402
from oinr.fit.loop import fit  # noqa: E402
from oinr.fit.restore import image_meta  # noqa: E402
from oinr.metrics import psnr_from_mse  # noqa: E402
from oinr.models.baselines import BASELINES, hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.ensemble import Ensemble  # noqa: E402
from oinr.models.function import set_fit_grid  # noqa: E402
from oinr.models.multiscale import SETTINGS as MULTISCALE_SETTINGS  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402
from oinr.plots import xy_plot  # noqa: E402


def load_pair():
    """The two images, ``(C, H, W)`` each in [0, 1], at one size."""
    size = SIZE[0] if isinstance(SIZE, tuple) and len(SIZE) == 1 else SIZE  # --size=64 arrives as (64,)
    a = load_image(resolve_path(DATA_A), size, GRAY)
    b = load_image(resolve_path(DATA_B), size, GRAY)
    if a.shape[1:] != b.shape[1:]:
        raise UserError(f"the two images differ in size ({a.shape[1]}x{a.shape[2]} vs {b.shape[1]}x{b.shape[2]} "
                        f"with --size={size}); resize both with --size=H,W")  # fmt: skip
    if a.shape[0] != b.shape[0]:
        raise UserError(f"the two images have {a.shape[0]} and {b.shape[0]} channels; pass --gray=true")
    return a, b


def strip(rows: dict, ts, out) -> None:
    """One row of frames along t per name (the pixel blend first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(ts), figsize=(1.3 * len(ts), 1.45 * len(rows)), squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for i, t in enumerate(ts):
            ax = axes[r][i]
            f = frames[i].clamp(0, 1)
            ax.imshow(f.mean(0).numpy() if f.shape[0] != 3 else f.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t:.1f}", fontsize=8)
            if i == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout(pad=0.3)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main():
    cfg = configure(globals())
    check(T_STEPS >= 2, f"--t_steps must be >= 2, got {T_STEPS}")
    check(bool(MODELS), "--models must name at least one method")
    for m in MODELS:
        check(m in ("multiscale", "oinr") or m in BASELINES,
              f"--models: unknown method {m!r}; use multiscale, oinr, {', '.join(BASELINES)}")  # fmt: skip
    check(SUBPIXEL >= 1, f"--subpixel must be >= 1, got {SUBPIXEL}")
    a, b = load_pair()  # (C, H, W) each
    c, h, w = a.shape
    device = setup(cfg)

    # one initialisation per method (two under SAME_INIT = False), checked before anything is written
    budget = n_params(build_model({**cfg, "MODEL": "oinr"}, 2, c))
    default = script_defaults(REPO_ROOT / "2dimage" / "train.py")
    setups = {}
    for name in MODELS:
        mcfg = {**cfg, "MODEL": name, "BASELINE_LR": 0.0}
        if name == "multiscale":  # the default O-INR as 2dimage/train.py builds it
            mcfg.update({k: default[k] for k in MULTISCALE_SETTINGS}, MODEL="multiscale")
        elif name != "oinr":
            mcfg["HIDDEN"] = HIDDEN or hidden_for_budget(name, 2, c, LAYERS, budget)
        torch.manual_seed(SEED)
        first = build_model(mcfg, 2, c).to(device)
        set_fit_grid(first, (h, w))  # the grid its function is defined by (the multiscale model's)
        if SAME_INIT:
            ens, inits = Ensemble.replicate(first, 2), [fingerprint(first)] * 2
        else:
            torch.manual_seed(SEED + 1)
            second = build_model(mcfg, 2, c).to(device)
            ens, inits = Ensemble([first, second]), [fingerprint(first), fingerprint(second)]
        check_same_init(*inits, allow_different_init=ALLOW_DIFFERENT_INIT)
        setups[name] = (mcfg, first, ens, inits)
    run, _ = open_run(cfg, "interpolate", device)
    print(f"images {DATA_A} and {DATA_B}: {c}x{h}x{w}; methods {', '.join(MODELS)}; device {device}")
    t_start = time.perf_counter()

    ys = torch.stack([a, b]).unsqueeze(1).to(device) * 2 - 1  # (2, 1, C, H, W) on [-1, 1]
    ts = [i / (T_STEPS - 1) for i in range(T_STEPS)]
    frames, table, curves = {"pixel blend": [(1 - t) * a + t * b for t in ts]}, {}, {}
    for name, (mcfg, first, ens, inits) in setups.items():
        grid = ens.make_input((h, w))  # (1, C_in, H, W), shared by both members

        def grid_loss(m, step, grid=grid):
            return ((m(grid) - ys) ** 2).mean(dim=(1, 2, 3, 4))  # (2,): one loss per member

        loss_fn = grid_loss
        if name == "multiscale" and SUBPIXEL > 1:  # moved grids against each image's band-limited interpolant
            loss_fn = subpixel_loss(ys[:, 0], SUBPIXEL, SEED, members=True)

        def evaluate(m, loss):
            return {"psnr": 10 * torch.log10(4.0 / loss.clamp_min(1e-30))}  # on [-1, 1]: the same dB as on [0, 1]

        folder = run / "fits" / name
        folder.mkdir(parents=True)
        fc = fit_config(mcfg, model_lr(mcfg), f"{name} x2 {h}x{w}")
        meta = image_meta("interpolate", c, (h, w), members=2, images=[DATA_A, DATA_B])
        res = fit(ens, loss_fn, fc, evaluate=evaluate, run=folder, config=mcfg, meta=meta,
                  columns=["step", "time_s", "loss", "lr", "psnr"])  # fmt: skip
        with torch.no_grad():
            fit_psnr = [psnr_from_mse(float(v), 2.0) for v in grid_loss(ens, 0)]
        states = weight_path(ens.member_state(0), ens.member_state(1), ts, *inits, ALLOW_DIFFERENT_INIT)
        out = render_path(first, states, grid).cpu()  # (T, C, H, W) on [-1, 1]
        path = to_unit(out)
        frames[name] = list(path)
        row = path_metrics(path, a, b, ts)
        row.update(fit_psnr_a=fit_psnr[0], fit_psnr_b=fit_psnr[1], n_params=n_params(first), steps=res.steps,
                   fit_time_s=res.wall_time_s, diverged=bool(res.diverged.any()))  # fmt: skip
        table[name] = row
        curves[name] = (ts, row["psnr_t"])
        save_image(run / f"{name}_mid.png", path[len(ts) // 2])

    # report
    cols = ["fit_psnr_a", "fit_psnr_b", "min_psnr", "mean_psnr", "tv_ratio", "mid_psnr_a", "mid_psnr_b"]
    print("| method | params | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 2))
    for name, row in table.items():
        print(f"| {name} | {row['n_params']} | " + " | ".join(f"{row[k]:.2f}" for k in cols) + " |")
    strip(frames, ts, run / "figures" / "paths.png")
    xy_plot(curves, run / "figures" / "psnr_t.png", "t", "PSNR vs pixel blend (dB)", "weight-space interpolation")
    flat = {f"{name}_{k}": row[k] for name, row in table.items() for k in ("min_psnr", "mean_psnr", "tv_ratio")}
    first_name = next(iter(table))
    finish(run, **flat, methods=table, same_init=SAME_INIT, t=ts, n_params=table[first_name]["n_params"],
           steps=STEPS, wall_time_s=time.perf_counter() - t_start, device=str(device), model=",".join(MODELS),
           images=[DATA_A, DATA_B], size=[h, w])  # fmt: skip


if __name__ == "__main__":
    cli(main)
