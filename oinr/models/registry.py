"""The one model registry: every model of the project is built by name from a script's header.

A model is anything with ``make_input(shape) -> grid`` and ``forward(grid) -> signal`` (``(B, C_out,
*shape)``), so the fitting loop, checkpoints, `oinr.fit.restore.load_run`, the report and the benchmarks
serve a new model without change. An entry gives

* ``build(cfg, dims, out_channels)``: the model, from the resolved header `cfg` (UPPER_CASE names;
  a name the script does not define falls back to the model's own default, its module's SETTINGS);
* ``lr(cfg)``: its Adam learning rate (O-INR's from the header's LR, a baseline's from its tuned
  registry value unless the header asks otherwise, see `oinr.models.baselines`);
* ``settings``: the header names the model reads, with their defaults;
* ``dims``: the spatial dimensions it supports; ``kind``: 'operator' (O-INR variants: a fixed
  positional encoding mapped by a learned operator) or 'baseline'.

Add a model: write its module (a class, ``SETTINGS``, a ``build_from_header``), then one row in `TABLE`.
This module imports the model modules; no model module imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from oinr.errors import UserError
from oinr.models import baselines, continuous, conv, cz, hashgrid, multiscale, sequence
from oinr.models.header import header_lr


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[[dict, int, int], nn.Module]  # (cfg, dims, out_channels) -> model
    lr: Callable[[dict], float]  # cfg -> Adam learning rate
    settings: dict = field(default_factory=dict)  # header name -> default, the names `build` reads
    dims: tuple = (1, 2, 3)  # supported numbers of spatial axes
    kind: str = "operator"  # operator (an O-INR) or baseline
    summary: str = ""  # one line for --help and the README


TABLE: dict[str, ModelEntry] = {
    "oinr": ModelEntry(conv.build_from_header, header_lr, conv.SETTINGS,
                       summary="conv + sine operator on a sin/cos encoding grid (the paper's)"),
    "multiscale": ModelEntry(multiscale.build_from_header, header_lr, multiscale.SETTINGS,
                             summary="coarse conv + sine operator, d-linear interpolation, pointwise sine head"),
    "frames": ModelEntry(sequence.build_from_header, header_lr, sequence.SETTINGS, dims=(2,),
                         summary="multiscale O-INR of one frame told which by a code of its position (sequences)"),
    "continuous": ModelEntry(continuous.build_from_header, header_lr, continuous.SETTINGS,
                             summary="continuous-kernel (ckconv) operator, resolution-free"),
    "cz": ModelEntry(cz.build_cz, header_lr, cz.SETTINGS,
                     summary="Calderon-Zygmund operator in a wavelet basis (banded level operators, dense coarsest)"),
    **{
        name: ModelEntry(baselines.builder(name), baselines.lr_picker(name), baselines.SETTINGS, kind="baseline",
                         summary=entry["cls"].__doc__.split(".")[0])
        for name, entry in baselines.BASELINES.items()
    },
    "hashgrid": ModelEntry(hashgrid.build_from_header, hashgrid.lr_from_header, hashgrid.SETTINGS, dims=(2, 3),
                           kind="baseline", summary="multiresolution hash encoding + small ReLU MLP (Instant-NGP)"),
}  # fmt: skip


def model_names(kind: str | None = None) -> list[str]:
    return [k for k, e in TABLE.items() if kind is None or e.kind == kind]


def get_entry(name: str) -> ModelEntry:
    entry = TABLE.get(str(name).lower())
    if entry is None:
        raise UserError(f"unknown model {name!r}; valid: {', '.join(model_names())}")
    return entry


def model_settings(unambiguous: bool = False) -> dict:
    """Every model setting of the registry, name -> default (the first model's default where several read it).

    `unambiguous`: only the names whose default is the same for every model that reads them.
    """
    out: dict = {}
    clash: set = set()
    for entry in TABLE.values():
        for k, v in entry.settings.items():
            if k in out and out[k] != v:
                clash.add(k)
            out.setdefault(k, v)
    return {k: v for k, v in out.items() if not (unambiguous and k in clash)}


def ignored_settings(cfg: dict, name: str | None = None) -> list[str]:
    """Model settings in `cfg` that model `name` (default ``cfg['MODEL']``) does not read, sorted."""
    reads = get_entry(name or cfg.get("MODEL") or "oinr").settings
    return sorted(k for k in model_settings() if k in cfg and k not in reads)


def build_model(cfg: dict, dims: int, out_channels: int, name: str | None = None) -> nn.Module:
    """The model `name` (default: ``cfg['MODEL']``, else 'oinr') for `dims` spatial axes, from header `cfg`.

    Settings a model cannot take (a bad width list, an even kernel, ...) are a one-line UserError.
    """
    name = str(name or cfg.get("MODEL") or "oinr").lower()
    entry = get_entry(name)
    if dims not in entry.dims:
        raise UserError(f"model {name!r} supports {', '.join(map(str, entry.dims))}-d signals, not {dims}-d")
    try:
        return entry.build(cfg, dims, out_channels)
    except (ValueError, TypeError) as e:
        raise UserError(f"cannot build model {name!r}: {e}") from None


def model_lr(cfg: dict, name: str | None = None) -> float:
    """The learning rate of model `name` (default ``cfg['MODEL']``) under header `cfg`."""
    return float(get_entry(name or cfg.get("MODEL") or "oinr").lr(cfg))
