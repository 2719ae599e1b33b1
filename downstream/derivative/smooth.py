"""A small, low-frequency O-INR whose derivative between grid points follows the signal's.

With 2dimage/train.py's defaults (first-layer omega 10, 7x7 kernels) the fitted function oscillates
between samples and its analytic derivative does not follow the image's; this setting trades fitting
power for a smooth interpolant. Use it with analytic.py, or for the 2dimage fit that derive.py reads:
python 2dimage/train.py downstream/derivative/smooth.py --size=128
"""

OCTAVES = 2
WIDTHS = (16, 16)
KERNEL = 3
FIRST_KERNEL = 1
FIRST_OMEGA = 1.0
OMEGA = 1.0
