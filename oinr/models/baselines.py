"""The usual coordinate-MLP INRs, behind the same interface as the O-INR operator.

Each baseline maps one coordinate x in [-1, 1]^d to a value with a per-point MLP: `layers` hidden layers
of width `hidden` (Linear + activation), then a Linear output layer. `make_input(shape)` gives the grid
of coordinates ``(1, d, *shape)`` and `forward(grid)` maps ``(B, d, *spatial)`` to ``(B, C_out, *spatial)``,
so a training loop or script swaps `OINR` for a baseline without other changes.

- ``siren``: sin(omega0 * (W x + b)); first layer W ~ U(-1/n, 1/n), later ones U(-sqrt(6/n)/omega0,
  sqrt(6/n)/omega0) with n the fan-in. Sitzmann et al., "Implicit Neural Representations with Periodic
  Activation Functions", NeurIPS 2020.
- ``wire``: complex Gabor wavelet exp(j omega0 z - |s0 z|^2) of z = W x + b; the first layer is real,
  the later ones complex, the output is the real part. Saragadam et al., "WIRE: Wavelet Implicit Neural
  Representations", CVPR 2023.
- ``gauss``: exp(-(scale * z)^2 / 2), a Gaussian of width sigma = 1/scale (WIRE's comparisons write
  exp(-(10 z)^2), which is scale = 10 sqrt(2)). Ramasinghe & Lucey, "Beyond Periodicity: Towards a
  Unifying Framework for Activations in Coordinate-MLPs", ECCV 2022.
- ``ffn``: ReLU MLP on random Fourier features gamma(v) = [cos(2 pi B v), sin(2 pi B v)], B ~ N(0, sigma^2)
  fixed. Tancik et al., "Fourier Features Let Networks Learn High Frequency Functions in Low Dimensional
  Domains", NeurIPS 2020.
- ``finer``: variable-periodic sine sin(omega0 * s * z) with s = |z| + 1 held constant in the backward pass
  (the official code computes s under torch.no_grad() unless asked otherwise, ``scale_req_grad=False``),
  SIREN's weight init; the first-layer bias keeps PyTorch's U(-1/sqrt(n), 1/sqrt(n)) unless `first_bias`
  = k asks for U(-k, k) (the official image scripts pass no k; its SDF and NeRF scripts pass k = 1).
  Liu et al., "FINER: Flexible Spectral-bias Tuning in Implicit NEural Representation by
  Variable-periodic Activation Functions", CVPR 2024; official code github.com/liuzhen0212/FINER
  (models.py; run_finer.sh for images: omega0 30, lr 5e-4, width 256).

Parameter counts (`n_params`) count real scalars, so a complex weight counts twice; `hidden_for_budget`
picks the width that matches a parameter budget for comparisons at equal size.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

from oinr.encoding import cell_coords, grid_points
from oinr.errors import UserError
from oinr.models.conv import n_params
from oinr.models.header import settings


def hidden_stack(layer, n_in: int, hidden: int, layers: int) -> list[nn.Module]:
    """`layers` hidden layers ``layer(fan_in, fan_out, index)`` from `n_in` features to `hidden` wide, in order."""
    sizes = [n_in] + [hidden] * layers
    return [layer(a, b, i) for i, (a, b) in enumerate(pairwise(sizes))]


class CoordinateMLP(nn.Module):
    """The shared interface: a coordinate grid in, the per-point MLP `self.net` on channels-last points."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features

    def make_input(self, shape) -> torch.Tensor:
        """The coordinate grid ``(1, d, *shape)``, every axis sampled at linspace(-1, 1, n)."""
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.in_features:
            raise ValueError(f"this model reads {self.in_features}-d coordinates, got a grid shape {shape}")
        dev = next(self.parameters()).device
        return grid_points(shape, dev).movedim(-1, 0).unsqueeze(0)  # (*shape, d) -> (1, d, *shape)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """``(B, d, *spatial)`` or ``(d, *spatial)`` -> ``(B, C_out, *spatial)``."""
        if grid.ndim == self.in_features + 1:
            grid = grid.unsqueeze(0)  # (1, d, *spatial)
        if grid.ndim < 3 or grid.shape[1] != self.in_features:
            raise ValueError(f"expected a (B, {self.in_features}, *spatial) grid, got shape {tuple(grid.shape)}")
        x = grid.movedim(1, -1)  # (B, *spatial, d)
        y = self.net(x)  # (B, *spatial, C_out)
        return y.movedim(-1, 1)  # (B, C_out, *spatial)

    def forward_points(self, idx: torch.Tensor, shape) -> torch.Tensor:
        """The signal at flat cell indices `idx` ``(P,)`` of the grid `shape`: ``(P, C_out)``."""
        return self.net(cell_coords(idx, tuple(int(s) for s in shape)))

    def forward_coords(self, x: torch.Tensor) -> torch.Tensor:
        """The signal at points `x` ``(..., d)`` of [-1, 1]^d: ``(..., C_out)``."""
        return self.net(x)


