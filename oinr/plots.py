"""Figures every experiment shares, drawn from saved files (metrics.csv) and tensors."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _img(x) -> np.ndarray:
    a = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
    if a.ndim == 3:  # (C, H, W) -> (H, W[, C])
        a = np.moveaxis(a, 0, -1)
        a = a[..., 0] if a.shape[-1] == 1 else a
    return np.clip(a, 0, 1)


def save_figure(fig, out: Path, title: str = "", dpi: int = 110, fontsize: int = 11) -> Path:
    """The tail every figure shares: an optional suptitle, tight layout, save to `out`, close."""
    if title:
        fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def curves(metrics_csv: Path, out: Path, keys=("loss", "psnr"), title: str = "") -> Path:
    """Loss (log scale) and other metrics against step, one panel each, from a metrics.csv."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in keys if rows and k in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    steps = [float(r["step"]) for r in rows]
    for ax, k in zip(axes[0], keys):
        vals = [float(r[k]) if r[k] not in ("", "nan") else np.nan for r in rows]
        ax.plot(steps, vals)
        ax.set_xlabel("step")
        ax.set_ylabel(k + (" (dB)" if "psnr" in k else ""))
        if k == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    return save_figure(fig, out, title, fontsize=12)


def montage(images: dict, out: Path, title: str = "", error_of: tuple | None = None) -> Path:
    """A row of named images in [0, 1]; with ``error_of=(pred_name, target_name)`` an |error| map is added."""
    panels = list(images.items())
    n = len(panels) + (1 if error_of else 0)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.8), squeeze=False)
    for ax, (name, im) in zip(axes[0], panels):
        a = _img(im)
        ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    if error_of:
        err = np.abs(_img(images[error_of[0]]) - _img(images[error_of[1]]))
        err = err.mean(-1) if err.ndim == 3 else err
        ax = axes[0][-1]
        h = ax.imshow(err, cmap="magma", vmin=0, vmax=max(float(err.max()), 1e-6), interpolation="nearest")
        ax.set_title("|error|", fontsize=10)
        ax.axis("off")
        fig.colorbar(h, ax=ax, fraction=0.046, pad=0.04)
    return save_figure(fig, out, title)


def xy_plot(series: dict, out: Path, xlabel: str, ylabel: str, title: str = "") -> Path:
    """Lines of (x, y) lists by name, e.g. PSNR against wall time for several methods."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def image_grid(rows: dict, out: Path, col_titles: list | None = None, title: str = "") -> Path:
    """Rows of equally many images in [0, 1] (name -> list of (H, W[, C]) images), one panel each."""
    names = list(rows)
    cols = len(rows[names[0]])
    fig, axes = plt.subplots(len(names), cols, figsize=(1.6 * cols + 1.2, 1.8 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, im in enumerate(rows[name]):
            a, ax = _img(im), axes[r][c]
            ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0 and col_titles:
                ax.set_title(col_titles[c], fontsize=8)
    return save_figure(fig, out, title)


def strip(rows: dict, columns: list[str], out: Path, error_of: tuple | None = None, title: str = "") -> Path:
    """A grid of frames: one row per held-out frame (``rows[label] = {column: (C, H, W)}``), the given
    columns, and an |error| map of ``error_of = (prediction column, truth column)`` at the end."""
    ncol = len(columns) + (1 if error_of else 0)
    h, w = next(iter(next(iter(rows.values())).values())).shape[-2:]
    scale = 2.4 / max(h, w)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(ncol * w * scale + 0.6, len(rows) * h * scale + 0.5),
                             squeeze=False)  # fmt: skip
    for r, (label, panels) in enumerate(rows.items()):
        for c, name in enumerate(columns):
            a = _img(panels[name])
            axes[r][c].imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            axes[r][c].set_title(f"{name}" if r == 0 else "", fontsize=8)
        if error_of:
            err = np.abs(_img(panels[error_of[0]]) - _img(panels[error_of[1]]))
            err = err.mean(-1) if err.ndim == 3 else err
            axes[r][-1].imshow(err, cmap="magma", vmin=0, vmax=0.25, interpolation="nearest")
            axes[r][-1].set_title(f"|{error_of[0]} - {error_of[1]}| (0..0.25)" if r == 0 else "", fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, out, title, dpi=120, fontsize=9)


def derivative_figure(rows: dict, out, title: str = "") -> None:
    """One row per name: image, d/dx (across), d/dy (down), |grad|; `rows` maps name -> (img, d (2, C, H, W)).

    Derivative panels share one symmetric colour scale per column, from the first row's 99th percentile.
    """
    names = list(rows)
    fig, axes = plt.subplots(len(names), 4, figsize=(12.8, 3.3 * len(names)), squeeze=False)
    ref = rows[names[0]][1].mean(1)  # (2, H, W): channel mean
    lim = float(torch.quantile(ref.abs().flatten().float(), 0.99)) or 1e-6
    for r, name in enumerate(names):
        img, d = rows[name]
        d = d.mean(1)  # (2, H, W)
        grad = d.pow(2).sum(0).sqrt()
        panels = [(img.mean(0), "gray", 0, 1, "image"), (d[1], "RdBu_r", -lim, lim, "d/dx"),
                  (d[0], "RdBu_r", -lim, lim, "d/dy"), (grad, "magma", 0, 1.5 * lim, "|grad|")]  # fmt: skip
        for ax, (a, cmap, lo, hi, what) in zip(axes[r], panels):
            ax.imshow(a.numpy(), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(f"{name}: {what}", fontsize=9)
            ax.axis("off")
    save_figure(fig, out, title, dpi=100)
