"""CKConv: a convolution whose kernel is a continuous function, sampled at the grid's resolution.

The layer represents the integral operator

    y(t) = b + int K(s) x(t + s) ds,      s in the window W = [-e/2, e/2]^d,   e = kernel_extent,

on the domain [-1, 1]^d, where K: R^d -> R^(C_out x C_in) is a small kernel network (`ckconv.kernelnet`)
times an optional fixed window. The extent e is in the domain's units, not in pixels. A grid of
n samples per axis, x = linspace(-1, 1, n), has spacing h = 2 / (n - 1); there the layer samples K
at the relative offsets s = k h for the integers k with |k h| <= e / 2 (2 floor(e / (2h)) + 1 taps per
axis) and computes the Riemann sum

    y(t_i) = b + h^d sum_k K(k h) x(t_i + k h),

a 'same' cross-correlation (zero padding outside the domain) of x with the sampled kernel times the
cell volume h^d (per-axis spacings for non-square grids). The same parameters therefore give the
matching kernel at any resolution, and outputs at different resolutions agree at shared points up to
the quadrature error (the grid of n samples is a subset of the grid of 2n - 1). The kernel network
reads the offsets normalised by the window, u = 2 s / e in [-1, 1]^d, a fixed rescaling.

Domain boundary (``trapezoid=True``): the integral stops at the domain's edge, where the plain sum's
error is O(h) (the edge sample stands for a cell half outside the domain); weighting the input's edge
samples by 1/2 per axis makes it the trapezoid rule, O(h^2) there. Inside, the windowed integrand is
smooth and vanishes at the window's ends, so the sum converges much faster than that (a 2D test
layer, outputs at n and 2n - 1 on a smooth input: relative differences 0.055 (plain) and 0.0093
(trapezoid) at n = 33, 0.00046 away from the edges).

Window (``window='hann'``): K is multiplied by prod_d cos^2(pi s_d / e), which falls smoothly to zero at
the window's edge, so a tap that enters or leaves the window as the resolution changes carries
(almost) no weight and the Riemann sum converges quickly (FlexConv's Gaussian mask serves the same
purpose). ``window='none'`` keeps the bare kernel network.

Initialisation (resolution-aware version of CKConv's rule). A standard conv with fan-in C_in k^d
draws weights with E[w^2] = g^2 / (C_in k^d), so unit-variance white input gives Var(y) = g^2 (g = the
gain: sqrt(2)/omega before sin(omega .), sqrt(2) for a linear output, as in `oinr.models.conv`). Here
the effective weights are w = h^d K(k h), so matching it at spacing h needs
E[K^2] = g^2 / (C_in k^d h^(2d)) ~ g^2 / (C_in e^d h^d): the kernel's scale must depend on the
resolution it is matched at. We fix that reference resolution (``init_resolution``, n_ref samples per
axis, typically the largest training size): after building the kernel network we sample the (windowed) kernel
at n_ref, zero the last layer's bias and rescale its weight so that the sampled effective weights
have exactly E[w^2] = g^2 / (C_in k_ref^d). Since the kernel is linear in that layer, this holds for
every kernel network (siren, mlp, gabor) without an analytic variance formula. At other resolutions
white input gives Var(y) ~ g^2 (h / h_ref)^d (finer grids average white noise away), while inputs that
are smooth on the scale of h, the regime the layer is built for, give the same output at every h.

Dirac term (``dirac=True``): the kernel gets a point mass, K(s) + A delta(s) with a learnable
C_out x C_in matrix A, so the layer adds the pointwise term A x(t) (a 1x1 conv; FNO's "W", and the
O-INR paper's remark that a Dirac kernel recovers a standard INR). It is resolution-free by itself and
passes every frequency of x, where a smooth windowed K attenuates the ones above its bandwidth. At
initialisation the variance is split evenly: A is drawn with E[a^2] = g^2 / (2 C_in) and the kernel
network scaled to g^2 / 2 of the rule above.

Computation: direct (F.conv1d/2d/3d) or through the FFT (`ckconv.fftconv`), equal up to rounding.
``use_fft=None`` picks the FFT when the sampled kernel has at least `FFT_MIN_TAPS` taps (k^d),
the crossover measured by ``bench/ckconv_fft.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .fftconv import fft_conv
from .kernelnet import build_kernel_net

# direct conv costs ~k^d multiply-adds per output and channel pair, the FFT's cost does not grow with k:
# from this many taps on the FFT is faster. bench/ckconv_fft.py (2D, 256x256, forward + backward, one CPU
# thread): kernel 3, 7, 15, 31 -> direct/FFT time 0.14, 0.28, 3.1, 194 with 8 channels, so 15x15 = 225
# taps; finer, the crossover lies at 81-121 taps with 8 channels and at 169-225 with 32 (the O-INR's
# width), where the FFT's per-frequency channel mixing weighs more. One tap count serves 1D and 3D too.
FFT_MIN_TAPS = 225
WINDOWS = ("hann", "none")
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def grid_spacing(n: int) -> float:
    """Spacing of n samples of linspace(-1, 1, n), the domain's convention for every axis."""
    if n < 2:
        raise ValueError(f"a grid axis needs at least 2 samples to define a spacing, got {n}")
    return 2.0 / (n - 1)


