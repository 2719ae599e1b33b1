"""Convolution through the FFT: the same 'same'-padded (zeros) result as F.conv1d/2d/3d.

F.convNd computes a cross-correlation, y[i] = sum_j w[j] x[i + j - p] with p = k // 2 (odd k). With the
flipped kernel w'[j] = w[k - 1 - j] that is the full linear convolution z = x * w' read at z[i + p].
Zero-padding both signals to at least n + k - 1 samples per axis makes the FFT's circular convolution
equal to the linear one, so

    y = crop_p( irfftn( rfftn(x) . rfftn(flip(w)) ) ),   summed over input channels per frequency.

The cost is O(N log N) in the padded grid size N and independent of the kernel size, against
O(N k^d) for direct convolution; `bench/ckconv_fft.py` measures where they cross.
"""

from __future__ import annotations

import math

import torch


def fast_len(n: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= n: a size the FFT handles quickly."""
    best = 1 << max(0, (n - 1).bit_length())  # a power of two always works
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def dft_matrix(k: int, size: int, half: bool, device=None, dtype=torch.complex64) -> torch.Tensor:
    """exp(-2 pi i j m / size) for taps j < k and frequencies m < size (m <= size // 2 when `half`): (k, M)."""
    m = size // 2 + 1 if half else size
    j = torch.arange(k, dtype=torch.float64)[:, None]
    f = torch.arange(m, dtype=torch.float64)[None, :]
    angle = (-2 * math.pi / size) * torch.remainder(j * f, size)  # reduced mod size: exact phases
    return torch.polar(torch.ones_like(angle), angle).to(device=device, dtype=dtype)


def kernel_spectrum(weight: torch.Tensor, size) -> torch.Tensor:
    """``rfftn(weight, s=size)`` over the last ``len(size)`` axes, as one small DFT matrix product per axis.

    The zero-padded kernel is non-zero on its k taps only, so a (k, size) DFT matrix per axis does the
    work of a padded FFT with a few dense matrix products (several times faster for many channel pairs).
    """
    d = len(size)
    z = weight.to(weight.dtype.to_complex())  # (C_out, C_in, *k)
    for a in range(d):
        axis = weight.ndim - d + a
        e = dft_matrix(weight.shape[axis], size[a], a == d - 1, weight.device, z.dtype)  # (k_a, M_a)
        z = torch.movedim(torch.movedim(z, axis, -1) @ e, -1, axis)  # axis a: k_a taps -> M_a frequencies
    return z  # (C_out, C_in, *size[:-1], size[-1] // 2 + 1)


def fft_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """'same' zero-padded cross-correlation of ``x (B, C_in, *spatial)`` with ``weight (C_out, C_in, *k)``.

    Kernel sizes must be odd. Returns ``(B, C_out, *spatial)``, equal to ``F.convNd(x, weight, bias,
    padding=k // 2)`` up to floating-point rounding.
    """
    d = weight.ndim - 2
    spatial, ks = x.shape[-d:], weight.shape[-d:]
    if any(k % 2 == 0 for k in ks):
        raise ValueError(f"fft_conv needs odd kernel sizes, got {tuple(ks)}")
    axes = tuple(range(-d, 0))
    size = [fast_len(n + k - 1) for n, k in zip(spatial, ks)]  # linear, not circular, convolution
    xf = torch.fft.rfftn(x, s=size, dim=axes)  # (B, C_in, *size[:-1], size[-1] // 2 + 1), complex
    wf = kernel_spectrum(weight.flip(axes), size)  # (C_out, C_in, ...), complex
    yf = (xf.unsqueeze(1) * wf.unsqueeze(0)).sum(2)  # (B, C_out, ...): channel sum per frequency
    y = torch.fft.irfftn(yf, s=size, dim=axes)  # (B, C_out, *size)
    crop = tuple(slice(k // 2, k // 2 + n) for n, k in zip(spatial, ks))
    y = y[(..., *crop)]  # (B, C_out, *spatial)
    if bias is not None:
        y = y + bias.view(1, -1, *[1] * d)
    return y.contiguous()
