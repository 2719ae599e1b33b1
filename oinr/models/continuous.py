"""A resolution-free O-INR: the operator of `oinr.models.conv` with continuous kernels (`ckconv.CKConv`).

Each layer is the integral operator h(w) = int g(w - w') f(w') dw' with g a kernel network over relative
positions in the domain's units, so the network is one map between *functions* on [-1, 1]^d: it can be
trained on grids of several sizes and evaluated on any other (finer: super-resolution). The encoding is
the same sin/cos grid (`oinr.encoding.encode_grid`), itself a function sampled at linspace(-1, 1, n).
Without a noise channel: noise sampled per grid is not one function across resolutions.

Layers: CKConv -> sin(omega .) per hidden width, then a linear CKConv to the output channels. Every
kernel has a Dirac component by default (``dirac=True``: g(s) = K(s) + A delta(s), see `ckconv.conv`):
the pointwise part passes all the encoding's octaves, which a smooth windowed kernel alone attenuates,
and keeps the operator resolution-free.

Initialisation, in two steps. (1) CKConv's resolution-aware rule (`ckconv.conv`) with `oinr.models.conv`'s
sine gains, sqrt(2)/omega for the hidden layers and sqrt(2) for the output, matched at `init_resolution`.
That rule assumes uncorrelated kernel taps; a kernel network gives smooth, correlated ones and the
encoding is smooth too, so the taps add up coherently and the pre-activations come out 2-5x larger than
it predicts (siren kernels, widths 32: stds 4.6, 2.3, 2.3, 2.4 where 1, 1, 1, 1 was meant), alike at
every resolution. (2) So `calibrate` passes the model's own input, the encoding at `init_resolution`,
through the layers once and rescales each kernel network's output layer so that every pre-activation
has std 1/omega (omega * pre-activation: unit std, SIREN's regime) and the output std 1, as a
data-dependent init does (LSUV, Mishkin & Matas 2016). The input is a fixed function, so this is a
deterministic part of the init. Without it, multi-resolution fits train worse and generalise far worse
across sizes (2dimage/continuous.py's setting at 200 steps: 10-16 dB at held-out sizes instead of 20-21).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ckconv import CKConv
from oinr.encoding import n_channels
from oinr.models.conv import EncodingOperator, Sine
from oinr.models.header import header_kwargs


class ContinuousOINR(EncodingOperator):
    """Continuous-kernel conv + sine operator network for 1, 2 or 3 spatial dimensions.

    Args:
        out_channels: channels of the signal (1 gray, 3 RGB).
        dims: number of spatial axes (1, 2 or 3).
        octaves: sin/cos octaves of the input encoding (`make_input` builds it).
        widths: hidden widths, one CKConv + sine per entry.
        kernel_extent: kernel window of every layer in domain units (the domain is [-1, 1] per axis).
        omega: sine frequency of the hidden activations.
        first_omega: sine frequency of the first activation (default `omega`); as in `oinr.models.conv.OINR`,
            the first layer is initialised for `omega`, so first_omega / omega scales its pre-activations
            and how hard the sine mixes the separable x and y encodings into 2D patterns.
        kernel_net, hidden, layers, omega0, window: the kernel network of every layer (see `ckconv`).
        bias: per-channel biases of every layer.
        use_fft: True, False or None (by kernel size) for every layer.
        init_resolution: samples per axis at which the initial kernels match a standard conv's scale.
        calibrate: end the initialisation with `calibrate` at init_resolution (see the module docstring).
        dirac: give every kernel a learnable Dirac component (a pointwise term A x(t)).
    """

    def __init__(
        self,
        out_channels: int,
        dims: int = 2,
        octaves: int = 5,
        widths: Sequence[int] = (32, 32, 32),
        kernel_extent: float = 0.25,
        omega: float = 1.0,
        kernel_net: str = "siren",
        hidden: int = 32,
        layers: int = 3,
        omega0: float = 10.0,
        window: str = "hann",
        bias: bool = True,
        use_fft: bool | None = None,
        init_resolution: int = 64,
        calibrate: bool = True,
        dirac: bool = True,
        first_omega: float | None = None,
    ):
        super().__init__()
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty list of positive ints, got {widths}")
        self.dims, self.octaves, self.omega = dims, octaves, float(omega)
        self.first_omega = self.omega if first_omega is None else float(first_omega)
        self.kernel_extent = float(kernel_extent)
        sizes = [n_channels(dims, octaves), *widths]
        conv = dict(dims=dims, kernel_net=kernel_net, hidden=hidden, layers=layers, omega0=omega0,
                    kernel_extent=kernel_extent, bias=bias, use_fft=use_fft, window=window,
                    init_resolution=init_resolution, dirac=dirac)  # fmt: skip
        body: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            body += [CKConv(c_in, c_out, init_gain=math.sqrt(2.0) / self.omega, **conv)]
            body += [Sine(self.first_omega if i == 0 else self.omega)]
        self.body = nn.Sequential(*body)
        self.last = CKConv(sizes[-1], out_channels, init_gain=math.sqrt(2.0), **conv)
        if calibrate:
            self.calibrate((init_resolution,) * dims)

    @torch.no_grad()
    def calibrate(self, shape) -> list[float]:
        """Rescale each layer's kernel so that, on the encoding grid of `shape`, every pre-activation has std
        1/omega and the output std 1 (biases must be zero, as at initialisation). Returns the factors applied."""
        h = self.make_input(shape)  # (1, C_in, *shape)
        factors = []
        for conv, sine in [*zip(self.body[::2], self.body[1::2]), (self.last, None)]:
            target = 1.0 / self.omega if sine is not None else 1.0
            factor = target / conv(h).std().clamp_min(1e-12).item()
            conv.kernel_net.last.weight.mul_(factor)  # the sampled kernel is linear in this layer
            if conv.dirac is not None:
                conv.dirac.mul_(factor)
            factors.append(factor)
            h = sine(conv(h)) if sine is not None else h
        return factors


SETTINGS = {  # header name: default (see 2dimage/continuous.py for what each does)
    "OCTAVES": 5,
    "WIDTHS": (32, 32, 32),
    "KERNEL_EXTENT": 0.25,
    "OMEGA": 1.0,
    "FIRST_OMEGA": None,
    "KERNEL_NET": "siren",
    "KERNEL_HIDDEN": 32,
    "KERNEL_LAYERS": 3,
    "OMEGA0": 10.0,
    "WINDOW": "hann",
    "BIAS": True,
    "USE_FFT": "auto",
    "DIRAC": True,
    "INIT_RESOLUTION": 64,
}


def build_from_header(cfg: dict, dims: int, out_channels: int) -> ContinuousOINR:
    kwargs = header_kwargs(cfg, SETTINGS, {"KERNEL_HIDDEN": "hidden", "KERNEL_LAYERS": "layers"})
    kwargs["use_fft"] = {"auto": None, "fft": True, "direct": False}.get(kwargs["use_fft"])
    return ContinuousOINR(out_channels, dims, **kwargs)
