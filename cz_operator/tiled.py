"""The CZ operator with a banded kernel per tile and level and a dense coarsest level: 8,006,097 parameters.

cz_operator/train.py's default before the compact operator (RESULTS.md's ~40 s numbers: cameraman 36.47 dB,
kodim23 33.06): the 2D DWT of the grid (5 levels of db2, d = k = 16), 2 banded ReLU layers per level
with a 3-tap kernel for each of 4 x 4 tiles (5.9M), 2 dense layers over channels and the 8 x 8 coarse
positions (2.1M), the linear lift. 0.36 s per step at 256 px on one CPU thread (bench/cz_operator.py), as the
compact default's 0.38.

    python cz_operator/train.py cz_operator/tiled.py
"""

LATENT_D = 16
LATENT_K = 16
BLOCKS = 4  # 4 x 4 tiles
SHARING = "tile"  # a kernel per tile and level
COARSEST = "dense"  # d x c x P x P matrices over channels and coarse positions
LIFT_OMEGA = 0.0  # the linear lift (the encoding's DWT computed once)
ACTIVATION = "relu"
OMEGA = 1.0
LR = 1e-3  # at 128 px, 200 steps: 1e-3 -> 37.2 dB, 3e-3 -> 34.1, 1e-2 -> 28.9
STEPS = 400
