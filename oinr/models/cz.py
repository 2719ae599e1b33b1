"""O-INR as a Calderon-Zygmund operator: a learned operator that acts in a wavelet basis.

O-INR maps an encoding function f to the signal h = T f with T f(w) = int K(w, w') f(w') dw'. The
conv O-INR takes K(w, w') = g(w - w'). A Calderon-Zygmund (CZ) kernel need not be translation
invariant; it is singular on the diagonal and smooth away from it:

    |K(x, y)| <= C / |x - y|^n,    |d_x K| + |d_y K| <= C / |x - y|^(n+1)      (x, y in R^n)

Beylkin, Coifman & Rokhlin ("Fast wavelet transforms and numerical algorithms I", Comm. Pure Appl.
Math. 44, 1991; BCR) show that such an operator is sparse in a wavelet basis: in the *non-standard
form* it is the set of level operators

    A_j = Q_j T Q_j,   B_j = Q_j T P_j,   G_j = P_j T Q_j    (j = 1..J),    T_J = P_J T P_J,

(P_j: projection on the approximation space V_j, Q_j: on the detail space W_j), and the entries of
A_j, B_j, G_j decay like 1 / (1 + |k - k'|)^(1+M) away from the diagonal for a wavelet with M
vanishing moments, so to a fixed precision each is a *banded* matrix; only the coarsest T_J is dense.
With the coefficients s_j = P_j f, d_j = Q_j f of the multilevel DWT, T f is evaluated as

    d^_j = A_j d_j + B_j s_j,    s^_j = G_j d_j,    u_J = T_J s_J,
    u_{j-1} = IDWT(u_j + s^_j, d^_j)   (j = J..1),    T f = u_0.

For vector-valued f (k channels) and T f (d channels) the kernel is a d x k matrix of such kernels and
A_j, B_j, G_j, T_J mix channels as well. This module learns that form, with nonlinearities between the
layers as in the multiwavelet neural operator (Gupta, Xiao & Bogdan, "Multiwavelet-based Operator
Learning for Differential Equations", NeurIPS 2021) and the BCR network of the original O-INR code:

* lift: the encoding ``(B, C_in, *shape)`` -> ``k`` latent channels per position: sin(lift_omega * (W e + b)),
  SIREN's first layer, which mixes the separable x and y channels into 2D functions before the DWT (the
  original follows a linear map with a ReLU). With ``lift_omega=0`` it is linear and commutes with the
  DWT: the encoding is transformed once per grid and cached, and each level's coefficients are lifted;
* decompose with a `levels`-level DWT (pytorch_wavelets DWTForward / DWT1DForward; `wavelet`, `mode`):
  s_j and d_j, S = 2 (1D) or 4 (2D: LL, LH, HL, HH) subbands per level, stacked as channels;
* level operators: at level j, `banded_layers` layers map the (channel, subband) stack to d x S channels
  with `band` taps per axis: banded in position, dense in channels and subbands, i.e. [A_j B_j; G_j *]
  with bandwidth `band` (the s -> s block, zero in the exact form, is left to learning as in the
  original). Each level's coefficient grid is cut into `blocks` tiles per axis, so that the operator is
  not translation invariant. ``sharing='tile'`` (the original's partial sharing, `Banded`): a kernel per
  tile and level (a locally connected layer shared inside tiles; a tile reads its neighbours'
  coefficients across its border, so it stays a band; one grouped convolution computes a layer).
  ``sharing='shared'`` (the default): one kernel per layer for every level, as the multiwavelet operator
  shares A, B, C across scales (for a homogeneous kernel such as the Hilbert transform's the non-standard
  form's level operators are one operator up to scale), and each level keeps a per-tile scale and shift
  of its channels (`LevelLayer`, `TileAffine`); ``sharing='level'``: a kernel per level, a per-tile scale
  and shift. At d = k = 16 and 4 x 4 tiles: 5.9M banded weights ('tile') against 94k ('shared');
* the coarsest level T_J, `dense_layers` layers: ``coarsest='dense'`` d x c matrices over all coarse
  positions (the original's; 2.1M weights on an 8 x 8 coarse grid), ``'mixer'`` (the default) a P x P
  matrix over the P coarse positions shared by the channels, then a 1 x 1 channel map (the dense form
  restricted to Kronecker products W_c (x) W_p: 8.7k weights), ``'conv'`` `band`-tap convolutions;
* reconstruction u_{j-1} = IDWT(u_j + s^_j, d^_j) (DWTInverse / DWT1DInverse), then a 1x1 conv d -> C_out.

With the identity's form (A_j = I, B_j = G_j = 0, T_J = I; `identity_`) and no activation,
``reconstruct(decompose(z)) == z``: tests/test_cz.py checks it for odd and non-square grids.

Grids. Every axis is padded at its end (`pad`: replicate, reflect, zeros or circular) to a multiple of
2^levels before the transform and the output cropped back; a level count is refused when the coarsest
level would hold fewer than half a filter length of samples on an axis (`max_levels`). ``flatten=True``
is the original's variant: the grid is flattened row-major to one sequence and transformed with 1D
wavelets. The coarsest level's dense and mixer matrices have one row and column per coarse position, so
like the original they are sized from the grid: they are created by the first `make_input(shape)` (or
forward, or a loaded state dict), and the model then serves grids of that coarse size only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oinr.encoding import encode_grid, n_channels
from oinr.models.header import header_kwargs

with warnings.catch_warnings():  # pytorch_wavelets 1.3.0 imports pkg_resources (deprecated in setuptools)
    warnings.simplefilter("ignore")
    import pywt
    from pytorch_wavelets import DWT1DForward, DWT1DInverse, DWTForward, DWTInverse

WAVE_MODES = ("periodization", "zero", "symmetric", "reflect", "periodic")
PAD_MODES = {"replicate": "replicate", "reflect": "reflect", "zeros": "constant", "circular": "circular"}
ACTIVATIONS = ("relu", "sine", "gelu", "none")
SHARING = ("tile", "level", "shared")  # a banded kernel per tile and level; per level; one for all levels
COARSEST = ("dense", "mixer", "conv")  # the coarsest level's operator T_J (see CZOINR)
EXAMPLE_WAVELETS = "haar, db2, db4, sym4, coif1, bior2.2"
_CONV = {1: F.conv1d, 2: F.conv2d}
_CONV_MODULE = {1: nn.Conv1d, 2: nn.Conv2d}


def check_wavelet(name: str) -> pywt.Wavelet:
    """The discrete wavelet `name`, or a ValueError that lists a few valid ones."""
    if name not in pywt.wavelist(kind="discrete"):
        raise ValueError(f"unknown wavelet {name!r}; discrete wavelets include {EXAMPLE_WAVELETS} (pywt.wavelist)")
    return pywt.Wavelet(name)


def max_levels(shape: Sequence[int], wavelet: str) -> int:
    """The most levels a grid of `shape` takes: every axis keeps >= half a filter length at the coarsest level."""
    need = max(1, math.ceil(check_wavelet(wavelet).dec_len / 2))  # coarse samples per axis
    return max(0, int(math.floor(math.log2(min(shape) / need))))


class Activation(nn.Module):
    """The nonlinearity between layers, by name (`ACTIVATIONS`)."""

    def __init__(self, name: str, omega: float = 1.0):
        super().__init__()
        if name not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
        self.name, self.omega = name, float(omega)

    def forward(self, x):
        if self.name == "relu":
            return F.relu(x)
        if self.name == "sine":
            return torch.sin(self.omega * x)
        if self.name == "gelu":
            return F.gelu(x)
        return x

    def extra_repr(self):
        return self.name


class Banded(nn.Module):
    """One partially shared banded layer on a level's coefficients: ``(B, c_in, *n)`` -> ``(B, c_out, *n)``.

    A convolution with `band` taps per axis ('same' zero padding at the grid's border) whose kernel is
    shared inside each of `blocks` tiles per axis: tile t has its own (c_out, c_in, band^dims) kernel.
    The tiles are cut out with a halo of band // 2 coefficients and stacked along the channels, so one
    grouped convolution (a group per tile) computes the layer.
    """

    def __init__(self, c_in: int, c_out: int, band: int, blocks: int, dims: int):
        super().__init__()
        if band < 1 or band % 2 == 0:
            raise ValueError(f"the band (kernel taps per axis) must be odd and positive, got {band}")
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        self.c_in, self.c_out, self.band, self.blocks, self.dims = c_in, c_out, band, blocks, dims
        tiles = blocks**dims
        self.weight = nn.Parameter(torch.empty(tiles * c_out, c_in, *[band] * dims))  # rows ordered (tile, out)
        self.bias = nn.Parameter(torch.zeros(tiles * c_out))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")  # He: fan_in = c_in * band^dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[0], tuple(x.shape[2:])
        r, nb, d = self.band // 2, self.blocks, self.dims
        if nb == 1:
            return _CONV[d](x, self.weight, self.bias, padding=r)
        t = [math.ceil(m / nb) for m in n]  # tile size per axis
        pad = []
        for m, ti in zip(reversed(n), reversed(t)):  # F.pad lists the last axis first
            pad += [r, r + nb * ti - m]  # halo before; fill to whole tiles, then halo, after
        x = F.pad(x, pad)  # (B, c_in, *(nb * t + 2r))
        for a, ti in enumerate(t):
            x = x.unfold(2 + a, ti + 2 * r, ti)  # tiles with halo along axis a
        # (B, c_in, nb.., t+2r..) -> (B, nb.., c_in, t+2r..) -> (B, tiles * c_in, t+2r..)
        x = x.permute(0, *range(2, 2 + d), 1, *range(2 + d, 2 + 2 * d))
        x = x.reshape(b, nb**d * self.c_in, *[ti + 2 * r for ti in t])
        y = _CONV[d](x, self.weight, self.bias, groups=nb**d)  # (B, tiles * c_out, *t)
        y = y.reshape(b, *[nb] * d, self.c_out, *t)  # (B, nb.., c_out, t..)
        # -> (B, c_out, nb_0, t_0, nb_1, t_1, ..) -> (B, c_out, nb_0 * t_0, ..)
        order = [0, 1 + d] + [i for a in range(d) for i in (1 + a, 2 + d + a)]
        y = y.permute(*order).reshape(b, self.c_out, *[nb * ti for ti in t])
        return y[(..., *[slice(0, m) for m in n])]


class TileAffine(nn.Module):
    """A per-tile scale and shift of a level's channels, ``(B, c, *n)`` -> ``(B, c, *n)``: the position dependence
    of a kernel that all tiles share. The tiles are cut as in `Banded` (ceil(n / blocks) coefficients each)."""

    def __init__(self, channels: int, blocks: int, dims: int):
        super().__init__()
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        self.blocks = blocks
        self.scale = nn.Parameter(torch.ones(channels, *[blocks] * dims))  # (c, blocks..)
        self.shift = nn.Parameter(torch.zeros(channels, *[blocks] * dims))  # (c, blocks..): the per-tile bias

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        n = y.shape[2:]
        scale, shift = self.scale, self.shift  # (c, blocks..)
        for a, m in enumerate(n):  # each tile's value repeated over its ceil(m / blocks) coefficients, cropped
            t = math.ceil(m / self.blocks)
            scale = scale.repeat_interleave(t, 1 + a).narrow(1 + a, 0, m)
            shift = shift.repeat_interleave(t, 1 + a).narrow(1 + a, 0, m)
        return y * scale + shift  # (c, *n) broadcast over the batch


class LevelLayer(nn.Module):
    """One banded layer of a level whose kernel every tile shares, ``(B, c_in, *n)`` -> ``(B, c_out, *n)``.

    A convolution with `band` taps per axis ('same' zero padding), then `TileAffine`. The kernel is the
    layer's own (``sharing='level'``), or passed to `forward` when every level shares it (``sharing='shared'``,
    as the multiwavelet operator of Gupta et al. shares A, B, C across scales): the per-level, per-tile
    scale and shift keep the operator level- and position-dependent at a fraction of `Banded`'s weights.
    """

    def __init__(self, c_in: int, c_out: int, band: int, blocks: int, dims: int, own_kernel: bool = True):
        super().__init__()
        if band < 1 or band % 2 == 0:
            raise ValueError(f"the band (kernel taps per axis) must be odd and positive, got {band}")
        self.band, self.dims = band, dims
        self.weight = nn.Parameter(level_kernel(c_in, c_out, band, dims)) if own_kernel else None
        self.affine = TileAffine(c_out, blocks, dims)

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        w = self.weight if weight is None else weight  # (c_out, c_in, band..)
        return self.affine(_CONV[self.dims](x, w, padding=self.band // 2))


def level_kernel(c_in: int, c_out: int, band: int, dims: int) -> torch.Tensor:
    """A He-initialised ``(c_out, c_in, band..)`` kernel (fan_in = c_in * band^dims), under sin(omega x) too: on
    the 256 px astronaut (100 steps, lift_omega 10, omega 3) SIREN's U(+-sqrt(6 / fan_in) / omega) fits 32.2 dB,
    He's 39.1 (its larger pre-activations start the sines at higher frequencies)."""
    w = torch.empty(c_out, c_in, *[band] * dims)
    return nn.init.kaiming_normal_(w, nonlinearity="relu")


