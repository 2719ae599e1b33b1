"""Fit an O-INR (or a baseline INR) to one image: the paper's 2D image experiment.

python 2dimage/train.py [2dimage/paper.py] [--data=data/kodim23.png --steps=500 --model=siren]
"""

# data
DATA = "data/camera.png"  # PNG / JPEG / TIFF, 8 or 16 bit, gray, RGB or RGBA (alpha dropped)
SIZE = 256  # 0: native size; N: longer side scaled down to N (aspect kept; never up); (H, W): exact
GRAY = False  # True: convert a colour image to luminance
# encoding
OCTAVES = 7  # sin/cos octaves per axis; 7 puts the top one (64*pi) just under a 256 grid's Nyquist
NOISE_CHANNELS = 0  # extra Gaussian-noise input channels (the paper's optional noise channel)
# model
MODEL = "multiscale"  # multiscale; oinr (full-resolution convs: preset 2dimage/conv.py); cz, continuous; a baseline
WIDTHS = (32, 32)  # hidden conv widths (multiscale: of the coarse operator); the paper's 64,128,128,64 is a GPU setting
KERNEL = 7  # odd kernel of the hidden and output convs: the largest lever (128 px, 150 steps: 3 -> 26 dB, 7 -> 46)
FIRST_KERNEL = 1  # first conv: on a sin/cos grid a k x k conv equals a 1 x 1 one inside (oinr/models/conv.py)
COARSE = 2  # multiscale: pixels per coarse cell along each axis (1: 4x the conv cost per step)
FEATURES = 16  # multiscale: channels the coarse operator hands to the pointwise head
HEAD_WIDTHS = (32,)  # multiscale: pointwise sine layers on [interpolated features, fine encoding]
HEAD_OMEGA = 2.0  # multiscale: sine frequency of the head's first layer (cameraman, 20 s: 1 -> 35.3 dB, 2 -> 36.9)
INTERP = "bspline"  # multiscale: coarse features to the points: linear, cubic (C1) or bspline (C2: the one-pass
#                    derivative of a 128-px cameraman fit correlates 0.899 with central differences, linear 0.865)
BIAS = True  # conv biases (the paper: none; the conv preset keeps none)
OMEGA = 1.0  # sine frequency of the hidden activations
FIRST_OMEGA = 10.0  # sine frequency of the first activation: > OMEGA mixes the x and y encodings harder
INIT = "sine"  # sine: SIREN-style uniform init scaled by OMEGA; default: PyTorch's (the paper's code)
# optim
SUBPIXEL = 4  # steps read the grid moved by j/SUBPIXEL of a cell against the band-limited target (cameraman
#               129 -> 257 px: 2x super-resolution 26.64 -> 29.03 dB, bench/off_grid.py); 1: the grid's nodes only
ON_GRID = 0.0  # share of the steps on the grid's own nodes when SUBPIXEL > 1 (the rest are moved)
STEPS = 300  # Adam steps on the full grid
LR = 1e-2  # O-INR learning rate (256 px, 150 steps: 5e-3 -> 30.2 dB, 8e-3 -> 31.0); baselines: oinr/models/baselines.py
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

from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.image import image_experiment  # noqa: E402


def main():
    """Load the image, build MODEL, fit it, evaluate PSNR / SSIM, save the run (oinr.fit.image.image_experiment)."""
    image_experiment(configure(globals()), "2dimage")


if __name__ == "__main__":
    cli(main)
