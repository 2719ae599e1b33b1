"""The O-INR operator: a stack of sine-activated N-d convolutions.

The paper parameterises the integral operator h(w) = int K(w, w') f(w') dw' with a convolution
kernel K(w, w') = g(w - w'), so one layer is a convolution of the encoding grid f, and the network
is conv -> sin(omega * .) -> conv -> ... -> conv, with a linear last layer. It maps a grid of
positional encodings ``(B, C_in, *spatial)`` to the signal ``(B, C_out, *spatial)`` on the same grid.

Initialisation (``init='sine'``): each hidden conv is drawn U(-b, b) with b = sqrt(6 / fan_in) / omega,
fan_in = C_in * k^d, the SIREN rule that keeps the pre-activations of every sine layer distributed
alike (so omega can be raised without the activations collapsing); the last conv gets
b = sqrt(6 / fan_in) (unit-variance output for unit-variance input). ``init='default'`` keeps
PyTorch's own (the original code's choice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from oinr.encoding import encode_grid, n_channels
from oinr.models.header import header_kwargs

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class Sine(nn.Module):
    """sin(omega * x)."""

    def __init__(self, omega: float = 1.0):
        super().__init__()
        self.omega = float(omega)

    def forward(self, x):
        return torch.sin(self.omega * x)

    def extra_repr(self):
        return f"omega={self.omega}"


class EncodingOperator(nn.Module):
    """What every O-INR shares: it reads the sin/cos encoding grid of `oinr.encoding` and maps it through
    ``self.body`` then ``self.last``. Subclasses set ``dims``, ``octaves``, ``noise_channels``, ``body``, ``last``."""

    noise_channels: int = 0

    def make_input(self, shape, offset=None) -> torch.Tensor:
        """The encoding grid ``(1, C_in, *shape)`` (``(N, C_in, *shape)`` for N offsets) this operator reads."""
        if self.octaves is None:
            raise ValueError("this operator was built without `octaves`; build its input with oinr.encoding")
        dev = next(self.parameters()).device
        enc = encode_grid(shape, self.octaves, noise_channels=self.noise_channels, offset=offset, device=dev)
        return enc if enc.ndim == len(shape) + 2 else enc.unsqueeze(0)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *spatial)`` or ``(C_in, *spatial)`` -> ``(B, C_out, *spatial)``."""
        if grid.ndim == self.dims + 1:
            grid = grid.unsqueeze(0)  # (1, C_in, *spatial)
        if grid.ndim != self.dims + 2:
            raise ValueError(f"expected a (B, C, *{self.dims} spatial) grid, got shape {tuple(grid.shape)}")
        return self.last(self.body(grid))


