"""Fit an O-INR (or a baseline INR) to one image: the paper's 2D image experiment.

    python 2dimage/train.py [2dimage/paper.py] [--data=data/kodim23.png --steps=500 --model=siren]
"""

# data
DATA = "data/camera.png"  # PNG / JPEG / TIFF, 8 or 16 bit, gray, RGB or RGBA (alpha dropped)
SIZE = 256  # 0: native size; N: longer side resized to N (aspect kept); (H, W): exact
GRAY = False  # True: convert a colour image to luminance
# encoding
OCTAVES = 7  # sin/cos octaves per axis; 7 puts the top one (64*pi) just under a 256 grid's Nyquist
NOISE_CHANNELS = 0  # extra Gaussian-noise input channels (the paper's optional noise channel)
# model
MODEL = "oinr"  # oinr, or a baseline: siren, wire, gauss, ffn, finer
WIDTHS = (32, 32, 32)  # hidden conv widths; the paper's 64,128,128,64 is 7x slower per step here
KERNEL = 3  # odd conv kernel size
BIAS = False  # conv biases (the paper: none)
OMEGA = 1.0  # sine frequency of the hidden activations
INIT = "sine"  # sine: SIREN-style uniform init scaled by OMEGA; default: PyTorch's (the paper's code)
HIDDEN = 256  # baselines only: hidden width of the MLP
LAYERS = 3  # baselines only: hidden layers of the MLP
# optim
STEPS = 300  # Adam steps on the full grid
LR = 3e-3  # O-INR learning rate; baselines use their tuned rate from oinr/baselines.py
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/2dimage/<timestamp>/
LOG_EVERY = 10  # steps between metrics.csv rows
CKPT_EVERY = 100  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS
PROGRESS = True  # tqdm progress bar

import torch  # noqa: E402

from oinr.config import configure  # noqa: E402
from oinr.data import load_image, resolve_path, save_image  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.experiment import finish, fit_config, start  # noqa: E402
from oinr.fitting import fit  # noqa: E402
from oinr.metrics import psnr, psnr_from_mse, ssim  # noqa: E402
from oinr.models import build_model, default_lr  # noqa: E402
from oinr.operator import n_params  # noqa: E402
from oinr.plots import curves, montage  # noqa: E402


def main():
    cfg = configure(globals())
    # data: target in [0, 1], fitted as 2*y - 1 so the network's zero-mean output needs no offset
    img = load_image(resolve_path(DATA), SIZE, GRAY)  # (C, H, W)
    run, device, ckpt = start(cfg, "2dimage")
    c, h, w = img.shape
    print(f"image {resolve_path(DATA)}: {c}x{h}x{w}, model {MODEL}, device {device}")
    target = (img * 2 - 1).unsqueeze(0).to(device)  # (1, C, H, W)

    # model
    oinr_kw = dict(widths=WIDTHS, kernel_size=KERNEL, bias=BIAS, omega=OMEGA, init=INIT, octaves=OCTAVES,
                   noise_channels=NOISE_CHANNELS)  # fmt: skip
    model = build_model(MODEL, 2, c, oinr_kw, dict(hidden=HIDDEN, layers=LAYERS)).to(device)
    grid = model.make_input((h, w))  # (1, C_in, H, W)

    # fit
    def loss_fn(m, step):
        return torch.mean((m(grid) - target) ** 2)

    def evaluate(m, loss):
        return {"psnr": psnr_from_mse(loss, 2.0)}  # on the [-1, 1] scale: the same dB as on [0, 1]

    fc = fit_config(cfg, default_lr(MODEL, LR), f"{MODEL} {h}x{w}")
    res = fit(model, loss_fn, fc, evaluate=evaluate, run=run, config=cfg, resume=ckpt,
              columns=["step", "time_s", "loss", "lr", "psnr"])  # fmt: skip

    # evaluate: the clipped reconstruction against the target, in [0, 1]
    with torch.no_grad():
        pred = ((model(grid)[0] + 1) / 2).clamp(0, 1).cpu()  # (C, H, W)
    p, s = psnr(pred, img), ssim(pred, img)

    # save
    save_image(run / "reconstruction.png", pred)
    montage({"target": img, f"{MODEL} ({p:.2f} dB)": pred}, run / "figures" / "reconstruction.png",
            error_of=(f"{MODEL} ({p:.2f} dB)", "target"))  # fmt: skip
    curves(run / "metrics.csv", run / "figures" / "curves.png", title=f"{MODEL} on {resolve_path(DATA).name}")
    finish(run, psnr=p, ssim=s, n_params=n_params(model), steps=res.steps, wall_time_s=res.wall_time_s,
           device=str(device), model=MODEL, image=str(DATA), size=[h, w])  # fmt: skip


if __name__ == "__main__":
    cli(main)
