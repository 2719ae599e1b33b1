"""Fit O-INR realised as a Calderon-Zygmund operator in a wavelet basis to one image (the paper's CZ experiment).

The operator (oinr/models/cz.py) lifts the encoding, decomposes it with a multilevel DWT, transforms every
level with banded, partially shared layers and the coarsest level with dense ones, and reconstructs
with the inverse DWT; the module docstring gives the equations.

python cz_operator/train.py [cz_operator/paper.py] [--data=data/kodim23.png --levels=4 --flatten=true]
"""

# data
DATA = "data/camera.png"  # PNG / JPEG / TIFF, 8 or 16 bit, gray, RGB or RGBA (alpha dropped)
SIZE = 256  # 0: native size; N: longer side resized to N (aspect kept); (H, W): exact
GRAY = False  # True: convert a colour image to luminance
# encoding
OCTAVES = 7  # sin/cos octaves per axis; 7 puts the top one just under a 256 grid's Nyquist
NOISE_CHANNELS = 0  # extra Gaussian-noise input channels (the original adds one)
# model
MODEL = "cz"  # this script fits the CZ operator; the conv O-INR and the baselines run through 2dimage/train.py
LATENT_D = 16  # d: latent channels the operator returns, projected to the image's (the paper: 20; 8: -4 dB)
LATENT_K = 16  # k: latent channels the encoding is lifted to, each decomposed (the paper: 20)
WAVELET = "db2"  # a pywt discrete wavelet: haar, db2, db4, sym4, coif1, bior2.2, ...
LEVELS = 5  # wavelet levels (the paper: 10 on the flattened image); every axis keeps >= half a filter at the coarsest
WAVE_MODE = "periodization"  # DWT boundary: periodization (the original's), zero, symmetric, reflect, periodic
PAD = "replicate"  # pads each axis at its end to a multiple of 2^LEVELS: replicate, reflect, zeros or circular
FLATTEN = False  # True: the original's 1D variant (row-major flattened, 1D wavelets; raise LEVELS: dense ~ coarse^2)
BANDED_LAYERS = 2  # banded layers per level (the paper: 4)
DENSE_LAYERS = 2  # dense layers on the coarsest level (the paper: 4)
BAND = 3  # taps per axis of a banded layer (odd): the bandwidth of the level operators A_j, B_j, G_j
BLOCKS = 4  # tiles per axis with their own banded kernels (1: shared, a convolution: 128 px 25 dB against 34)
ACTIVATION = "relu"  # relu (the original's), sine, gelu or none (a linear operator)
OMEGA = 1.0  # sine frequency when ACTIVATION = sine
# optim
STEPS = 400  # Adam steps on the full grid
LR = 1e-3  # Adam learning rate (the paper's; at 128 px, 200 steps: 1e-3 -> 37.2 dB, 3e-3 -> 34.1, 1e-2 -> 28.9)
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/cz_operator/<timestamp>/
LOG_EVERY = 10  # steps between metrics.csv rows
CKPT_EVERY = 100  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS
PROGRESS = True  # tqdm progress bar

from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.image import image_experiment  # noqa: E402


def main():
    """The image flow of 2dimage/train.py (oinr.fit.image.image_experiment) with MODEL = 'cz'."""
    cfg = configure(globals())
    check(MODEL == "cz", f"--model must be cz in this script (got {MODEL!r}); fit other models with 2dimage/train.py")
    image_experiment(cfg, "cz_operator", extra=lambda m: {"levels": LEVELS, "wavelet": WAVELET, "flatten": FLATTEN,
                                                          "coarse": list(m.coarse)})  # fmt: skip


if __name__ == "__main__":
    cli(main)