# ---------------------------------------------------------------------------------------------- SIREN


class SineLayer(nn.Module):
    """sin(omega0 * (W x + b)) with SIREN's init (U(-1/n, 1/n) first, U(-sqrt(6/n)/omega0, +) after)."""

    def __init__(self, n_in: int, n_out: int, omega0: float, first: bool):
        super().__init__()
        self.omega0 = float(omega0)
        self.linear = nn.Linear(n_in, n_out)
        b = 1.0 / n_in if first else math.sqrt(6.0 / n_in) / self.omega0
        with torch.no_grad():
            self.linear.weight.uniform_(-b, b)  # the bias keeps PyTorch's U(-1/sqrt(n), 1/sqrt(n)), as SIREN's

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega0 * z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}"


def _linear_out(n_in: int, n_out: int, omega0: float) -> nn.Linear:
    """SIREN's last layer: linear, weights U(-sqrt(6/n)/omega0, +) like its hidden layers."""
    last = nn.Linear(n_in, n_out)
    b = math.sqrt(6.0 / n_in) / omega0
    with torch.no_grad():
        last.weight.uniform_(-b, b)
    return last


class SIREN(CoordinateMLP):
    """Sine MLP (Sitzmann et al. 2020); omega0 scales every sine layer (30 in the paper)."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 256, layers: int = 3, omega0: float = 30.0):
        super().__init__(in_features, out_features)
        body = hidden_stack(lambda a, b, i: SineLayer(a, b, omega0, first=i == 0), in_features, hidden, layers)
        self.net = nn.Sequential(*body, _linear_out(hidden, out_features, omega0))


# ---------------------------------------------------------------------------------------------- FINER


class FinerLayer(SineLayer):
    """sin(omega0 * s * z), s = |z| + 1: the local frequency grows with |z|, so larger biases pick higher ones.

    As in the official code, s is a constant for the gradient by default (``scale_grad=False``): the
    backward pass sees omega0 * s * cos(.) instead of the full derivative omega0 * (2|z| + 1) * cos(.).
    """

    def __init__(self, n_in: int, n_out: int, omega0: float, first: bool, first_bias: float | None = None,
                 scale_grad: bool = False):  # fmt: skip
        super().__init__(n_in, n_out, omega0, first)
        self.scale_grad = bool(scale_grad)
        if first and first_bias is not None:  # U(-k, k): a wider bias spreads the first layer over more frequencies
            with torch.no_grad():
                self.linear.bias.uniform_(-first_bias, first_bias)

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        scale = (z if self.scale_grad else z.detach()).abs() + 1.0
        return torch.sin(self.omega0 * scale * z)

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}, scale_grad={self.scale_grad}"


class FINER(CoordinateMLP):
    """Variable-periodic sine MLP (Liu et al. 2024): SIREN's weights, first-layer bias U(-first_bias, first_bias)
    when given (else PyTorch's), the scale |z| + 1 without gradient unless `scale_grad`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 256,
        layers: int = 3,
        omega0: float = 30.0,
        first_bias: float | None = None,
        scale_grad: bool = False,
    ):
        super().__init__(in_features, out_features)
        layer = lambda a, b, i: FinerLayer(a, b, omega0, first=i == 0, first_bias=first_bias, scale_grad=scale_grad)
        body = hidden_stack(layer, in_features, hidden, layers)
        self.net = nn.Sequential(*body, _linear_out(hidden, out_features, omega0))


# ----------------------------------------------------------------------------------------------- WIRE


class GaborLayer(nn.Module):
    """exp(j omega0 z - |s0 z|^2), z = W x + b; real weights for the first layer, torch.cfloat after it."""

    def __init__(self, n_in: int, n_out: int, omega0: float, s0: float, complex_weights: bool):
        super().__init__()
        self.omega0, self.s0 = float(omega0), float(s0)
        self.linear = _linear(n_in, n_out, torch.cfloat if complex_weights else torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x.to(self.linear.weight.dtype))  # real coordinates -> cfloat after the first layer
        return torch.exp(1j * self.omega0 * z - (self.s0 * z).abs().square())  # complex

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}, s0={self.s0}"


