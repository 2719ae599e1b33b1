"""Kernel networks: small networks that map a relative position to the values of a convolution kernel.

Every kernel network reads positions ``u`` of shape ``(P, dims)``, normalised to [-1, 1] per axis (the
kernel window's edges; see `ckconv.conv.CKConv`), and returns ``(P, out_features)`` kernel values, one
per (output channel, input channel) pair. Each keeps its output layer as ``self.last`` (an
``nn.Linear``) so that `CKConv` can set the kernel's scale at initialisation.

* ``'siren'`` (CKConv, Romero et al. 2022): Linear -> sin(omega0 .) stacks with SIREN's initialisation
  (first layer U(-1/dims, 1/dims), hidden layers U(-sqrt(6/hidden)/omega0, +)), so omega0 sets the
  bandwidth of the kernel: about omega0/dims radians per unit of u at initialisation.
* ``'mlp'``: Linear -> GELU stacks with PyTorch's initialisation; a smooth, low-bandwidth kernel
  (GELU rather than ReLU so the sampled kernel converges smoothly as the grid is refined).
* ``'gabor'`` (MAGNet, FlexConv, Romero et al. 2022): a multiplicative filter network over anisotropic
  Gabor filters, h_1 = g_1(u), h_{l+1} = (A_l h_l + a_l) * g_{l+1}(u), out = W h_L + b, with
  g_l(u) = exp(-1/2 sum_d (gamma_ld (u_d - mu_ld))^2) * sin(W_l u + b_l). Our initialisation:
  mu ~ U(-1, 1), the inverse widths gamma ~ Gamma(2, 1) per axis (envelopes of about half the window),
  the carrier frequencies W_l ~ U(-omega0, omega0) / sqrt(dims), phases b_l ~ U(-pi, pi).

``layers`` counts the linear layers including the output one (CKConv's "3-layer kernel network":
Linear-act-Linear-act-Linear); for 'gabor' it is the number of Gabor filters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

KERNEL_NETS = ("siren", "mlp", "gabor")


class SirenKernel(nn.Module):
    """Linear -> sin(omega0 .) x (layers - 1), then a linear output layer."""

    def __init__(self, dims: int, out_features: int, hidden: int = 32, layers: int = 3, omega0: float = 10.0):
        super().__init__()
        self.omega0 = float(omega0)
        sizes = [dims] + [hidden] * (layers - 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.last = nn.Linear(hidden, out_features)
        with torch.no_grad():
            for i, lin in enumerate(self.hidden):
                b = 1.0 / dims if i == 0 else math.sqrt(6.0 / hidden) / self.omega0
                lin.weight.uniform_(-b, b)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        h = u  # (P, dims)
        for lin in self.hidden:
            h = torch.sin(self.omega0 * lin(h))  # (P, hidden)
        return self.last(h)  # (P, out_features)


class MLPKernel(nn.Module):
    """Linear -> GELU x (layers - 1), then a linear output layer."""

    def __init__(self, dims: int, out_features: int, hidden: int = 32, layers: int = 3, omega0: float = 1.0):
        super().__init__()
        sizes = [dims] + [hidden] * (layers - 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.last = nn.Linear(hidden, out_features)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        h = u  # (P, dims)
        for lin in self.hidden:
            h = nn.functional.gelu(lin(h))  # (P, hidden)
        return self.last(h)  # (P, out_features)


class GaborKernel(nn.Module):
    """MAGNet: a multiplicative network of `layers` anisotropic Gabor filters (see the module docstring)."""

    def __init__(self, dims: int, out_features: int, hidden: int = 32, layers: int = 3, omega0: float = 10.0):
        super().__init__()
        self.carriers = nn.ModuleList(nn.Linear(dims, hidden) for _ in range(layers))  # W_l u + b_l
        self.mu = nn.Parameter(torch.empty(layers, hidden, dims).uniform_(-1.0, 1.0))
        self.gamma = nn.Parameter(torch.distributions.Gamma(2.0, 1.0).sample((layers, hidden, dims)))
        self.mix = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))  # A_l h + a_l
        self.last = nn.Linear(hidden, out_features)
        with torch.no_grad():
            for lin in self.carriers:
                lin.weight.uniform_(-omega0, omega0).div_(math.sqrt(dims))
                lin.bias.uniform_(-math.pi, math.pi)

    def filter(self, u: torch.Tensor, layer: int) -> torch.Tensor:
        z = self.gamma[layer] * (u[:, None, :] - self.mu[layer])  # (P, hidden, dims)
        return torch.exp(-0.5 * z.pow(2).sum(-1)) * torch.sin(self.carriers[layer](u))  # (P, hidden)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        h = self.filter(u, 0)  # (P, hidden)
        for layer, lin in enumerate(self.mix, start=1):
            h = lin(h) * self.filter(u, layer)  # (P, hidden)
        return self.last(h)  # (P, out_features)


def build_kernel_net(
    kind: str, dims: int, out_features: int, hidden: int = 32, layers: int = 3, omega0: float = 10.0
) -> nn.Module:
    """A kernel network by name: 'siren', 'mlp' (omega0 unused) or 'gabor'."""
    nets = {"siren": SirenKernel, "mlp": MLPKernel, "gabor": GaborKernel}
    if kind not in nets:
        raise ValueError(f"kernel_net must be one of {', '.join(KERNEL_NETS)}, got {kind!r}")
    if layers < 2 or hidden < 1:
        raise ValueError(f"a kernel network needs layers >= 2 and hidden >= 1, got layers={layers}, hidden={hidden}")
    return nets[kind](dims, out_features, hidden, layers, omega0)
