"""The full-resolution conv O-INR (the 2D default before the multiscale model): every conv runs on the whole
256^2 grid. 102,816 parameters; on the 256^2 cameraman 33.10 dB after 200 steps (0.16 s per step on a
2-core CPU), 30 dB after 13.3 s. denoise.py and downstream/derivative/derive.py use this model.

    python 2dimage/train.py 2dimage/conv.py
"""

MODEL = "oinr"
WIDTHS = (32, 32, 32)  # hidden conv widths
KERNEL = 7  # hidden and output convs (at 128 px, 150 steps: 3 -> 26 dB, 7 -> 46)
FIRST_KERNEL = 1  # on a sin/cos grid a k x k first conv equals a 1 x 1 one inside (oinr/models/conv.py)
BIAS = False  # the paper: none
FIRST_OMEGA = 10.0
LR = 1e-2
STEPS = 200