def _linear(n_in: int, n_out: int, dtype: torch.dtype) -> nn.Linear:
    """nn.Linear with PyTorch's default bound 1/sqrt(n_in), written out for the real and imaginary parts."""
    lin = nn.Linear(n_in, n_out, dtype=dtype)
    b = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        for p in (lin.weight, lin.bias):
            (torch.view_as_real(p) if p.is_complex() else p).uniform_(-b, b)
    return lin


class _ComplexToReal(nn.Module):
    """A complex Linear output layer whose real part is the signal."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.linear = _linear(n_in, n_out, torch.cfloat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).real


class WIRE(CoordinateMLP):
    """Complex Gabor wavelet MLP (Saragadam et al. 2023).

    Like the paper, the layers are int(hidden / sqrt(2)) wide: a complex weight holds two real numbers,
    so `hidden` means the same parameter budget as for the real-valued baselines (see `n_params`).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 256,
        layers: int = 3,
        omega0: float = 20.0,
        s0: float = 10.0,
    ):
        super().__init__(in_features, out_features)
        width = max(1, int(hidden / math.sqrt(2)))
        layer = lambda a, b, i: GaborLayer(a, b, omega0, s0, complex_weights=i > 0)
        body = hidden_stack(layer, in_features, width, layers)
        self.net = nn.Sequential(*body, _ComplexToReal(width, out_features))


# ---------------------------------------------------------------------------------------------- Gauss


class GaussLayer(nn.Module):
    """exp(-(scale * z)^2 / 2), a Gaussian bump of width sigma = 1/scale around z = 0."""

    def __init__(self, n_in: int, n_out: int, scale: float):
        super().__init__()
        self.scale = float(scale)
        self.linear = nn.Linear(n_in, n_out)  # PyTorch's default init, as the paper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (self.scale * self.linear(x)).square())

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class Gauss(CoordinateMLP):
    """Gaussian-activated MLP (Ramasinghe & Lucey 2022)."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 256, layers: int = 3, scale: float = 10.0):
        super().__init__(in_features, out_features)
        body = hidden_stack(lambda a, b, i: GaussLayer(a, b, scale), in_features, hidden, layers)
        self.net = nn.Sequential(*body, nn.Linear(hidden, out_features))


# ------------------------------------------------------------------------------------ Fourier features


class FourierFeatures(nn.Module):
    """gamma(v) = [cos(2 pi B v), sin(2 pi B v)] with a fixed B ~ N(0, sigma^2) of shape (frequencies, d).

    Tancik et al. sample coordinates in [0, 1]; ours span [-1, 1], so v is mapped to (x + 1) / 2 first and
    sigma keeps the paper's meaning (cycles per image side).
    """

    def __init__(self, in_features: int, frequencies: int, sigma: float, seed: int):
        super().__init__()
        g = torch.Generator(device="cpu").manual_seed(seed)
        B = torch.randn(frequencies, in_features, generator=g, device="cpu") * sigma  # (m, d)
        self.register_buffer("B", B)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        arg = 2 * math.pi * ((x + 1) / 2) @ self.B.T  # (..., d) -> (..., m)
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)  # (..., 2m)


class FFN(CoordinateMLP):
    """ReLU MLP on random Fourier features (Tancik et al. 2020); `seed` fixes B."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 256,
        layers: int = 3,
        sigma: float = 10.0,
        frequencies: int = 256,
        seed: int = 0,
    ):
        super().__init__(in_features, out_features)
        body = hidden_stack(lambda a, b, i: nn.Sequential(nn.Linear(a, b), nn.ReLU()), 2 * frequencies, hidden, layers)
        self.net = nn.Sequential(
            FourierFeatures(in_features, frequencies, sigma, seed), *body, nn.Linear(hidden, out_features)
        )  # linear out: targets may be signed


# ------------------------------------------------------------------------------------------- registry
# "Sweep" below: data/camera.png area-resized to 64x64 in [-1, 1], hidden 64, 3 layers, 300 full-grid Adam
# steps, seed 0 (a 2-core CPU cannot sweep 256x256 at width 256; the paper settings come first).