def kernel_taps(n: int, kernel_extent: float) -> int:
    """Taps per axis (odd) of a kernel of width `kernel_extent` (domain units) on an n-sample axis."""
    half = math.floor(kernel_extent / 2 / grid_spacing(n) + 1e-9)  # |k h| <= e/2, with rounding slack
    return 2 * half + 1


def edge_weights(shape: Sequence[int], device=None, dtype=torch.float32) -> torch.Tensor:
    """Trapezoid-rule weights of a grid of `shape`: 1 inside, 1/2 per axis on whose boundary a sample lies."""
    w = torch.ones(shape, device=device, dtype=dtype)
    for a, n in enumerate(shape):
        edge = [slice(None)] * len(shape)
        edge[a] = [0, n - 1] if n > 1 else [0]
        w[tuple(edge)] *= 0.5
    return w  # (*shape)


class CKConv(nn.Module):
    """Continuous-kernel convolution for 1, 2 or 3 spatial dimensions (see the module docstring).

    Args:
        in_channels, out_channels: channels of the input and output grids.
        dims: number of spatial axes (1, 2 or 3).
        kernel_net: 'siren', 'mlp' or 'gabor' (`ckconv.kernelnet`).
        hidden, layers: width and number of linear layers of the kernel network.
        omega0: frequency of the SIREN / Gabor kernel network (unused by 'mlp').
        kernel_extent: width of the kernel window in domain units (the domain is [-1, 1] per axis).
        bias: a learnable per-output-channel bias (initialised to zero).
        use_fft: True (FFT), False (direct) or None (the faster by kernel size, `FFT_MIN_TAPS`).
        window: 'hann' (smooth fall-off to zero at the window's edge) or 'none'.
        init_gain: g of the initialisation (sqrt(2) / omega before a sine, sqrt(2) for a linear output).
        init_resolution: samples per axis of the grid at which the initial kernel matches a standard conv.
        trapezoid: weight the input's samples on the domain boundary by 1/2 per axis (trapezoid rule).
        dirac: add the pointwise term A x(t) (a Dirac component of the kernel; see the module docstring).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dims: int = 2,
        kernel_net: str = "siren",
        hidden: int = 32,
        layers: int = 3,
        omega0: float = 10.0,
        kernel_extent: float = 0.25,
        bias: bool = True,
        use_fft: bool | None = None,
        window: str = "hann",
        init_gain: float = math.sqrt(2.0),
        init_resolution: int = 64,
        trapezoid: bool = True,
        dirac: bool = False,
    ):
        super().__init__()
        if dims not in _CONV:
            raise ValueError(f"dims must be 1, 2 or 3, got {dims}")
        if not kernel_extent > 0:
            raise ValueError(f"kernel_extent must be > 0 (domain units), got {kernel_extent}")
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, dims
        self.kernel_extent, self.use_fft, self.window = float(kernel_extent), use_fft, window
        self.trapezoid = trapezoid
        self.kernel_net = build_kernel_net(kernel_net, dims, out_channels * in_channels, hidden, layers, omega0)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.dirac = None
        if dirac:  # half the initial variance each for A and the kernel network
            init_gain /= math.sqrt(2.0)
            b = math.sqrt(3.0 / in_channels) * init_gain  # U(-b, b): E[a^2] = g^2 / C_in
            self.dirac = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-b, b))
        self.reset_kernel_scale(init_gain, init_resolution)

    def offsets(self, n: int) -> torch.Tensor:
        """The relative offsets k * 2/(n-1), |k * 2/(n-1)| <= kernel_extent / 2, of an n-sample axis."""
        half = kernel_taps(n, self.kernel_extent) // 2
        k = torch.arange(-half, half + 1, dtype=torch.float64)
        return (k * grid_spacing(n)).float()  # (taps,), computed in float64 so shared offsets are bit-equal

    def kernel(self, shape: Sequence[int]) -> torch.Tensor:
        """The kernel K sampled for a grid of `shape`, windowed, without the cell volume: (C_out, C_in, *taps)."""
        dev = self.kernel_net.last.weight.device
        axes = [self.offsets(n).to(dev) for n in shape]  # d x (taps_a,)
        pos = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (*taps, d)
        u = pos / (self.kernel_extent / 2)  # (*taps, d), in [-1, 1]
        k = self.kernel_net(u.reshape(-1, self.dims))  # (P, C_out * C_in)
        if self.window == "hann":
            k = k * torch.cos(0.5 * math.pi * u).pow(2).prod(-1).reshape(-1, 1)  # (P, C_out * C_in)
        k = k.t().reshape(self.out_channels, self.in_channels, *pos.shape[:-1])  # (C_out, C_in, *taps)
        return k

    def weight(self, shape: Sequence[int]) -> torch.Tensor:
        """The effective discrete weights at a grid of `shape`: kernel times cell volume, (C_out, C_in, *taps)."""
        cell = math.prod(grid_spacing(n) for n in shape)
        return self.kernel(shape) * cell

    @torch.no_grad()
    def reset_kernel_scale(self, gain: float, resolution: int) -> None:
        """Rescale the kernel network's last layer so that E[w^2] = gain^2 / fan_in at `resolution`."""
        last = self.kernel_net.last
        last.bias.zero_()
        w = self.weight((resolution,) * self.dims)  # (C_out, C_in, *taps)
        fan_in = self.in_channels * math.prod(w.shape[2:])
        rms = w.pow(2).mean().sqrt()
        last.weight.mul_(gain / math.sqrt(fan_in) / rms.clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *spatial)`` -> ``(B, C_out, *spatial)``; the kernel is sampled for this grid."""
        if x.ndim != self.dims + 2:
            raise ValueError(f"expected a (B, C, *{self.dims} spatial) input, got shape {tuple(x.shape)}")
        w = self.weight(x.shape[2:])  # (C_out, C_in, *taps)
        xq = x * edge_weights(x.shape[2:], x.device, x.dtype) if self.trapezoid else x  # quadrature weights
        fft = self.use_fft if self.use_fft is not None else math.prod(w.shape[2:]) >= FFT_MIN_TAPS
        if fft:
            y = fft_conv(xq, w, self.bias)
        else:
            y = _CONV[self.dims](xq, w, self.bias, padding=tuple(k // 2 for k in w.shape[2:]))
        if self.dirac is not None:
            y = y + torch.einsum("oi,bi...->bo...", self.dirac, x)  # (B, C_out, *spatial): A x(t)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, dims={self.dims}, kernel_extent={self.kernel_extent}, "
            f"window={self.window}, use_fft={self.use_fft}, trapezoid={self.trapezoid}, dirac={self.dirac is not None}"
        )
