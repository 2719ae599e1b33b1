"""Denoise an image by fitting an O-INR (or a baseline) to a noisy copy: the paper's denoising experiment.

The noise is WIRE's measurement model (Saragadam et al., CVPR 2023, `utils.measure` of its code):
Poisson photon noise with `tau` = TAU photons per unit intensity plus Gaussian readout noise of std
`noise_snr` = READOUT photons, divided by TAU, not clipped (WIRE's denoising setting: 30 and 2).

Protocol. The representation sees the noisy image only; its bias towards smooth signals does the
denoising, so the PSNR against the clean image first rises, then falls as the fit starts to reproduce
the noise. The reported `psnr` is at STEPS, a step count fixed in advance: for O-INR it was chosen on a
different image (data/kodim23.png: the step of the highest clean PSNR there), and `reproduce.py` gives
every method the same rule (its step count is chosen on kodim23, then it runs on the cameraman).
`oracle_best_psnr` / `oracle_best_step` (the best logged PSNR against the clean image, which no user
has) are kept for reference only.

Model and optimiser settings (SIZE, GRAY, KERNEL, LR, ...) are 2dimage/train.py's header, overridable here as
there. The settings below and STEPS were chosen on the noisy kodim23 by `python 2dimage/denoise_select.py`
(the default O-INR on a coarser grid with sub-pixel training, at a constant lr so that a step count
transfers); the conv O-INR row: `--model=oinr --octaves=6 --coarse=2 --subpixel=1 --steps=30`.

    python 2dimage/denoise.py [--data=data/kodim23.png --tau=10 --model=wire]
"""

# data
DATA = "data/camera.png"  # PNG / JPEG / TIFF, 8 or 16 bit, gray, RGB or RGBA (alpha dropped)
TAU = 30.0  # WIRE's `tau`: photons per unit intensity, the Poisson noise's scale (lower: noisier); WIRE: 30
READOUT = 2.0  # WIRE's `noise_snr`: std of the Gaussian readout noise, in photons; WIRE: 2
NOISE_SEED = 0  # seed of the noise draw (separate from SEED so models see the same noisy image)
# encoding
OCTAVES = 5  # fewer octaves than train.py: the top frequencies would fit the noise first (kodim23: 4/5/6 ->
#             26.28/26.49/26.43 dB at COARSE = 8, grid-only)
# model: SIZE, GRAY, KERNEL, OMEGA, ... come from 2dimage/train.py's header (--name=value here too)
MODEL = "multiscale"  # the default O-INR; oinr (the conv O-INR: see the docstring) or a baseline also run
COARSE = 8  # multiscale: pixels per coarse cell (kodim23: 2/4/8/16 -> 23.87/25.50/26.49/25.85 dB, grid-only)
WIDTHS = (32, 32, 32)  # the coarse operator's widths (the conv O-INR's, 2dimage/conv.py)
BIAS = False  # conv biases (the conv O-INR's, 2dimage/conv.py)
# optim
SUBPIXEL = 4  # sub-pixel training as train.py (kodim23 at COARSE = 8: 26.57 dB against 26.49 on the nodes only)
SCHEDULE = "constant"  # the step count was chosen at a constant lr (a cosine decay would depend on STEPS)
STEPS = 153  # fixed in advance on data/kodim23.png: the best step of a 300-step fit there (26.57 dB, noisy 17.48)
LOG_EVERY = 2  # steps between metrics.csv rows (each costs one forward pass for the clean PSNR)
# output
OUT = "results"  # results root; the run goes to OUT/denoise/<timestamp>/

import torch  # noqa: E402

from oinr.data.images import load_image, save_image  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, open_run, setup  # noqa: E402
from oinr.fit.image import build_image_model, fit_image  # noqa: E402
from oinr.metrics import psnr, ssim  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.registry import model_lr  # noqa: E402
from oinr.paths import resolve_path  # noqa: E402
from oinr.plots import curves, montage  # noqa: E402


def add_photon_noise(img: torch.Tensor, tau: float, readout: float, seed: int) -> torch.Tensor:
    """WIRE's measurement model: Poisson(tau * x) photons (a negative x gives minus the Poisson of -x) plus
    N(0, readout^2) readout photons, divided by tau. Not clipped, as WIRE's: values may leave [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    readout_noise = readout * torch.randn(img.shape, generator=g)
    photons = torch.sign(img) * torch.poisson((img * tau).abs(), generator=g)
    return (photons + readout_noise) / tau


def main():
    cfg = configure(globals(), base="train.py")
    model_name = cfg["MODEL"]
    check(TAU > 0, f"--tau must be > 0, got {TAU}")
    check(READOUT >= 0, f"--readout must be >= 0, got {READOUT}")
    # data
    clean = load_image(resolve_path(DATA), cfg["SIZE"], cfg["GRAY"])  # (C, H, W) in [0, 1]
    noisy = add_photon_noise(clean, TAU, READOUT, NOISE_SEED)
    noisy_psnr = psnr(noisy, clean)

    # model
    device = setup(cfg)
    model = build_image_model(cfg, clean.shape[0], device, clean.shape[1:])
    run, ckpt = open_run(cfg, "denoise", device)
    print(f"image {resolve_path(DATA)}: {tuple(clean.shape)}, noisy input {noisy_psnr:.2f} dB, model {model_name}")

    # fit (metrics.csv's psnr is against the clean image)
    pred, res = fit_image(cfg, model, noisy, run, ckpt, reference=clean, experiment="denoise")

    # evaluate
    final, best = psnr(pred, clean), res.best("psnr")
    best_step = max(res.history, key=lambda r: r.get("psnr", -1))["step"]  # an oracle: it reads the clean image

    # save
    save_image(run / "noisy.png", noisy)
    save_image(run / "denoised.png", pred)
    label = f"{model_name} ({final:.2f} dB)"
    montage({"clean": clean, f"noisy ({noisy_psnr:.2f} dB)": noisy.clamp(0, 1), label: pred},
            run / "figures" / "denoise.png", error_of=(label, "clean"))  # fmt: skip
    curves(run / "metrics.csv", run / "figures" / "curves.png", title=f"{model_name}: PSNR against the clean image")
    finish(run, psnr=final, oracle_best_psnr=best, oracle_best_step=int(best_step), input_psnr=noisy_psnr,
           ssim=ssim(pred, clean), n_params=n_params(model), steps=res.steps, wall_time_s=res.wall_time_s,
           device=str(device), model=model_name, lr=model_lr(cfg), image=str(DATA), tau=TAU,
           readout=READOUT)  # fmt: skip


if __name__ == "__main__":
    cli(main)
