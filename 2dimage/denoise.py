"""Denoise an image by fitting an O-INR (or a baseline) to a noisy copy: the paper's denoising experiment.

The noise is WIRE's (Saragadam et al., CVPR 2023): Poisson photon noise at TAU photons per unit
intensity plus Gaussian readout noise of READOUT photons. The representation is fitted to the noisy
image only; its implicit bias towards smooth signals does the denoising, so the PSNR against the clean
image first rises, then falls as the fit starts to reproduce the noise (hence 'best' and 'final').

    python 2dimage/denoise.py [--data=data/kodim23.png --tau=10 --model=wire]
"""

# data
DATA = "data/camera.png"  # PNG / JPEG / TIFF, 8 or 16 bit, gray, RGB or RGBA (alpha dropped)
SIZE = 256  # 0: native size; N: longer side scaled down to N (aspect kept; never up); (H, W): exact
GRAY = False  # True: convert a colour image to luminance
TAU = 30.0  # photons per unit intensity (lower: noisier); WIRE's setting is 30
READOUT = 2.0  # std of the Gaussian readout noise, in photons; WIRE's setting is 2
NOISE_SEED = 0  # seed of the noise draw (separate from SEED so models see the same noisy image)
# encoding
OCTAVES = 6  # fewer octaves than train.py: the top frequencies would fit the noise first
NOISE_CHANNELS = 0  # extra Gaussian-noise input channels
# model
MODEL = "oinr"  # oinr, or a baseline: siren, wire, gauss, ffn, finer
WIDTHS = (32, 32, 32)  # hidden conv widths
KERNEL = 7  # odd kernel of the hidden and output convs (as train.py)
FIRST_KERNEL = 1  # first conv: on a sin/cos grid a k x k conv equals a 1 x 1 one inside (oinr/operator.py)
BIAS = False  # conv biases (the paper: none)
OMEGA = 1.0  # sine frequency of the hidden activations
FIRST_OMEGA = 10.0  # sine frequency of the first activation: > OMEGA mixes the x and y encodings harder
INIT = "sine"  # sine: SIREN-style uniform init scaled by OMEGA; default: PyTorch's
HIDDEN = 256  # baselines only: hidden width of the MLP
LAYERS = 3  # baselines only: hidden layers of the MLP
# optim
STEPS = 40  # a short fit is the regulariser: the cameraman at 256 px peaks at 22.8 dB after 40 steps (100: 18.7)
LR = 1e-2  # O-INR learning rate; baselines use their tuned rate from oinr/baselines.py
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/denoise/<timestamp>/
LOG_EVERY = 2  # steps between metrics.csv rows (each costs one forward pass for the clean PSNR)
CKPT_EVERY = 100  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS
PROGRESS = True  # tqdm progress bar

import torch  # noqa: E402

from oinr.config import configure  # noqa: E402
from oinr.data import load_image, resolve_path, save_image  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.experiment import check, finish, open_run, setup  # noqa: E402
from oinr.imagefit import build_image_model, fit_image  # noqa: E402
from oinr.metrics import psnr, ssim  # noqa: E402
from oinr.operator import n_params  # noqa: E402
from oinr.plots import curves, montage  # noqa: E402


def add_photon_noise(img: torch.Tensor, tau: float, readout: float, seed: int) -> torch.Tensor:
    """WIRE's noise model: Poisson(tau * x) + N(0, readout^2) photons, divided by tau, clipped to [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    photons = torch.poisson(img * tau, generator=g) + readout * torch.randn(img.shape, generator=g)
    return (photons / tau).clamp(0, 1)


def main():
    cfg = configure(globals())
    check(TAU > 0, f"--tau must be > 0, got {TAU}")
    check(READOUT >= 0, f"--readout must be >= 0, got {READOUT}")
    # data
    clean = load_image(resolve_path(DATA), SIZE, GRAY)  # (C, H, W) in [0, 1]
    noisy = add_photon_noise(clean, TAU, READOUT, NOISE_SEED)
    noisy_psnr = psnr(noisy, clean)

    # model
    device = setup(cfg)
    model = build_image_model(cfg, clean.shape[0], device)
    run, ckpt = open_run(cfg, "denoise", device)
    print(f"image {resolve_path(DATA)}: {tuple(clean.shape)}, noisy input {noisy_psnr:.2f} dB, model {MODEL}")

    # fit (metrics.csv's psnr is against the clean image)
    pred, res = fit_image(cfg, model, noisy, run, ckpt, reference=clean, experiment="denoise")

    # evaluate
    final, best = psnr(pred, clean), res.best("psnr")
    best_step = max(res.history, key=lambda r: r.get("psnr", -1))["step"]

    # save
    save_image(run / "noisy.png", noisy)
    save_image(run / "denoised.png", pred)
    montage({"clean": clean, f"noisy ({noisy_psnr:.2f} dB)": noisy, f"{MODEL} ({final:.2f} dB)": pred},
            run / "figures" / "denoise.png", error_of=(f"{MODEL} ({final:.2f} dB)", "clean"))  # fmt: skip
    curves(run / "metrics.csv", run / "figures" / "curves.png", title=f"{MODEL}: PSNR against the clean image")
    finish(run, psnr=final, best_psnr=best, best_step=int(best_step), input_psnr=noisy_psnr, ssim=ssim(pred, clean),
           n_params=n_params(model), steps=res.steps, wall_time_s=res.wall_time_s, device=str(device), model=MODEL,
           image=str(DATA), tau=TAU, readout=READOUT)  # fmt: skip


if __name__ == "__main__":
    cli(main)
