"""The original code's sequence setting (a GPU setting): its 7-conv SequenceNet, 64-128-256-256-128-64 wide,
3x3 kernels with biases and PyTorch's init, plain sine activations, 10 octaves, gamma spread over
[0, 0.1] (the original's np.linspace(0, 0.1, N)), Adam at 1e-3 on 8 frames a step, native resolution.
The original trains 1000 epochs (passes over all frames); here 1000 steps of 8 frames."""

MODEL = "oinr"  # the conv O-INR with the poster's offsets
SIZE = 0  # native resolution
FRAMES = (0, 0)  # every frame
OCTAVES = 10  # sin/cos octaves per axis (the original's num_sine)
ALPHA = 0.0
BETA = 0.1
WIDTHS = (64, 128, 256, 256, 128, 64)  # six conv + sine layers, then the output conv: seven convs
KERNEL = 3
BIAS = True
OMEGA = 1.0
FIRST_OMEGA = 1.0
INIT = "default"  # PyTorch's default conv initialisation
BATCH = 8
STEPS = 1000
LR = 1e-3
SCHEDULE = "cosine"  # the original's CosineAnnealingLR (to 5e-4, i.e. FINAL_LR_RATIO 0.5)
FINAL_LR_RATIO = 0.5
LOG_EVERY = 50
CKPT_EVERY = 250
