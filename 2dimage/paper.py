"""The paper's 2D image setting, for a GPU (its cost per step on a CPU: `python bench/train_default.py`;
1.84 s per step on this project's 2-core CPU at 256x256 on 2026-11-20, 3.6x the default's)."""

MODEL = "oinr"  # the full-resolution conv O-INR
SIZE = 0  # native resolution
OCTAVES = 10  # sin/cos octaves per axis
WIDTHS = (64, 128, 128, 64)  # hidden conv widths
KERNEL = 3
FIRST_KERNEL = 3
BIAS = False
OMEGA = 1.0
FIRST_OMEGA = 1.0
INIT = "default"  # PyTorch's default conv initialisation
STEPS = 1000
LR = 1e-3
SCHEDULE = "constant"
CKPT_EVERY = 250