class OINR(EncodingOperator):
    """Conv + sine operator network for 1, 2 or 3 spatial dimensions.

    Args:
        in_channels: channels of the encoding grid.
        out_channels: channels of the signal (1 gray, 3 RGB, 1 occupancy).
        widths: hidden widths, one conv + sine per entry (the paper's 2D: 64, 128, 128, 64).
        kernel_size: odd kernel size of every conv ('same' padding keeps the grid).
        dims: number of spatial axes (1, 2 or 3).
        bias: conv biases on/off (the paper: off).
        omega: sine frequency of the hidden activations.
        first_omega: sine frequency of the first activation (default: `omega`). With init='sine' the
            first conv is drawn for `omega`, so first_omega / omega scales its pre-activations: the
            larger, the more the sine mixes the separable x and y encodings into 2D patterns (SIREN's
            first layer plays the same role with omega0 = 30).
        init: 'sine' (SIREN-style, see the module docstring) or 'default' (PyTorch's).
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
        first_kernel_size: kernel of the first conv (default: `kernel_size`). On a pure sin/cos grid a
            shifted encoding is a fixed rotation of the unshifted one (sin(w(x+d)) = sin(wx)cos(wd) +
            cos(wx)sin(wd)), so away from the border a k x k first conv equals some 1 x 1 conv: 1 keeps
            the function class and saves k^d - 1 of that layer's work. That holds for pure sin/cos
            channels only: with noise channels or per-signal offsets (``offsets=True``: sin + gamma_n,
            where a k x k conv gives A s + gamma B with B free of A, a 1 x 1 conv only W s + gamma W)
            a first kernel smaller than `kernel_size` falls back to `kernel_size` with a note.
        offsets: the input carries per-signal offsets (sequences; see `oinr.encoding`).
        octaves, noise_channels: the encoding this operator reads (see `oinr.encoding`); with
            `octaves` set, `in_channels` may be None and `make_input(shape)` builds the grid.
    """

    def __init__(
        self,
        in_channels: int | None,
        out_channels: int,
        widths: Sequence[int] = (64, 128, 128, 64),
        kernel_size: int = 3,
        dims: int = 2,
        bias: bool = False,
        omega: float = 1.0,
        init: str = "sine",
        padding_mode: str = "zeros",
        octaves: int | None = None,
        noise_channels: int = 0,
        first_omega: float | None = None,
        first_kernel_size: int | None = None,
        offsets: bool = False,
    ):
        super().__init__()
        self.octaves, self.noise_channels = octaves, noise_channels
        if in_channels is None:
            if octaves is None:
                raise ValueError("give in_channels or octaves")
            in_channels = n_channels(dims, octaves, noise_channels)
        if dims not in _CONV:
            raise ValueError(f"dims must be 1, 2 or 3, got {dims}")
        for k in (kernel_size, first_kernel_size):
            if k is not None and (k < 1 or k % 2 == 0):
                raise ValueError(f"kernel sizes must be odd and positive, got {k}")
        if init not in ("sine", "default"):
            raise ValueError(f"init must be 'sine' or 'default', got {init!r}")
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty list of positive ints, got {widths}")
        self.dims, self.omega = dims, float(omega)
        conv = _CONV[dims]
        sizes = [in_channels, *widths]
        layers: list[nn.Module] = []
        self.first_omega = self.omega if first_omega is None else float(first_omega)
        first_kernel_size = kernel_size if first_kernel_size is None else first_kernel_size
        if first_kernel_size < kernel_size and (noise_channels or offsets):
            why = "noise channels" if noise_channels else "per-signal offsets"
            print(f"note: first kernel {first_kernel_size} -> {kernel_size}: with {why} in the input a smaller "
                  "first conv is not equivalent (oinr/models/conv.py)")  # fmt: skip
            first_kernel_size = kernel_size
        self.first_kernel_size = first_kernel_size
        for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            k = first_kernel_size if i == 0 else kernel_size
            layers += [conv(c_in, c_out, k, padding=k // 2, bias=bias, padding_mode=padding_mode)]
            layers += [Sine(self.first_omega if i == 0 else omega)]
        self.last = conv(
            sizes[-1],
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            bias=bias,
            padding_mode=padding_mode,
        )
        self.body = nn.Sequential(*layers)
        if init == "sine":
            self._sine_init()

    @torch.no_grad()
    def _sine_init(self):
        for m in self.body:
            if isinstance(m, nn.modules.conv._ConvNd):
                b = math.sqrt(6.0 / _fan_in(m)) / self.omega
                m.weight.uniform_(-b, b)
                if m.bias is not None:
                    m.bias.uniform_(-b, b)
        b = math.sqrt(6.0 / _fan_in(self.last))
        self.last.weight.uniform_(-b, b)
        if self.last.bias is not None:
            self.last.bias.zero_()

    def receptive_radius(self) -> int:
        """Cells on each side that influence one output cell (the halo that tiling needs)."""
        return sum(m.kernel_size[0] // 2 for m in self.modules() if isinstance(m, nn.modules.conv._ConvNd))


def _fan_in(conv: nn.modules.conv._ConvNd) -> int:
    return conv.in_channels // conv.groups * math.prod(conv.kernel_size)


def n_params(model: nn.Module) -> int:
    """Trainable real scalars: a complex parameter counts twice (its real and imaginary parts)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)


SETTINGS = {  # header name: default (see 2dimage/conv.py for what each does)
    "WIDTHS": (64, 128, 128, 64),
    "KERNEL": 3,
    "FIRST_KERNEL": None,
    "BIAS": False,
    "OMEGA": 1.0,
    "FIRST_OMEGA": None,
    "INIT": "sine",
    "OCTAVES": 6,
    "NOISE_CHANNELS": 0,
    "SIGNAL_OFFSETS": False,
}


def build_from_header(cfg: dict, dims: int, out_channels: int) -> OINR:
    rename = {"KERNEL": "kernel_size", "FIRST_KERNEL": "first_kernel_size", "SIGNAL_OFFSETS": "offsets"}
    return OINR(None, out_channels, dims=dims, **header_kwargs(cfg, SETTINGS, rename))
