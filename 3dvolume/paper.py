"""The paper's 3D setting for one GPU: the bunny mesh voxelized at 256^3 and the paper's 2D operator with 3D convs
(960k parameters). MAX_VOXELS splits the grid into 8 tiles of 128^3 plus a halo of 5 (one per step, about 10 GB of
activations each). Not yet timed on a GPU; on a 2-core CPU one step takes minutes."""

MODEL = "oinr"  # the full-resolution conv O-INR, tiled
DATA = "data/bunny.obj.gz"
RESOLUTION = 256
OCTAVES = 8  # the top octave at a 256 grid's Nyquist, as the CPU default's 6 is at 64's
WIDTHS = (64, 128, 128, 64)  # hidden conv widths
KERNEL = 3
BIAS = False
OMEGA = 1.0
INIT = "default"  # PyTorch's default conv initialisation
MAX_VOXELS = 4194304  # 2^22 cells per step: 8 tiles of 128^3 + halo
STEPS = 4000  # 500 epochs of the 8 tiles
LR = 1e-3
SCHEDULE = "constant"
LOG_EVERY = 200
CKPT_EVERY = 500