class CZOINR(nn.Module):
    """O-INR with a learned Calderon-Zygmund operator in a wavelet basis (see the module docstring).

    Args:
        out_channels: channels of the signal.
        dims: spatial axes of the signal (1 or 2; with ``flatten=True`` any).
        octaves, noise_channels: the encoding this operator reads (see `oinr.encoding`).
        d: output rows of the operator matrix (latent channels before the projection to the signal).
        k: latent channels the encoding is lifted to (inputs of the operator matrix).
        wavelet: a pywt discrete wavelet name; mode: the DWT's boundary mode (`WAVE_MODES`).
        levels: wavelet levels; banded_layers: layers per level; dense_layers: coarsest-level layers.
        band: taps per axis of a banded layer (odd); blocks: tiles per axis (their own kernels, or their own
            scale and shift of a kernel they share).
        sharing: 'tile' (a `Banded` kernel per tile and level: the original's partial sharing), 'level' (one
            kernel per level, a per-tile scale and shift: `LevelLayer`) or 'shared' (one kernel per layer for
            every level, each level with its own per-tile scale and shift).
        coarsest: T_J as 'dense' (d x c x P x P matrices over channels and all P coarse positions: the
            original's), 'mixer' (a P x P matrix over positions shared by the channels, then a 1 x 1 channel
            map, per layer) or 'conv' (`band`-tap convolutions on the coarse grid).
        activation: sine, relu (the original's), gelu or none (a linear operator); omega for sine.
        lift_omega: the lift's sine frequency; 0: a linear lift (the original's, its DWT cached).
        pad: how the grid is padded to a multiple of 2^levels (`PAD_MODES`).
        flatten: transform the row-major flattened grid with 1D wavelets (the original's variant).
    """

    grid_bound = True  # make_input(shape) sizes the coarsest level for that shape

    def __init__(
        self,
        out_channels: int,
        dims: int = 2,
        octaves: int = 7,
        noise_channels: int = 0,
        d: int = 18,
        k: int = 18,
        wavelet: str = "db2",
        levels: int = 5,
        mode: str = "periodization",
        banded_layers: int = 2,
        dense_layers: int = 2,
        band: int = 3,
        blocks: int = 3,
        activation: str = "sine",
        omega: float = 3.0,
        pad: str = "replicate",
        flatten: bool = False,
        sharing: str = "shared",
        coarsest: str = "mixer",
        lift_omega: float = 5.0,
    ):
        super().__init__()
        check_wavelet(wavelet)
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if mode not in WAVE_MODES:
            raise ValueError(f"wavelet mode must be one of {', '.join(WAVE_MODES)}, got {mode!r}")
        if pad not in PAD_MODES:
            raise ValueError(f"pad must be one of {', '.join(PAD_MODES)}, got {pad!r}")
        if min(d, k) < 1 or banded_layers < 1 or dense_layers < 0:
            raise ValueError(f"need d, k, banded_layers >= 1 and dense_layers >= 0, got {d}, {k}, {banded_layers}, "
                             f"{dense_layers}")  # fmt: skip
        if sharing not in SHARING:
            raise ValueError(f"sharing must be one of {', '.join(SHARING)}, got {sharing!r}")
        if coarsest not in COARSEST:
            raise ValueError(f"coarsest must be one of {', '.join(COARSEST)}, got {coarsest!r}")
        if not flatten and dims not in (1, 2):
            raise ValueError(f"pytorch_wavelets has 1D and 2D transforms; a {dims}-d signal needs flatten=True")
        self.dims, self.octaves, self.noise_channels = dims, octaves, noise_channels
        self.d, self.k, self.levels, self.wavelet, self.pad, self.flatten = d, k, levels, wavelet, pad, flatten
        self.wdims = 1 if flatten else dims  # axes the wavelets run over
        self.subbands = 2**self.wdims  # approximation + detail bands per level
        self.act = Activation(activation, omega)
        c_in = n_channels(dims, octaves, noise_channels)
        self.lift_omega = float(lift_omega)
        self.lift = nn.Conv1d(c_in, k, 1, bias=self.lift_omega > 0)  # per position (see forward)
        if self.lift_omega > 0:  # SIREN's first layer: sin(lift_omega * (W e + b)), W ~ U(+-sqrt(6 / C_in))
            nn.init.uniform_(self.lift.weight, -math.sqrt(6 / c_in), math.sqrt(6 / c_in))
        self.project = nn.Conv1d(d, out_channels, 1)
        if self.wdims == 1:
            self.dwt, self.idwt = DWT1DForward(J=1, wave=wavelet, mode=mode), DWT1DInverse(wave=wavelet, mode=mode)
        else:
            self.dwt, self.idwt = DWTForward(J=1, wave=wavelet, mode=mode), DWTInverse(wave=wavelet, mode=mode)
        s, w = self.subbands, self.wdims
        self.sharing, self.coarsest = sharing, coarsest
        # level j: the first layer reads the k lifted channels' S subbands, the others the d channels'
        c_ins = [(k if i == 0 else d) * s for i in range(banded_layers)]
        self.shared = nn.ParameterList(  # the kernels every level shares (sharing='shared' only)
            nn.Parameter(level_kernel(c, d * s, band, w)) for c in (c_ins if sharing == "shared" else [])
        )
        if sharing == "tile":
            layer = lambda c: Banded(c, d * s, band, blocks, w)  # noqa: E731
        else:
            layer = lambda c: LevelLayer(c, d * s, band, blocks, w, own_kernel=sharing == "level")  # noqa: E731
        self.banded = nn.ModuleList(nn.ModuleList(layer(c) for c in c_ins) for _ in range(levels))
        self.n_dense = dense_layers
        # T_J: the grid-sized matrices ('dense': (d, c, P, P); 'mixer': (P, P)) are created for the coarse grid
        # by `materialize`; the mixer's channel maps and the convs are not sized by the grid
        self.dense = nn.ParameterList()
        c_coarse = [k if i == 0 else d for i in range(dense_layers if coarsest != "dense" else 0)]
        if coarsest == "mixer":
            self.coarse_maps = nn.ModuleList(nn.Conv1d(c, d, 1) for c in c_coarse)  # (B, c, P) -> (B, d, P)
        else:
            self.coarse_maps = nn.ModuleList(_CONV_MODULE[w](c, d, band, padding=band // 2) for c in c_coarse)
        self.coarse: tuple | None = None

    # ------------------------------------------------------------------------------------------ grids

    def _axes(self, shape) -> tuple:
        """The lengths the wavelets run over: the grid, or its flattened length."""
        return (math.prod(shape),) if self.flatten else tuple(shape)

    def padded_axes(self, axes) -> tuple:
        """Each wavelet axis padded to a multiple of 2^levels; a ValueError when the level count is too large."""
        top = max_levels(axes, self.wavelet)
        if self.levels > top:
            what = "flattened length" if self.flatten else "grid"
            raise ValueError(f"{self.levels} wavelet levels do not fit a {what} of {'x'.join(map(str, axes))} with "
                             f"{self.wavelet}; use --levels={top} or fewer (or a larger size)")  # fmt: skip
        m = 2**self.levels
        return tuple(math.ceil(n / m) * m for n in axes)

    def coarse_shape(self, shape) -> tuple:
        """The coarsest approximation's grid for a signal grid of `shape` (from a dry run of the transform)."""
        x = torch.zeros(1, 1, *self.padded_axes(self._axes(shape)))
        for _ in range(self.levels):
            x, _ = self.dwt(x)
        return tuple(x.shape[2:])

    def materialize(self, shape) -> None:
        """Create T_J's dense matrices for grids of `shape` (a no-op when they exist for this coarse size)."""
        coarse = self.coarse_shape(shape)
        have = self.coarse or (self.dense[0].shape[-1] if len(self.dense) else None)  # built, or loaded
        if have is not None:
            if (coarse if self.coarse else math.prod(coarse)) != have:
                raise ValueError(f"this CZ O-INR was built for a coarse grid of {have} positions; the grid "
                                 f"{tuple(shape)} gives {coarse} (its dense coarsest level fits one size)")  # fmt: skip
        else:
            self._make_dense(math.prod(coarse))
        self.coarse = coarse

    def _make_dense(self, p: int, empty: bool = False) -> None:
        if self.coarsest == "conv":
            return
        for i in range(self.n_dense):
            c_in = self.d if i else self.k
            if self.coarsest == "dense":
                w = torch.empty(self.d, c_in, p, p, device=self.lift.weight.device)  # (d, c_in, P_out, P_in)
                fan_in = c_in * p
            else:
                w = torch.empty(p, p, device=self.lift.weight.device)  # (P_out, P_in), shared by the channels
                fan_in = p
            if not empty:
                w.normal_(0, math.sqrt(2.0 / fan_in))  # He
            self.dense.append(nn.Parameter(w))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint's dense matrices give their coarse size; create them before the load fills them
        key = prefix + "dense.0"
        if not len(self.dense) and key in state_dict and self.n_dense:
            self._make_dense(state_dict[key].shape[-1], empty=True)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def make_input(self, shape) -> torch.Tensor:
        """The encoding grid ``(1, C_in, *shape)``; creates the coarsest level's matrices for this shape."""
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.dims:
            raise ValueError(f"this model reads {self.dims}-d grids, got shape {shape}")
        self.materialize(shape)
        dev = self.lift.weight.device
        return encode_grid(shape, self.octaves, noise_channels=self.noise_channels, device=dev).unsqueeze(0)

    @torch.no_grad()
    def identity_(self) -> CZOINR:
        """Set the level operators to the identity's non-standard form (A_j = I, B_j = G_j = 0, T_J = I).

        With ``activation='none'`` and d == k, `reconstruct(decompose(z))` then returns z.
        """
        if self.d != self.k:
            raise ValueError(f"the identity needs d == k, got d={self.d}, k={self.k}")
        if self.coarse is None:
            raise ValueError("the coarsest level is sized by the grid: call make_input(shape) first")
        s = self.subbands
        own = [layer.weight for level in self.banded for layer in level if layer.weight is not None]
        kernels = [*self.shared, *own]  # (c_out, c_in, band..) each; a tile's kernels stacked along c_out
        for weight in kernels:
            weight.zero_()
            w = weight.view(-1, self.d, s, self.d, s, *weight.shape[2:])  # (tiles, d, S, c, S, band..)
            centre = [weight.shape[-1] // 2] * (weight.ndim - 2)
            for c in range(self.d):
                for band in range(1, s):  # details pass, approximations are dropped
                    w[(slice(None), c, band, c, band, *centre)] = 1.0
        for level in self.banded:
            for layer in level:
                if isinstance(layer, Banded):
                    layer.bias.zero_()
                else:
                    layer.affine.scale.fill_(1.0)
                    layer.affine.shift.zero_()
        for w in self.dense:
            if w.ndim == 2:  # mixer: the positions' (P, P) matrix (its channel map below)
                w.copy_(torch.eye(w.shape[-1]))
                continue
            w.zero_()  # dense: (d, c, P, P)
            for c in range(self.d):
                w[c, c] = torch.eye(w.shape[-1])
        for conv in self.coarse_maps:  # the mixer's 1 x 1 channel maps or the coarse convs
            conv.weight.zero_()
            conv.bias.zero_()
            for c in range(self.d):
                conv.weight[(c, c, *[conv.weight.shape[-1] // 2] * (conv.weight.ndim - 2))] = 1.0
        return self

    # ------------------------------------------------------------------------------------------ forward

    def decompose(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The multilevel DWT of ``(B, c, *axes)`` (axes padded to 2^levels): per level ``(B, c, S, *n_j)``,
        subband 0 the approximation s_j, then the details d_j."""
        b, s, out = x.shape[0], self.subbands, []
        for _ in range(self.levels):
            x, hi = self.dwt(x)  # (B, c, *n_j), [(B, c, n_j) in 1D or (B, c, 3, *n_j) in 2D]
            hi = hi[0].reshape(b, x.shape[1], s - 1, *x.shape[2:])  # (B, c, S-1, *n_j)
            out.append(torch.cat([x[:, :, None], hi], 2))  # (B, c, S, *n_j)
        return out

    def reconstruct(self, coefs: list[torch.Tensor], axes) -> torch.Tensor:
        """The operator on the lifted coefficients (`decompose`'s layout, k channels) -> ``(B, d, *axes)``."""
        b, d, s = coefs[0].shape[0], self.d, self.subbands
        u = self.coarsest_level(coefs[-1][:, :, 0])  # (B, d, *n_J)
        for j in reversed(range(self.levels)):
            n = coefs[j].shape[3:]
            c = coefs[j].reshape(b, -1, *n)  # (B, c*S, *n)
            for i, layer in enumerate(self.banded[j]):
                c = self.act(layer(c, self.shared[i]) if len(self.shared) else layer(c))  # (B, d*S, *n)
            c = c.reshape(b, d, s, *n)
            lo = c[:, :, 0] + _fit_to(u, n)  # s^_j + u_j, (B, d, *n)
            hi = c[:, :, 1:] if self.wdims == 2 else c[:, :, 1]  # (B, d, 3, *n) or (B, d, n)
            u = self.idwt((lo, [hi]))  # (B, d, *2n)
        return _fit_to(u, axes)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c, *axes)`` padded at the end of each axis to ``(B, c, *padded_axes)`` (`pad`'s mode)."""
        axes = tuple(x.shape[2:])
        pad = [p for n, m in zip(reversed(axes), reversed(self.padded_axes(axes))) for p in (0, m - n)]
        return F.pad(x, pad, mode=PAD_MODES[self.pad]) if any(pad) else x

    def coarsest_level(self, coarse: torch.Tensor) -> torch.Tensor:
        """T_J on the coarsest approximation ``(B, k, *n_J)`` -> ``(B, d, *n_J)``."""
        if self.coarsest == "conv":
            for conv in self.coarse_maps:
                coarse = self.act(conv(coarse))  # (B, d, *n_J)
            return coarse
        b, n = coarse.shape[0], coarse.shape[2:]
        u = coarse.reshape(b, coarse.shape[1], -1)  # (B, k, P)
        for i, w in enumerate(self.dense):
            if self.coarsest == "dense":
                u = self.act(torch.einsum("dcqp,bcp->bdq", w, u))  # (B, d, P)
            else:
                u = self.act(self.coarse_maps[i](u @ w.T))  # positions, then channels: (B, d, P)
        return u.reshape(b, -1, *n)  # (B, d, *n_J)

    def _encoding_coefs(self, grid: torch.Tensor, axes) -> list[torch.Tensor]:
        """The DWT of the padded encoding grid; cached while the same grid tensor comes back unchanged
        (the fitting loop passes one grid every step), recomputed in the graph when it needs a gradient."""
        key = (grid, grid._version, tuple(axes))
        cache = getattr(self, "_cache", None)
        if not grid.requires_grad and cache is not None and cache[0] is key[0] and cache[1:3] == key[1:]:
            return cache[3]
        b, c = grid.shape[:2]
        x = grid.reshape(b, c, *axes)  # (B, C_in, *axes): the grid, or one flattened row-major sequence
        with torch.set_grad_enabled(grid.requires_grad and torch.is_grad_enabled()):
            coefs = self.decompose(self._pad(x))
        if not grid.requires_grad:
            self._cache = (*key, coefs)
        return coefs

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *shape)`` or ``(C_in, *shape)`` -> ``(B, C_out, *shape)``."""
        if grid.ndim == self.dims + 1:
            grid = grid.unsqueeze(0)  # (1, C_in, *shape)
        shape = tuple(grid.shape[2:])
        if len(shape) != self.dims:
            raise ValueError(f"expected a (B, C, *{self.dims} spatial) grid, got shape {tuple(grid.shape)}")
        if self.coarse is None:
            self.materialize(shape)
        b, axes = grid.shape[0], self._axes(shape)
        if self.lift_omega > 0:  # a sine lift: the lifted grid is transformed in the graph every step
            z = torch.sin(self.lift_omega * self.lift(grid.reshape(b, grid.shape[1], -1)))  # (B, k, prod(shape))
            coefs = self.decompose(self._pad(z.reshape(b, self.k, *axes)))  # (B, k, *axes) padded, transformed
        else:  # the lift is linear and per position, so it commutes with the DWT: lift the encoding's coefficients
            coefs = [self.lift(c.reshape(b, c.shape[1], -1)).reshape(b, self.k, *c.shape[2:])
                     for c in self._encoding_coefs(grid, axes)]  # fmt: skip
        u = self.reconstruct(coefs, self.padded_axes(axes))  # (B, d, *padded)
        u = u[(..., *[slice(0, n) for n in axes])].reshape(b, self.d, -1)  # (B, d, prod(shape))
        return self.project(u).reshape(b, -1, *shape)  # (B, C_out, *shape)


def _fit_to(x: torch.Tensor, n) -> torch.Tensor:
    """Crop (or zero-pad at the end) the trailing axes of `x` to `n`: the inverse DWT of a non-periodic
    mode returns up to one sample more than the level above held."""
    pad = []
    for have, want in zip(reversed(x.shape[-len(n) :]), reversed(tuple(n))):
        pad += [0, want - have]
    return F.pad(x, pad) if any(pad) else x


SETTINGS = {  # header name: default (see cz_operator/train.py for what each does)
    "OCTAVES": 7,
    "NOISE_CHANNELS": 0,
    "LATENT_D": 18,
    "LATENT_K": 18,
    "WAVELET": "db2",
    "LEVELS": 5,
    "WAVE_MODE": "periodization",
    "BANDED_LAYERS": 2,
    "DENSE_LAYERS": 2,
    "BAND": 3,
    "BLOCKS": 3,
    "ACTIVATION": "sine",
    "OMEGA": 1.0,  # the other operators' default of the shared name; cz_operator/train.py sets 3
    "PAD": "replicate",
    "FLATTEN": False,
    "SHARING": "shared",
    "COARSEST": "mixer",
    "LIFT_OMEGA": 5.0,
}


def build_cz(cfg: dict, dims: int, out_channels: int) -> CZOINR:
    """The CZ O-INR from a script header (names as in cz_operator/train.py)."""
    rename = {"LATENT_D": "d", "LATENT_K": "k", "WAVE_MODE": "mode"}
    return CZOINR(out_channels, dims, **header_kwargs(cfg, SETTINGS, rename))