BASELINES: dict[str, dict] = {
    "siren": {
        "cls": SIREN,
        "lr": 1e-3,  # the harness's best: the sweep gave 53 dB at 1e-3 against 29 dB at 1e-4
        "paper_lr": 1e-4,  # SIREN's paper setting (BASELINE_SETTING = 'paper')
        "omega0": 30.0,  # SIREN's paper setting
    },
    "wire": {
        "cls": WIRE,
        "lr": 5e-3,  # WIRE's image scripts' setting; best of 1e-3, 5e-3, 2e-2 in the sweep
        "paper_lr": 5e-3,
        "omega0": 20.0,  # WIRE's image fitting setting
        "s0": 10.0,  # WIRE's image fitting setting
    },
    "gauss": {
        "cls": Gauss,
        "lr": 2e-3,  # top of the 1e-3..2e-3 WIRE's comparisons use; 2e-3 beat 1e-3 in the sweep
        "paper_lr": 2e-3,
        "scale": 10.0 * math.sqrt(2),  # exp(-(10 z)^2), the Gaussian of WIRE's comparisons (beat scale 5 and 10)
    },
    "ffn": {
        "cls": FFN,
        "lr": 1e-3,  # Tancik et al.'s Adam setting for 2D image regression
        "paper_lr": 1e-3,
        "sigma": 10.0,  # Tancik et al.'s best scale for natural images (coordinates in [0, 1])
        "frequencies": 256,  # Tancik et al.'s feature count (512 features after cos and sin)
    },
    "finer": {
        "cls": FINER,
        "lr": 5e-4,  # the official run_finer.sh's; sweep seeds 0/1/2: 52.6/56.1/54.8 dB (1e-3: 75.4/56.0/40.0, erratic)
        "paper_lr": 5e-4,
        "omega0": 30.0,  # FINER keeps SIREN's omega0
        "first_bias": None,  # first-layer bias U(-k, k) for a k; None: PyTorch's, as the official image scripts
        "scale_grad": False,  # the official default (scale_req_grad=False): |z| + 1 computed without gradient
    },
}


def _entry(name: str) -> dict:
    key = str(name).lower()
    if key not in BASELINES:
        raise UserError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    return BASELINES[key]


def build_baseline(name: str, dims: int, out_channels: int, hidden: int = 256, layers: int = 3, **overrides):
    """The baseline `name` for `dims`-d coordinates and `out_channels` outputs, with its registry defaults.

    `overrides` replace the model-specific defaults (omega0, s0, scale, sigma, frequencies, first_bias,
    scale_grad, seed).
    """
    entry = _entry(name)
    kwargs = {k: v for k, v in entry.items() if k not in ("cls", "lr", "paper_lr")}
    kwargs.update(overrides)
    return entry["cls"](dims, out_channels, hidden=hidden, layers=layers, **kwargs)


def default_lr(name: str, setting: str = "tuned") -> float:
    """The Adam learning rate of baseline `name`: 'tuned' (the best the harness knows) or 'paper'."""
    entry = _entry(name)
    return float(entry["paper_lr"] if setting == "paper" else entry["lr"])


SETTINGS = {  # header name: default
    "HIDDEN": 256,  # hidden width of the MLP
    "LAYERS": 3,  # hidden layers of the MLP
    "BASELINE_SETTING": "tuned",  # tuned (the best lr the harness knows) or paper (their paper's lr)
    "BASELINE_LR": 0.0,  # > 0 overrides the registry's lr
}


def builder(name: str):
    """The registry's build function of baseline `name` (width and depth from the header's HIDDEN, LAYERS)."""

    def build(cfg, dims, out_channels):
        s = settings(cfg, SETTINGS)
        return build_baseline(name, dims, out_channels, hidden=s["HIDDEN"], layers=s["LAYERS"])

    return build


def lr_picker(name: str):
    """The registry's learning rate of baseline `name`: a header's BASELINE_LR > 0, else BASELINE_SETTING's."""

    def pick(cfg):
        s = settings(cfg, SETTINGS)
        return float(s["BASELINE_LR"]) if s["BASELINE_LR"] > 0 else default_lr(name, s["BASELINE_SETTING"])

    return pick


def _count(name: str, dims: int, out_channels: int, hidden: int, layers: int) -> int:
    with torch.device("meta"):  # shapes only: no memory, no init cost
        return n_params(build_baseline(name, dims, out_channels, hidden=hidden, layers=layers))


def hidden_for_budget(name: str, dims: int, out_channels: int, layers: int, n_params: int) -> int:
    """The hidden width whose parameter count (real scalars) is closest to `n_params`."""
    _entry(name)
    count = lambda h: _count(name, dims, out_channels, h, layers)
    hi = 1
    while count(hi) < n_params:  # the count grows with the width: double, then bisect
        hi *= 2
    lo = max(1, hi // 2)
    while lo < hi:  # the smallest width whose count reaches the budget
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < n_params else (lo, mid)
    return min((h for h in (lo - 1, lo) if h >= 1), key=lambda h: abs(count(h) - n_params))
