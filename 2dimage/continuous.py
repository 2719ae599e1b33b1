"""Resolution-free O-INR: one continuous-kernel O-INR trained on an image at several sizes, evaluated at
held-out sizes inside the range and at SUPER_RES_FACTOR x the largest (super-resolution), against the
discrete O-INR, bicubic upsampling and SIREN, each fitted at the largest training size.

    python 2dimage/continuous.py [--resolutions=48,64,80,96 --held_out=56,72,88 --kernel_net=gabor]

Every target is the image resized (anti-aliased bicubic, corners aligned: pixel i of n at -1 + 2i/(n-1)).
The paper used one image at sizes between 256 and 358 px; the CPU default is 48..96 px.
"""

# data
DATA = "data/camera.png"  # PNG / JPEG / TIFF, 8 or 16 bit, gray, RGB or RGBA (alpha dropped)
GRAY = False  # True: convert a colour image to luminance
RESOLUTIONS = (48, 56, 64, 72, 80, 88, 96)  # training sizes (longer side, px, aspect kept), >= 2; step s: s % 7
HELD_OUT = (52, 60, 68, 76, 84, 92)  # never trained on, inside the range (>= 1; the first is logged while fitting)
SUPER_RES_FACTOR = 2.0  # also evaluate at this multiple of the largest training size (super-resolution)
# encoding
OCTAVES = 5  # sin/cos octaves per axis; the top one (16*pi) stays under the Nyquist rate of 48 px
# model
WIDTHS = (32, 32, 32)  # hidden widths, one continuous-kernel conv + sine each
KERNEL_EXTENT = 0.2  # kernel window in domain units ([-1, 1] per axis): 5 taps at 48 px, 9 at 96, 19 at 192
KERNEL_NET = "siren"  # kernel network: siren, mlp or gabor (MAGNet)
KERNEL_HIDDEN = 32  # hidden width of each kernel network
KERNEL_LAYERS = 3  # linear layers of each kernel network (gabor: Gabor filters)
OMEGA0 = 10.0  # frequency of the siren / gabor kernel networks (bandwidth of the kernels)
WINDOW = "hann"  # hann: kernels fade to zero at the window's edge (consistent across sizes); none
DIRAC = True  # add a pointwise term A x(t) to every kernel (600 steps: +1.5 to 2.6 dB at every size)
OMEGA = 8.0  # hidden sine frequency; 1500 steps, 96/192 px: 1 -> 25.7/22.8 dB, 3 -> 27.2/23.4, 8 -> 28.4/23.8
BIAS = True  # per-channel biases
USE_FFT = "auto"  # auto: FFT from ckconv.FFT_MIN_TAPS taps up (here: the 192 px evaluation); fft; direct
# baselines: fitted at the largest training size, evaluated on every grid
BASELINES = "oinr,bicubic,siren"  # comma-separated, any of oinr (discrete kernels), bicubic, siren; "" for none
BASELINE_STEPS = 300  # Adam steps of each fitted baseline
OINR_KERNEL = 3  # discrete O-INR: odd kernel size in pixels (WIDTHS and OCTAVES shared with the above)
OINR_OMEGA = 1.0  # discrete O-INR: hidden sine frequency (2dimage/train.py's)
OINR_FIRST_OMEGA = 10.0  # discrete O-INR: first sine frequency (2dimage/train.py's)
OINR_LR = 1e-2  # discrete O-INR learning rate (2dimage/train.py's)
SIREN_HIDDEN = 256  # SIREN hidden width
SIREN_LAYERS = 3  # SIREN hidden layers
SIREN_LR = 1e-3  # the registry's 1e-4 (SIREN's paper) underfits in a few hundred steps
# optim
STEPS = 1000  # Adam steps of the continuous O-INR, one training size per step in turn (1500: +0.6 dB at 96 px)
LR = 3e-3  # continuous O-INR learning rate (1e-2 trains worse and generalises across sizes far worse)
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python (and each baseline's init)
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/continuous/<timestamp>/
LOG_EVERY = 50  # steps between metrics.csv rows (each costs a forward pass at HELD_OUT[0])
CKPT_EVERY = 250  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS (the baselines are fitted again)
PROGRESS = True  # tqdm progress bars

import math  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from ckconv import KERNEL_NETS, kernel_taps  # noqa: E402
from ckconv.conv import WINDOWS  # noqa: E402
from oinr.data.images import load_image, resize_aligned, save_image, target_size  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, fit_config, open_run, setup  # noqa: E402
from oinr.fit.image import fit_image, render  # noqa: E402
from oinr.fit.loop import fit  # noqa: E402
from oinr.fit.restore import image_meta  # noqa: E402
from oinr.fit.runs import atomic_write  # noqa: E402
from oinr.metrics import psnr  # noqa: E402
from oinr.models.baselines import build_baseline  # noqa: E402
from oinr.models.conv import OINR, n_params  # noqa: E402
from oinr.models.registry import build_model  # noqa: E402
from oinr.paths import resolve_path  # noqa: E402
from oinr.plots import curves, montage, xy_plot  # noqa: E402

METHODS = {"continuous": "continuous O-INR", "oinr": "discrete O-INR", "bicubic": "bicubic", "siren": "SIREN"}


def check_sizes(native) -> dict:
    """Validate the sizes against the kernel and the image; returns {size: (h, w)} in evaluation order."""
    check(len(RESOLUTIONS) >= 2, f"--resolutions needs at least two training sizes, got {RESOLUTIONS}")
    check(len(HELD_OUT) >= 1, "--held_out needs at least one size to evaluate at")
    check(len(set(RESOLUTIONS)) == len(RESOLUTIONS), f"--resolutions has repeated sizes: {RESOLUTIONS}")
    check(not set(HELD_OUT) & set(RESOLUTIONS), f"--held_out {HELD_OUT} repeats training sizes {RESOLUTIONS}")
    check(KERNEL_EXTENT > 0, f"--kernel_extent must be > 0 (domain units; the domain is 2 wide), got {KERNEL_EXTENT}")
    check(SUPER_RES_FACTOR >= 1, f"--super_res_factor must be >= 1, got {SUPER_RES_FACTOR}")
    super_res = round(SUPER_RES_FACTOR * max(RESOLUTIONS))
    min_side = math.ceil(4 / KERNEL_EXTENT - 1e-9) + 1  # the smallest axis on which the kernel has 3 taps
    hw = {}
    for s in sorted({*RESOLUTIONS, *HELD_OUT, super_res}):
        check(isinstance(s, int) and s > 0, f"sizes must be positive ints, got {s!r}")
        h, w = target_size(native, s, upscale=True)
        what = f"size {s} ({h}x{w}) is smaller than the kernel: a --kernel_extent={KERNEL_EXTENT} window needs axes"
        fix = f"of at least {min_side} px to span 3 samples; use larger sizes or a larger --kernel_extent"
        check(kernel_taps(min(h, w), KERNEL_EXTENT) >= 3, f"{what} {fix}")
        hw[s] = (h, w)
    big = max(hw, key=lambda s: hw[s][0] * hw[s][1])
    check(hw[big][0] <= native[0] and hw[big][1] <= native[1],
          f"{resolve_path(DATA)} is {native[0]}x{native[1]} px, smaller than the largest requested size {big} "
          f"(SUPER_RES_FACTOR x {max(RESOLUTIONS)}): targets are downscaled images; use a larger image or "
          "smaller --resolutions")  # fmt: skip
    return hw


def main():
    cfg = configure(globals())
    # data: the native image, validated against every requested size before any folder exists
    img = load_image(resolve_path(DATA), 0, GRAY)  # (C, H0, W0) in [0, 1]
    hw = check_sizes(tuple(img.shape[1:]))
    for name, value, allowed in [("kernel_net", KERNEL_NET, KERNEL_NETS), ("window", WINDOW, WINDOWS),
                                 ("use_fft", USE_FFT, ("auto", "fft", "direct"))]:  # fmt: skip
        check(value in allowed, f"--{name} must be one of {', '.join(allowed)}, got {value!r}")
    baselines = [b.strip() for b in BASELINES.split(",") if b.strip()]
    unknown = set(baselines) - set(METHODS) - {"continuous"}
    check(not unknown, f"--baselines: unknown {', '.join(sorted(unknown))}; choose from oinr, bicubic, siren")
    check(BASELINE_STEPS > 0, f"--baseline_steps must be > 0, got {BASELINE_STEPS}")
    targets = {s: resize_aligned(img, hw[s]) for s in hw}  # size -> (C, h, w)
    c, largest, super_res = img.shape[0], max(RESOLUTIONS), max(hw)
    role = {s: "train" if s in RESOLUTIONS else "held-out" if s in HELD_OUT else "super-res" for s in hw}

    # model
    device = setup(cfg)
    cfg["INIT_RESOLUTION"] = largest  # the kernels' scale is matched at the largest training size
    model = build_model(cfg, 2, c, "continuous").to(device)
    run, ckpt = open_run(cfg, "continuous", device)
    print(f"image {resolve_path(DATA)}: {c}x{img.shape[1]}x{img.shape[2]}; sizes: training {list(RESOLUTIONS)}, "
          f"held out {list(HELD_OUT)}, super-res {super_res}; {n_params(model)} parameters; {device}")  # fmt: skip

    # fit: step s trains on RESOLUTIONS[s % len], so a resumed run sees the same sequence
    train = [(model.make_input(hw[s]), (targets[s] * 2 - 1).unsqueeze(0).to(device)) for s in RESOLUTIONS]

    def loss_fn(m, step):
        grid, y = train[step % len(train)]  # (1, C_in, h, w), (1, C, h, w)
        return torch.mean((m(grid) - y) ** 2)

    def evaluate(m, loss):
        return {"psnr_heldout": psnr(render(m, hw[HELD_OUT[0]]), targets[HELD_OUT[0]])}

    t0 = time.perf_counter()
    res = fit(model, loss_fn, fit_config(cfg, LR, f"continuous {'/'.join(map(str, RESOLUTIONS))}"), evaluate=evaluate,
              run=run, config=cfg, resume=ckpt,
              columns=["step", "time_s", "loss", "lr", "psnr_heldout"],
              meta=image_meta("continuous", c, hw[largest]))  # fmt: skip

    # baselines at the largest training size
    others = {}
    for name in [b for b in baselines if b != "bicubic"]:
        torch.manual_seed(SEED)  # each baseline's init independent of what ran before
        if name == "oinr":
            m = OINR(None, c, widths=WIDTHS, kernel_size=OINR_KERNEL, omega=OINR_OMEGA, first_omega=OINR_FIRST_OMEGA,
                     octaves=OCTAVES)  # fmt: skip
        else:
            m = build_baseline("siren", 2, c, hidden=SIREN_HIDDEN, layers=SIREN_LAYERS)
        bcfg = {**cfg, "MODEL": name, "STEPS": BASELINE_STEPS, "LOG_EVERY": BASELINE_STEPS}
        fit_image(bcfg, m.to(device), targets[largest], lr=OINR_LR if name == "oinr" else SIREN_LR)
        others[name] = m

    # evaluate every method on every grid
    preds = {s: {"continuous": render(model, hw[s])} for s in hw}  # size -> method -> (C, h, w)
    for s in hw:
        for name in baselines:
            preds[s][name] = (
                resize_aligned(targets[largest], hw[s]) if name == "bicubic" else render(others[name], hw[s])
            )
    table = {s: {k: psnr(p, targets[s]) for k, p in preds[s].items()} for s in hw}  # size -> method -> dB
    methods = ["continuous", *baselines]
    lines = [f"| size | role | {' | '.join(METHODS[k] for k in methods)} |", "|---|---|" + "---:|" * len(methods)]
    for s in hw:
        cells = " | ".join(f"{table[s][k]:.2f}" if math.isfinite(table[s][k]) else "exact" for k in methods)
        lines.append(f"| {hw[s][0]}x{hw[s][1]} | {role[s]} | {cells} |")
    text = "PSNR (dB) against the image resized to each size; baselines fitted at " + \
        f"{hw[largest][0]}x{hw[largest][1]}\n\n" + "\n".join(lines) + "\n"  # fmt: skip
    print(text)

    # save
    atomic_write(run / "table.md", lambda f: f.write(text.encode()))
    save_image(run / "super_resolution.png", preds[super_res]["continuous"])
    sizes = sorted(hw)
    title = f"trained on {list(RESOLUTIONS)}, baselines on {largest}"
    xy_plot({METHODS[k]: (sizes, [table[s][k] for s in sizes]) for k in methods}, run / "figures" / "psnr.png",
            "size (px, longer side)", "PSNR (dB)", title)  # fmt: skip
    panels = {f"target {super_res}": targets[super_res]}
    panels.update({f"{METHODS[k]} ({table[super_res][k]:.2f} dB)": preds[super_res][k] for k in methods})
    montage(panels, run / "figures" / "super_resolution.png", title=f"{SUPER_RES_FACTOR:g}x super-resolution")
    curves(run / "metrics.csv", run / "figures" / "curves.png", keys=("loss", "psnr_heldout"),
           title=f"continuous O-INR, PSNR at {HELD_OUT[0]} px")  # fmt: skip
    strict = lambda row: {k: v if math.isfinite(v) else None for k, v in row.items()}  # exact (inf dB): null
    mean = lambda r, k: sum(table[s][k] for s in hw if role[s] == r) / sum(role[s] == r for s in hw)
    finish(run, psnr_train=mean("train", "continuous"), psnr_heldout=mean("held-out", "continuous"),
           psnr_super_res=table[super_res]["continuous"],
           table={str(s): {"size": list(hw[s]), "role": role[s], **strict(table[s])} for s in hw},
           n_params=n_params(model), steps=res.steps, wall_time_s=res.wall_time_s,
           total_time_s=time.perf_counter() - t0, device=str(device), image=str(DATA),
           resolutions=list(RESOLUTIONS), held_out=list(HELD_OUT), super_res=super_res)  # fmt: skip


if __name__ == "__main__":
    cli(main)
