"""The original's CZ setting (cz_operator/main_cz.py of the paper's code), a GPU setting.

The image flattened row-major to one sequence, 10 levels of db2, d = k = 20, 4 dense and 4 banded
layers per level with 3 taps and 6 tiles, ReLU, a noise channel, 10 octaves, Adam lr 1e-3 for 2000 steps.
SIZE stays 256: the flattened 256x256 cameraman has 64 coarse positions, so the dense level holds
4 x 20 x 20 x 64^2 = 6.6M weights as in the original; at the native 512 px it would be 105M.
"""

SIZE = 256  # the cameraman at 256x256 (65,536 samples: 10 levels leave 64)
OCTAVES = 10  # sin/cos octaves per axis
NOISE_CHANNELS = 1  # the original's noise channel
LATENT_D = 20
LATENT_K = 20
WAVELET = "db2"
LEVELS = 10
WAVE_MODE = "periodization"
FLATTEN = True  # the original's 1D variant
LIFT_OMEGA = 0.0  # the original's linear lift
SHARING = "tile"  # a banded kernel per tile and level (the original's partially shared layers)
COARSEST = "dense"  # dense matrices over channels and coarse positions
BANDED_LAYERS = 4
DENSE_LAYERS = 4
BAND = 3
BLOCKS = 6  # the original's num_sparse_LC
ACTIVATION = "relu"
STEPS = 2000
LR = 1e-3
SCHEDULE = "constant"  # the original's scheduler is off by default
CKPT_EVERY = 500
