"""Classifiers of fitted representations, on weight vectors and on pixels alike: kNN and an MLP.

The weight-space protocol of Pal et al. (ICML 2024) is a k-nearest-neighbour classifier (scikit-learn,
Euclidean, k = the number of classes) on the flattened weights; beside it a small MLP on per-feature
standardised inputs. downstream/weight_space/classify.py and selection.py and bench/weight_space_knn.py call
these; every statistic comes from the training rows only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class MLPConfig:
    """The MLP classifier's settings (classify.py's header: HIDDEN, DROPOUT, EPOCHS, LR, WEIGHT_DECAY, BATCH)."""

    hidden: tuple = (512, 512)  # hidden widths
    dropout: float = 0.3  # after each hidden layer
    epochs: int = 40  # passes over the training rows
    lr: float = 1e-3  # AdamW peak learning rate (one-cycle schedule)
    weight_decay: float = 1e-4
    batch: int = 256
    seed: int = 0  # the classifier's init, dropout and batch order

    @classmethod
    def from_header(cls, cfg: dict, **changes) -> MLPConfig:
        """The settings of a header that names them (classify.py's), with `changes` (e.g. ``seed=1``)."""
        keys = {"hidden": "HIDDEN", "dropout": "DROPOUT", "epochs": "EPOCHS", "lr": "LR",
                "weight_decay": "WEIGHT_DECAY", "batch": "BATCH", "seed": "SEED"}  # fmt: skip
        got = {k: cfg[h] for k, h in keys.items() if h in cfg}
        got["hidden"] = tuple(got.get("hidden", cls.hidden))
        return cls(**{**got, **changes})


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Per-feature z-scores of `train` ``(N, F)`` and `others` with the training rows' mean and sd.

    A feature that never varies over the training rows carries no information the classifier can learn: it
    is 0 in every array (dividing by a tiny sd would turn any other value it takes later into a huge input).
    """
    mu = train.mean(0, keepdims=True)  # (1, F)
    constant = (train == train[:1]).all(0, keepdims=True)  # (1, F)
    scale = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, train.std(0, keepdims=True)))
    return [np.where(constant, 0.0, (x - mu) * scale) for x in (train, *others)]


def knn_predict(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, k: int, metric: str = "euclidean") -> np.ndarray:
    """Labels of `xte` ``(M, F)`` by a majority of its `k` nearest training rows (scikit-learn)."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k, metric=metric).fit(xtr, ytr).predict(xte)


def knn_accuracy(xtr, ytr, xte, yte, k: int, metric: str = "euclidean") -> tuple[float, np.ndarray]:
    """(accuracy, predictions) of `knn_predict` on the scored rows."""
    pred = knn_predict(xtr, ytr, xte, k, metric)
    return float((pred == yte).mean()), pred


def mlp_params(features: int, classes: int, hidden: tuple) -> int:
    """Parameters of the MLP classifier on `features` inputs."""
    sizes = [features, *hidden, classes]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_predict(xtr, ytr, xte, classes: int, cfg: MLPConfig, device="cpu",
                on_epoch: Callable[[dict], None] | None = None, bar=None) -> np.ndarray:  # fmt: skip
    """Labels of `xte` by an MLP trained on (`xtr`, `ytr`) after `standardise` (training statistics only).

    `on_epoch` receives ``{"epoch", "time_s", "loss", "train_accuracy"}`` after each epoch; `bar` wraps the
    epoch range (a progress bar) when given.
    """
    torch.manual_seed(cfg.seed)
    ztr, zte = standardise(np.asarray(xtr, np.float64), np.asarray(xte, np.float64))
    xtr_t = torch.as_tensor(ztr, dtype=torch.float32, device=device)  # (N_train, F)
    xte_t = torch.as_tensor(zte, dtype=torch.float32, device=device)  # (N_scored, F)
    ytr_t = torch.as_tensor(np.asarray(ytr), dtype=torch.long, device=device)
    sizes = [xtr_t.shape[1], *cfg.hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.GELU(), nn.Dropout(cfg.dropout)]
    net = nn.Sequential(*layers, nn.Linear(sizes[-1], classes)).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = math.ceil(len(xtr_t) / cfg.batch)
    total = cfg.epochs * batches
    if total >= 3:  # warm-up over 10% of the steps (at least two: a shorter phase divides by zero), cosine decay
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, cfg.lr, total_steps=total, pct_start=min(0.5, max(0.1, 2 / total))
        )
    else:  # too few steps for a schedule
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    t0 = time.perf_counter()
    epochs = range(cfg.epochs)
    for epoch in bar(epochs) if bar is not None else epochs:
        net.train()
        order = torch.randperm(len(xtr_t), device=device)
        total, correct = 0.0, 0
        for i in range(batches):
            idx = order[i * cfg.batch : (i + 1) * cfg.batch]
            logits = net(xtr_t[idx])  # (B, classes)
            loss = nn.functional.cross_entropy(logits, ytr_t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == ytr_t[idx]).sum())
        if on_epoch is not None:
            on_epoch({"epoch": epoch + 1, "time_s": time.perf_counter() - t0, "loss": total / len(xtr_t),
                      "train_accuracy": correct / len(xtr_t)})  # fmt: skip
    net.eval()
    with torch.no_grad():
        return torch.cat([net(xte_t[i : i + 4096]).argmax(1) for i in range(0, len(xte_t), 4096)]).cpu().numpy()


def mlp_accuracy(xtr, ytr, xte, yte, classes: int, cfg: MLPConfig, device="cpu", on_epoch=None, bar=None):
    """(accuracy, predictions) of `mlp_predict` on the scored rows."""
    pred = mlp_predict(xtr, ytr, xte, classes, cfg, device, on_epoch, bar)
    return float((pred == np.asarray(yte)).mean()), pred


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of a list of numbers."""
    a = np.asarray(list(values), np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0
