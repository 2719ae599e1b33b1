"""One entry point that builds O-INR or any baseline by name, with `make_input(shape)` on each."""

from __future__ import annotations

from .errors import UserError
from .operator import OINR


def model_names() -> list[str]:
    from .baselines import BASELINES

    return ["oinr", *BASELINES]


def build_model(name: str, dims: int, out_channels: int, oinr_kwargs: dict, baseline_kwargs: dict | None = None):
    """'oinr' -> `OINR(**oinr_kwargs)`; a baseline name -> `build_baseline(name, ...)`.

    `oinr_kwargs` holds octaves, widths, kernel_size, bias, omega, init; `baseline_kwargs` holds
    hidden, layers and any per-baseline override.
    """
    name = name.lower()
    if name == "oinr":
        try:
            return OINR(None, out_channels, dims=dims, **oinr_kwargs)
        except ValueError as e:
            raise UserError(str(e)) from None
    from .baselines import BASELINES, build_baseline

    if name not in BASELINES:
        raise UserError(f"unknown model {name!r}; valid: {', '.join(model_names())}")
    return build_baseline(name, dims, out_channels, **(baseline_kwargs or {}))


def default_lr(name: str, oinr_lr: float) -> float:
    """O-INR's rate comes from the script header; each baseline's from its tuned default."""
    if name.lower() == "oinr":
        return oinr_lr
    from .baselines import default_lr as baseline_lr

    return baseline_lr(name.lower())
