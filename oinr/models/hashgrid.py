"""Multiresolution hash encoding + a small ReLU MLP: the hash-grid baseline, in pure PyTorch (CPU and GPU).

Müller, Evans, Schied, Keller, "Instant Neural Graphics Primitives with a Multiresolution Hash
Encoding", SIGGRAPH 2022 (ACM TOG 41(4)). The settings below are the paper's (its Table 1 and Sec. 3-4):

* L = 16 levels of F = 2 features; level l has resolution N_l = floor(N_min * b^l) with N_min = 16 and
  the growth factor b = exp((ln N_max - ln N_min) / (L - 1)), N_max the signal's longest side here.
* Each level stores at most T feature vectors. A level whose (N_l + 1)^d grid vertices fit in T is a
  dense grid (one entry per vertex, no collisions); a finer level hashes its vertex x to
  (x_1 * 1 XOR x_2 * 2654435761 XOR x_3 * 805459861) mod T, the products wrapping at 2^32 as the
  paper's uint32 arithmetic does. T = 2^log2_T in the headers (HASH_LOG2_T); `table_size_for_budget`
  returns any integer T, the paper's "mod T" with T free, so that a parameter budget can be met to
  within 5% (powers of two alone are up to 2x apart).
* A point's feature at each level is the d-linear interpolation of the 2^d vertices of its cell;
  the L levels are concatenated (L * F values) and mapped by an MLP with two hidden ReLU layers of 64.
* Features start U(-1e-4, 1e-4); Adam with lr 1e-2, betas (0.9, 0.99), eps 1e-15 (`adam_betas` and
  `adam_eps` below; the lr is the registry entry's). Left out: the paper's 1e-6 L2 weight decay on the
  MLP weights and its skipping of Adam updates for entries with an exactly zero gradient (a full-grid
  fit touches every entry), and tiny-cuda-nn's rounding of each level's size up to a multiple of 8.

The model keeps the project's interface (see `oinr.models.baselines.CoordinateMLP`): `make_input(shape)` is
the coordinate grid ``(1, d, *shape)`` in [-1, 1], mapped to the unit cube as u = (x + 1) / 2, and
`forward` maps ``(B, d, *shape)`` to ``(B, C_out, *shape)``. Its receptive radius is 0 (every output
depends on its own coordinate only), so a volume is tiled with no halo (`oinr.data.tiling`).
"""

from __future__ import annotations

import math
from itertools import accumulate

import torch
from torch import nn

from oinr.errors import UserError
from oinr.models.baselines import CoordinateMLP
from oinr.models.header import settings

PRIMES = (1, 2654435761, 805459861)  # the paper's pi_1, pi_2, pi_3
INIT_RANGE = 1e-4  # features start U(-1e-4, 1e-4)
MLP_WIDTH = 64  # two hidden ReLU layers of 64
LR = 1e-2  # the paper's Adam settings
ADAM_BETAS = (0.9, 0.99)
ADAM_EPS = 1e-15


def level_resolutions(levels: int, min_res: int, max_res: int) -> list[int]:
    """N_l = floor(N_min * b^l), b = exp((ln N_max - ln N_min) / (L - 1)); the last level is N_max."""
    if levels == 1:
        return [int(min_res)]
    growth = math.exp((math.log(max_res) - math.log(min_res)) / (levels - 1))
    return [math.floor(min_res * growth**lvl + 1e-9) for lvl in range(levels)]  # 1e-9: b^(L-1) may round below


