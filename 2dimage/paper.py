"""The paper's 2D image setting (a GPU setting: about 1.2 s per step on a 2-core CPU at 256x256)."""

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
