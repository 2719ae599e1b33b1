"""The one model registry: every model of the project is built by name from a script's header.

A model is anything with ``make_input(shape) -> grid`` and ``forward(grid) -> signal`` (``(B, C_out,
*shape)``), so the fitting loop, checkpoints, `oinr.restore.load_run`, the report and the benchmarks
serve a new model without change. An entry gives

* ``build(cfg, dims, out_channels)``: the model, from the resolved header `cfg` (UPPER_CASE names;
  a name the script does not define falls back to the model's own default, see `setting`);
* ``lr(cfg)``: its Adam learning rate (O-INR's from the header's LR, a baseline's from its tuned
  registry value unless the header asks otherwise, see `oinr.baselines`);
* ``dims``: the spatial dimensions it supports; ``kind``: 'operator' (O-INR variants: a fixed
  positional encoding mapped by a learned operator) or 'baseline'.

Add a model with `register(name, ModelEntry(...))` from the module that defines it and one line in
`_load_plugins` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .errors import UserError


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[[dict, int, int], nn.Module]  # (cfg, dims, out_channels) -> model
    lr: Callable[[dict], float]  # cfg -> Adam learning rate
    dims: tuple = (1, 2, 3)  # supported numbers of spatial axes
    kind: str = "operator"  # operator (an O-INR) or baseline
    summary: str = ""  # one line for --help and the README


REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, entry: ModelEntry) -> None:
    REGISTRY[name.lower()] = entry


def setting(cfg: dict, name: str, default):
    """Header value `name` of `cfg`, or `default` where the script has no such constant (or sets it to None)."""
    v = cfg.get(name)
    return default if v is None else v


def model_names(kind: str | None = None) -> list[str]:
    _load_plugins()
    return [k for k, e in REGISTRY.items() if kind is None or e.kind == kind]


def get_entry(name: str) -> ModelEntry:
    _load_plugins()
    entry = REGISTRY.get(str(name).lower())
    if entry is None:
        raise UserError(f"unknown model {name!r}; valid: {', '.join(model_names())}")
    return entry


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


# ------------------------------------------------------------------------------------------------ entries


def _build_oinr(cfg: dict, dims: int, out_channels: int) -> nn.Module:
    from .operator import OINR

    return OINR(
        None,
        out_channels,
        dims=dims,
        widths=tuple(setting(cfg, "WIDTHS", (64, 128, 128, 64))),
        kernel_size=setting(cfg, "KERNEL", 3),
        first_kernel_size=cfg.get("FIRST_KERNEL"),
        bias=setting(cfg, "BIAS", False),
        omega=setting(cfg, "OMEGA", 1.0),
        first_omega=cfg.get("FIRST_OMEGA"),
        init=setting(cfg, "INIT", "sine"),
        octaves=setting(cfg, "OCTAVES", 6),
        noise_channels=setting(cfg, "NOISE_CHANNELS", 0),
        offsets=bool(setting(cfg, "SIGNAL_OFFSETS", False)),
    )


def _build_continuous(cfg: dict, dims: int, out_channels: int) -> nn.Module:
    from .continuous import ContinuousOINR

    use_fft = {"auto": None, "fft": True, "direct": False}.get(setting(cfg, "USE_FFT", "auto"))
    return ContinuousOINR(
        out_channels,
        dims,
        octaves=setting(cfg, "OCTAVES", 5),
        widths=tuple(setting(cfg, "WIDTHS", (32, 32, 32))),
        kernel_extent=setting(cfg, "KERNEL_EXTENT", 0.25),
        omega=setting(cfg, "OMEGA", 1.0),
        first_omega=cfg.get("FIRST_OMEGA"),
        kernel_net=setting(cfg, "KERNEL_NET", "siren"),
        hidden=setting(cfg, "KERNEL_HIDDEN", 32),
        layers=setting(cfg, "KERNEL_LAYERS", 3),
        omega0=setting(cfg, "OMEGA0", 10.0),
        window=setting(cfg, "WINDOW", "hann"),
        bias=setting(cfg, "BIAS", True),
        use_fft=use_fft,
        dirac=setting(cfg, "DIRAC", True),
        init_resolution=setting(cfg, "INIT_RESOLUTION", 64),
    )


def _header_lr(cfg: dict) -> float:
    return float(setting(cfg, "LR", 1e-3))


register("oinr", ModelEntry(_build_oinr, _header_lr, summary="conv + sine operator on a sin/cos encoding grid"))
register(
    "continuous",
    ModelEntry(_build_continuous, _header_lr, summary="continuous-kernel (ckconv) operator, resolution-free"),
)

_PLUGINS_LOADED = False


def _load_plugins() -> None:
    """Import the modules that register further models (lazily: they import this module)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from . import baselines, cz, hashgrid, multiscale  # noqa: F401  (siren, wire, gauss, ffn, finer; cz; hashgrid)
