"""The multiscale O-INR at 256^3, for one GPU: the bunny mesh voxelized at 256^3, a 65^3 coarse conv grid, 4x the
voxels per step. Not yet timed on a GPU (none was lent to this work); on a 2-core CPU a step costs about 1 s.

    python 3dvolume/train.py 3dvolume/gpu.py
"""

DATA = "data/bunny.obj.gz"
RESOLUTION = 256
COARSE = 4  # a 65^3 coarse grid
WIDTHS = (32, 32)
FEATURES = 16
HEAD_WIDTHS = (64,)
OCTAVES = 7  # the top octave below a 256 grid's Nyquist (the coarse grid's own are capped at its)
BATCH = 262144  # voxels per step
STEPS = 2000
LOG_EVERY = 250
CKPT_EVERY = 500
