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

Fixed grids. Which table rows a point reads and with what weights depends on the point alone, so on a grid
that does not change they are computed once, as the O-INR's encoding grid is: `make_input(shape)` also
builds the interpolation of that grid as a sparse matrix (rows: point x level, 2^d weights each), and
`forward` on that very grid tensor is one sparse-dense product (forward and backward) and the MLP; the
cells of a grid trained on in batches (`forward_points`) get their table rows once per grid shape, on the
first call, and a batch gathers them. Equal to the lookups computed per call to float rounding (the sparse
sum adds the corners in another order, and corners that hash to one entry as one); a lookup larger than
LOOKUP_MAX_BYTES is not kept, and is then computed per call.
"""

from __future__ import annotations

import math
import warnings
from itertools import accumulate

import torch
import torch.nn.functional as F
from torch import nn

from oinr.encoding import cell_coords
from oinr.errors import UserError
from oinr.models.baselines import CoordinateMLP
from oinr.models.header import settings

PRIMES = (1, 2654435761, 805459861)  # the paper's pi_1, pi_2, pi_3
INIT_RANGE = 1e-4  # features start U(-1e-4, 1e-4)
MLP_WIDTH = 64  # two hidden ReLU layers of 64
LR = 1e-2  # the paper's Adam settings
ADAM_BETAS = (0.9, 0.99)
ADAM_EPS = 1e-15
LOOKUP_MAX_BYTES = 2**31  # largest precomputed lookup kept (256^2 grid, 16 levels: ~70 MB; 128^3 cells: 1 GiB)
MIN_TABLE = 256  # `size_for_budget`: fewer levels before a level's table drops below this many entries


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

    The forward is embedding_bag's fused weighted sum (about 5x faster on a CPU than a gather and a sum);
    its autograd backward sorts the indices first, so the backward here is one index_add_ per feature
    and keeps only idx and w (2-3x faster on a busy 2-core CPU for 16 levels on a 256^2 grid).
    """

    @staticmethod
    def forward(ctx, table, idx, w):  # (F, E), (P, K) long, (P, K) -> (P, F)
        ctx.save_for_backward(idx, w)
        ctx.entries = table.shape[1]
        return F.embedding_bag(idx, table.T.contiguous(), per_sample_weights=w, mode="sum")

    @staticmethod
    def backward(ctx, grad):  # (P, F) -> (F, E)
        idx, w = ctx.saved_tensors
        flat = idx.flatten()
        rows = [grad.new_zeros(ctx.entries).index_add_(0, flat, (g.unsqueeze(-1) * w).flatten()) for g in grad.T]
        return torch.stack(rows), None, None


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape: tuple) -> torch.Tensor:
    """A CSR matrix with int32 indices (built sorted and distinct per row, so its invariants are not re-checked)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow.int(), col.int(), values, shape, check_invariants=False)


class GridLookup:
    """The interpolation of a fixed set of P points as a sparse matrix: ``M (P * L, E)`` (row p * L + l: point
    p's 2^d corner weights at level l, CSR with int32 indices) and its transpose for the backward, built on
    the first backward (a forward-only use, a render, never pays for it)."""

    def __init__(self, idx: torch.Tensor, w: torch.Tensor, entries: int):  # (L, P, K) rows and weights
        levels, points, k = idx.shape
        self.points, self.levels, self.shape = points, levels, (points * levels, entries)
        # CSR wants each row's columns sorted and distinct: sort the K corners, then merge corners that hash to
        # one entry (their weights add); the keys row * E + column then ascend over the whole matrix
        cols, order = idx.permute(1, 0, 2).reshape(-1, k).sort(-1)  # (P * L, K)
        vals = w.permute(1, 0, 2).reshape(-1, k).gather(-1, order)  # (P * L, K)
        rows = torch.arange(points * levels, device=idx.device).unsqueeze(-1)  # (P * L, 1)
        keys, which = torch.unique_consecutive((rows * entries + cols).flatten(), return_inverse=True)  # (nnz,)
        merged = vals.new_zeros(len(keys)).index_add_(0, which, vals.flatten())
        crow = torch.zeros(points * levels + 1, dtype=torch.long, device=idx.device)
        crow[1:] = torch.bincount(keys // entries, minlength=points * levels).cumsum(0)
        self.m = _csr(crow, keys % entries, merged, self.shape)
        self._mt = None

    @property
    def mt(self) -> torch.Tensor:
        """M^T ``(E, P * L)``, CSR: the entries of M grouped by column (a stable sort keeps the rows ascending)."""
        if self._mt is None:
            crow, cols = self.m.crow_indices().long(), self.m.col_indices()
            rows = torch.repeat_interleave(torch.arange(len(crow) - 1, device=crow.device), crow.diff())  # (nnz,)
            order = torch.argsort(cols, stable=True)
            ccol = torch.zeros(self.shape[1] + 1, dtype=torch.long, device=crow.device)
            ccol[1:] = torch.bincount(cols.long(), minlength=self.shape[1]).cumsum(0)
            self._mt = _csr(ccol, rows[order], self.m.values()[order], self.shape[::-1])
        return self._mt

    @staticmethod
    def nbytes(points: int, levels: int, corners: int) -> int:
        """About the memory a lookup of `points` points keeps: M and M^T, int32 columns and the weights."""
        return 2 * points * levels * (corners * 8 + 4)


class _SparseInterpolate(torch.autograd.Function):
    """`_Interpolate` through a precomputed `GridLookup`: ``(F, E) -> (P * L, F)``, backward M^T @ grad."""

    @staticmethod
    def forward(ctx, table, lookup):
        ctx.lookup = lookup
        return lookup.m @ table.T.contiguous()  # (P * L, E) @ (E, F)

    @staticmethod
    def backward(ctx, grad):  # (P * L, F) -> (F, E)
        return (ctx.lookup.mt @ grad).T.contiguous(), None


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

    def cells(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Points ``(P, d)`` -> each level's cell ``(L, P, d)`` (its lower vertex, long) and the fraction in it."""
        u = ((x + 1) / 2).clamp(0, 1)  # (P, d) in the unit cube
        res = self.res.to(u.dtype)
        pos = u.unsqueeze(0) * res.view(-1, 1, 1)  # (L, P, d), vertex units of each level
        # the cell's lower vertex; u = 1 lies in the last cell (fraction 1), not past it
        cell = torch.minimum(pos.floor(), (res - 1).view(-1, 1, 1))
        return cell.long(), pos - cell  # fraction (L, P, d) in [0, 1]

    def weight_pairs(self, frac: torch.Tensor) -> list[torch.Tensor]:
        """Per axis k the weights ``(..., 2)`` of the cell's lower (1 - f) and upper (f) vertex."""
        return [torch.stack([1 - frac[..., k], frac[..., k]], -1) for k in range(self.dims)]

    def rows(self, cell: torch.Tensor) -> torch.Tensor:
        """Cells ``(L, P, d)`` -> the table rows ``(L, P, 2^d)`` of their corners (axis 0 slowest)."""
        nd = self.n_dense  # the dense levels come first: (N_l + 1)^d grows with l
        # per axis k the two values of the lower (0) and upper (1) vertex, combined over the axes into the 2^d
        # corners: dense row indices add, hashes XOR
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
        return torch.cat([dense, hashed]) + self.offset[:, None]  # (L, P, 2^d)

    def lookup(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Points ``(P, d)`` -> the table rows ``(L, P, 2^d)`` each reads at each level and their weights."""
        cell, frac = self.cells(x)
        return self.rows(cell), _corners(self.weight_pairs(frac), torch.mul)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        idx, w = self.lookup(x.reshape(-1, self.dims))  # (L, P, 2^d) each
        weights = w.flatten(0, 1).to(self.table.dtype)  # (L * P, 2^d)
        feats = _Interpolate.apply(self.table, idx.flatten(0, 1), weights)  # (L * P, F)
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
        self._grid = None  # (grid tensor, its version, GridLookup): the grid of the last make_input
        self._cells = None  # (shape, device, rows (cells, L, 2^d) int32, per-axis weight pairs): forward_points

    @property
    def encoding(self) -> HashEncoding:
        return self.net[0]

    def receptive_radius(self) -> int:
        """0: each output reads only its own coordinate (a tile needs no halo)."""
        return 0

    def __getstate__(self):  # copies and pickles leave the lookups behind (sparse tensors cannot be copied)
        return {**self.__dict__, "_grid": None, "_cells": None}

    @torch.no_grad()
    def make_input(self, shape) -> torch.Tensor:
        """The coordinate grid ``(1, d, *shape)``; `forward` on this tensor reads its precomputed `GridLookup`."""
        grid = super().make_input(shape)
        enc, points = self.encoding, grid[0].numel() // self.in_features
        self._grid = None  # one grid at a time: the fit's
        if GridLookup.nbytes(points, enc.levels, 2**self.in_features) <= LOOKUP_MAX_BYTES:
            idx, w = enc.lookup(grid.movedim(1, -1).reshape(-1, self.in_features))  # (L, P, 2^d) each
            self._grid = (grid, grid._version, GridLookup(idx, w.to(enc.table.dtype), enc.table.shape[1]))
        return grid

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        fixed, enc = self._grid, self.encoding
        if fixed is None or grid is not fixed[0] or grid._version != fixed[1] or grid.requires_grad:
            return super().forward(grid)  # another grid (or one changed in place): its lookup computed here
        lookup = fixed[2]
        if (lookup.m.dtype, lookup.m.device) != (enc.table.dtype, enc.table.device):  # the model moved since
            return super().forward(grid)
        feats = _SparseInterpolate.apply(enc.table, lookup).view(lookup.points, -1)  # (P * L, F) -> (P, L * F)
        y = self.net[1](feats)  # (P, C_out)
        return y.view(1, *grid.shape[2:], -1).movedim(-1, 1)  # (1, C_out, *shape)

    def forward_points(self, idx: torch.Tensor, shape) -> torch.Tensor:
        """The signal at flat cell indices `idx` ``(P,)`` of the grid `shape`: ``(P, C_out)``; each cell's table
        rows come from a per-grid lookup built on the first call (equal to the per-call lookup bit for bit)."""
        shape = tuple(int(s) for s in shape)
        cells = self._cell_lookup(shape, idx.device)
        if cells is None:
            return super().forward_points(idx, shape)
        enc, rows, pairs = self.encoding, cells[2], cells[3]
        axes, rest = [], idx
        for n in reversed(shape):  # row-major: the last axis varies fastest (as `cell_coords`)
            axes.append(rest % n)
            rest = rest // n
        w = _corners([p[a] for p, a in zip(pairs, reversed(axes))], torch.mul)  # (P, L, 2^d)
        weights = w.flatten(0, 1).to(enc.table.dtype)  # (P * L, 2^d)
        feats = _Interpolate.apply(enc.table, rows[idx].flatten(0, 1).long(), weights)  # (P * L, F)
        return self.net[1](feats.view(len(idx), -1))  # (P, L * F) -> (P, C_out)

    @torch.no_grad()
    def _cell_lookup(self, shape: tuple, device) -> tuple | None:
        """(shape, device, rows ``(cells, L, 2^d)`` int32, per-axis weight pairs ``(n_k, L, 2)``) of the grid
        `shape`, built once; None when the rows would take more than LOOKUP_MAX_BYTES."""
        if self._cells is not None and self._cells[:2] == (shape, device):
            return self._cells
        self._cells = None
        enc, k = self.encoding, 2**self.in_features
        n = math.prod(shape)
        if n * enc.levels * k * 4 > LOOKUP_MAX_BYTES:
            return None
        rows = torch.empty(n, enc.levels, k, dtype=torch.int32, device=device)
        chunk = max(1, 2**22 // (enc.levels * k))  # cells per chunk: the int64 intermediates stay small
        for lo in range(0, n, chunk):
            at = torch.arange(lo, min(lo + chunk, n), device=device)
            cell, _ = enc.cells(cell_coords(at, shape))  # (L, chunk, d)
            rows[lo : lo + len(at)] = enc.rows(cell).permute(1, 0, 2)  # (L, chunk, 2^d) -> (chunk, L, 2^d)
        pairs = []  # per axis: its coordinates as `cell_coords` gives them, so the weights are the per-call ones
        for a, m in enumerate(shape):
            at = torch.arange(m, device=device) * math.prod(shape[a + 1 :])  # cells along axis a, others at 0
            _, frac = enc.cells(cell_coords(at, shape))  # (L, m, d)
            pairs.append(enc.weight_pairs(frac)[a].transpose(0, 1))  # (L, m, 2) -> (m, L, 2)
        self._cells = (shape, device, rows, pairs)
        return self._cells


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


def mlp_params(out_channels: int, levels: int = 16, features: int = 2, hidden: int = MLP_WIDTH) -> int:
    """Trainable scalars of the MLP on L * F encoded features (two hidden layers of `hidden`)."""
    return (levels * features + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * out_channels


def size_for_budget(dims: int, out_channels: int, budget: int, levels: int = 16, features: int = 2,
                    min_res: int = 16, max_res: int = 512, hidden: int = MLP_WIDTH, tolerance: float = 0.05,
                    min_table: int = MIN_TABLE) -> tuple[int, int]:  # fmt: skip
    """(L, T) for a parameter budget, as a user sizes a hash grid: the most levels, at most `levels`, whose
    tables meet the budget with at least `min_table` entries each (fewer levels, not tables of a few entries).

    A UserError when the MLP alone would hold more than half the budget (the model is then an MLP with a
    garnish of features, not a hash grid), or when no level count meets the budget that way.
    """
    if mlp_params(out_channels, 1, features, hidden) > budget / 2:
        raise UserError(f"a hash grid of {budget} parameters would be mostly its MLP (at least "
                        f"{mlp_params(out_channels, 1, features, hidden)} parameters, more than half)")  # fmt: skip
    for n in range(int(levels), 0, -1):
        if mlp_params(out_channels, n, features, hidden) > budget / 2:
            continue
        try:
            t = table_size_for_budget(dims, out_channels, budget, n, features, min_res, max_res, hidden, tolerance)
        except UserError:
            continue
        if t >= min_table:
            return n, t
    raise UserError(f"no hash grid of 1..{levels} levels meets {budget} parameters with tables of at least "
                    f"{min_table} entries")  # fmt: skip


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