def _check(dims: int, levels: int, features: int, table_size: int, min_res: int, max_res: int) -> None:
    if dims not in (1, 2, 3):
        raise ValueError(f"the hash grid takes 1-, 2- or 3-d coordinates, got {dims}")
    for name, v in (("levels", levels), ("features per level", features), ("table size", table_size)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if int(min_res) != min_res or min_res < 1:
        raise ValueError(f"the coarsest resolution must be a positive int, got {min_res!r}")
    if max_res < min_res:
        raise ValueError(f"the finest resolution {max_res} is below the coarsest {min_res}; lower --hash_min_res")


def level_sizes(dims: int, levels: int, table_size: int, min_res: int, max_res: int) -> list[tuple[int, bool]]:
    """(entries, dense) per level: min(T, (N_l + 1)^d) entries, dense when the whole vertex grid fits."""
    out = []
    for n in level_resolutions(levels, min_res, max_res):
        vertices = (n + 1) ** dims
        out.append((min(table_size, vertices), vertices <= table_size))
    return out


def _corners(parts: list, op) -> torch.Tensor:
    """Combine per-axis pairs ``(..., 2)`` into the 2^d cell corners ``(..., 2^d)``, axis 0 slowest."""
    out = parts[0]
    for p in parts[1:]:
        out = op(out.unsqueeze(-1), p.unsqueeze(-2)).flatten(-2)  # (..., 2^k, 2) -> (..., 2^(k+1))
    return out


class _Interpolate(torch.autograd.Function):
    """out[p, f] = sum_c w[p, c] * table[f, idx[p, c]]: the d-linear interpolation, with a scatter-add backward.

    The same as ``(table.T[idx] * w[..., None]).sum(-2)``, whose autograd backward (and embedding_bag's)
    sorts the indices first; one 1-d gather and one index_add_ per feature do not, and keep only idx and
    w for the backward (2-3x faster on a busy 2-core CPU for 16 levels on a 256^2 grid).
    """

    @staticmethod
    def forward(ctx, table, idx, w):  # (F, E), (P, K) long, (P, K) -> (P, F)
        ctx.save_for_backward(idx, w)
        ctx.entries = table.shape[1]
        return torch.stack([(row[idx] * w).sum(-1) for row in table], -1)

    @staticmethod
    def backward(ctx, grad):  # (P, F) -> (F, E)
        idx, w = ctx.saved_tensors
        flat = idx.flatten()
        rows = [grad.new_zeros(ctx.entries).index_add_(0, flat, (g.unsqueeze(-1) * w).flatten()) for g in grad.T]
        return torch.stack(rows), None, None


class HashEncoding(nn.Module):
    """Points ``(..., d)`` in [-1, 1] -> ``(..., L * F)``: the d-linearly interpolated features of every level."""

    def __init__(self, dims: int, levels: int = 16, features: int = 2, table_size: int = 2**19, min_res: int = 16,
                 max_res: int = 512):  # fmt: skip
        super().__init__()
        _check(dims, levels, features, table_size, min_res, max_res)
        self.dims, self.levels, self.features, self.table_size = dims, levels, features, int(table_size)
        res = level_resolutions(levels, min_res, max_res)
        sizes = level_sizes(dims, levels, self.table_size, min_res, max_res)
        entries = [s for s, _ in sizes]
        offsets = [0, *accumulate(entries)][:-1]
        # (F, E): feature f of entry e; levels are consecutive column blocks (`level_slice`)
        self.table = nn.Parameter(torch.empty(features, sum(entries)).uniform_(-INIT_RANGE, INIT_RANGE))
        # dense strides: row-major over (N_l + 1)^d vertices, the last axis fastest
        strides = [[(n + 1) ** (dims - 1 - k) for k in range(dims)] for n in res]
        self.register_buffer("res", torch.tensor(res, dtype=torch.float64), persistent=False)  # (L,)
        self.register_buffer("size", torch.tensor(entries).view(-1, 1), persistent=False)  # (L, 1)
        self.register_buffer("offset", torch.tensor(offsets).view(-1, 1), persistent=False)  # (L, 1)
        self.register_buffer("strides", torch.tensor(strides), persistent=False)  # (L, d)
        self.resolutions, self.level_entries = res, entries
        self.n_dense = sum(d for _, d in sizes)

    def level_slice(self, level: int) -> slice:
        """The columns of `table` that hold level `level`."""
        start = int(self.offset[level])
        return slice(start, start + self.level_entries[level])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        u = ((x.reshape(-1, self.dims) + 1) / 2).clamp(0, 1)  # (P, d) in the unit cube
        res = self.res.to(u.dtype)
        pos = u.unsqueeze(0) * res.view(-1, 1, 1)  # (L, P, d), vertex units of each level
        # the cell's lower vertex; u = 1 lies in the last cell (fraction 1), not past it
        cell = torch.minimum(pos.floor(), (res - 1).view(-1, 1, 1))
        frac = pos - cell  # (L, P, d) in [0, 1]
        cell = cell.long()
        nd = self.n_dense  # the dense levels come first: (N_l + 1)^d grows with l
        # per axis k the two values of the cell's lower (0) and upper (1) vertex, combined over the axes into
        # the 2^d corners (axis 0 slowest): weights multiply, dense row indices add, hashes XOR
        w = _corners([torch.stack([1 - frac[..., k], frac[..., k]], -1) for k in range(self.dims)], torch.mul)
        dense = _corners(
            [
                torch.stack([cell[:nd, :, k], cell[:nd, :, k] + 1], -1) * self.strides[:nd, k, None, None]
                for k in range(self.dims)
            ],
            torch.add,
        )  # (nd, P, 2^d)
        hashed = _corners(
            [torch.stack([cell[nd:, :, k], cell[nd:, :, k] + 1], -1) * PRIMES[k] for k in range(self.dims)],
            torch.bitwise_xor,
        )  # (L - nd, P, 2^d)
        hashed = (hashed & 0xFFFFFFFF) % self.size[nd:, None]  # uint32 wrap, then mod T
        idx = (torch.cat([dense, hashed]) + self.offset[:, None]).flatten(0, 1)  # (L * P, 2^d) rows of the table
        weights = w.flatten(0, 1).to(self.table.dtype)  # (L * P, 2^d)
        feats = _Interpolate.apply(self.table, idx, weights)  # (L * P, F)
        feats = feats.view(self.levels, -1, self.features).transpose(0, 1)  # (P, L, F)
        return feats.reshape(*lead, self.levels * self.features)  # (..., L * F)

    def extra_repr(self) -> str:
        return (f"levels={self.levels}, features={self.features}, T={self.table_size}, "
                f"resolutions={self.resolutions[0]}..{self.resolutions[-1]}, dense levels={self.n_dense}")  # fmt: skip


class HashGrid(CoordinateMLP):
    """Multiresolution hash encoding + 64-wide two-hidden-layer ReLU MLP (Müller et al. 2022)."""

    adam_betas, adam_eps = ADAM_BETAS, ADAM_EPS  # the paper's Adam; oinr.fit.experiment.fit_config reads them

    def __init__(self, in_features: int, out_features: int, levels: int = 16, features: int = 2,
                 table_size: int = 2**19, min_res: int = 16, max_res: int = 512, hidden: int = MLP_WIDTH):  # fmt: skip
        super().__init__(in_features, out_features)
        enc = HashEncoding(in_features, levels, features, table_size, min_res, max_res)
        mlp = nn.Sequential(
            nn.Linear(levels * features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_features),
        )  # a linear output: the targets are signed
        self.net = nn.Sequential(enc, mlp)

    @property
    def encoding(self) -> HashEncoding:
        return self.net[0]

    def receptive_radius(self) -> int:
        """0: each output reads only its own coordinate (a tile needs no halo)."""
        return 0


# ------------------------------------------------------------------------------------------------ sizing


def count_params(dims: int, out_channels: int, table_size: int, levels: int = 16, features: int = 2,
                 min_res: int = 16, max_res: int = 512, hidden: int = MLP_WIDTH) -> int:  # fmt: skip
    """Trainable scalars of a HashGrid, without building it: the tables plus the MLP."""
    _check(dims, levels, features, table_size, min_res, max_res)
    tables = features * sum(s for s, _ in level_sizes(dims, levels, table_size, min_res, max_res))
    mlp = (levels * features + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * out_channels
    return tables + mlp


def table_size_for_budget(dims: int, out_channels: int, budget: int, levels: int = 16, features: int = 2,
                          min_res: int = 16, max_res: int = 512, hidden: int = MLP_WIDTH,
                          tolerance: float = 0.05) -> int:  # fmt: skip
    """The table size T (entries per level, any int >= 1) whose parameter count is closest to `budget`.

    A UserError when no T lands within `tolerance` of it: below the fixed part (the MLP and one entry
    per level) or above the count at which every level is dense (a larger T adds nothing).
    """
    count = lambda t: count_params(dims, out_channels, t, levels, features, min_res, max_res, hidden)
    full = max((n + 1) ** dims for n in level_resolutions(levels, min_res, max_res))  # T at which all are dense
    lo_count, hi_count = count(1), count(full)
    what = f"a {dims}-d hash grid ({levels} levels x {features} features, N {min_res}..{max_res}, MLP {hidden})"
    if budget * (1 + tolerance) < lo_count:
        smallest = math.ceil(lo_count / (1 + tolerance))
        raise UserError(f"{what} cannot meet a budget of {budget} parameters: the smallest it can meet is "
                        f"{smallest} (its MLP and one table entry per level)")  # fmt: skip
    if budget * (1 - tolerance) > hi_count:
        largest = math.floor(hi_count / (1 - tolerance))
        raise UserError(f"{what} cannot meet a budget of {budget} parameters: the largest it can meet is "
                        f"{largest} (every level dense)")  # fmt: skip
    lo, hi = 1, full
    while lo < hi:  # the smallest T whose count reaches the budget (the count never falls as T grows)
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < budget else (lo, mid)
    return min((t for t in (lo - 1, lo) if t >= 1), key=lambda t: abs(count(t) - budget))


# ----------------------------------------------------------------------------------------------- registry


SETTINGS = {  # header name: default
    "HASH_LEVELS": 16,  # resolution levels L (Instant-NGP: 16)
    "HASH_FEATURES": 2,  # features per level F (Instant-NGP: 2)
    "HASH_LOG2_T": 14,  # T = 2^this entries per level (Instant-NGP: 14..24; 14: 234,543 params at 256 px gray)
    "HASH_MIN_RES": 16,  # coarsest grid resolution N_min (Instant-NGP: 16)
    "HASH_MAX_RES": 0,  # finest grid resolution N_max; 0: the signal's longest side (the header's SIZE, RESOLUTION)
    "BASELINE_LR": 0.0,  # > 0 overrides the paper's learning rate
}


def max_res_from(cfg: dict, dims: int) -> int:
    """N_max: HASH_MAX_RES when set, else the signal's longest side as the header gives it (SIZE, RESOLUTION)."""
    n = settings(cfg, SETTINGS)["HASH_MAX_RES"]
    if n:
        return int(n)
    side = cfg.get("SIZE" if dims == 2 else "RESOLUTION") or 0
    side = max(side) if isinstance(side, (tuple, list)) else side
    if not side:
        raise ValueError("set --hash_max_res (the finest grid resolution, e.g. the signal's longest side)")
    return int(side)


def build_from_header(cfg: dict, dims: int, out_channels: int) -> HashGrid:
    s = settings(cfg, SETTINGS)
    log2_t, levels = s["HASH_LOG2_T"], s["HASH_LEVELS"]
    if int(log2_t) != log2_t or not 0 <= log2_t <= 30:
        raise ValueError(f"--hash_log2_t must be an int in 0..30 (T = 2^it entries per level), got {log2_t}")
    if int(levels) != levels or levels < 1:
        raise ValueError(f"--hash_levels must be an int >= 1, got {levels}")
    return HashGrid(dims, out_channels, levels=levels, features=s["HASH_FEATURES"], table_size=2 ** int(log2_t),
                    min_res=s["HASH_MIN_RES"], max_res=max_res_from(cfg, dims))  # fmt: skip


def lr_from_header(cfg: dict) -> float:
    fixed = settings(cfg, SETTINGS)["BASELINE_LR"]  # a header's BASELINE_LR > 0 wins, as for the other baselines
    return float(fixed) if fixed > 0 else LR
