"""Continuous-kernel convolutions (CKConv, Romero et al., ICLR 2022; MAGNet kernels from FlexConv, ICLR 2022).

A kernel network maps relative positions in the domain's units to kernel values, so one set of
parameters defines the convolution at every resolution. `CKConv` samples it for the grid it is given
and convolves directly or through the FFT; see `ckconv.conv` for the conventions and initialisation.
"""

from .conv import FFT_MIN_TAPS, CKConv, grid_spacing, kernel_taps
from .fftconv import fast_len, fft_conv
from .kernelnet import KERNEL_NETS, build_kernel_net

__all__ = [
    "CKConv",
    "FFT_MIN_TAPS",
    "KERNEL_NETS",
    "build_kernel_net",
    "fast_len",
    "fft_conv",
    "grid_spacing",
    "kernel_taps",
]
