"""A script header's model settings: each model module declares the names it reads, with defaults.

A model module keeps ``SETTINGS = {NAME: default}`` and its builder reads ``settings(cfg, SETTINGS)``:
the header's value where the script defines the name (and not as None), else the model's default. The
registry (`oinr.models.registry`) collects every module's SETTINGS, so a script whose header does not
carry a model's settings still takes them from the command line (``--hidden=128``), and a setting the
chosen model does not read is known (`oinr.models.registry.ignored_settings`).
"""

from __future__ import annotations


def settings(cfg: dict, defaults: dict) -> dict:
    """`defaults` with each name replaced by the header's value where `cfg` has one (not None)."""
    return {k: (d if cfg.get(k) is None else cfg[k]) for k, d in defaults.items()}


def header_kwargs(cfg: dict, defaults: dict, rename: dict | None = None) -> dict:
    """`settings` as keyword arguments: names lower-cased unless `rename` maps them; lists as tuples."""
    rename = rename or {}
    s = settings(cfg, defaults)
    return {rename.get(k, k.lower()): tuple(v) if isinstance(v, list) else v for k, v in s.items()}


def header_lr(cfg: dict) -> float:
    """The Adam learning rate of an operator: the header's LR."""
    return float(cfg.get("LR") or 1e-3)
