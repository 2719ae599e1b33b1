"""Weight-space interpolation: theta(t) = (1 - t) theta_a + t theta_b between two fits, rendered along the path.

The paper (Pal et al., ICML 2024, weight-space section) argues that two O-INRs fitted from one
initialisation can be blended in weight space into meaningful in-between signals, where MLP INRs give
noise. A linear path only makes sense between networks that started together (otherwise their hidden
units need not correspond), so `weight_path` refuses two fits whose initialisations differ unless told
otherwise; `fingerprint` identifies an initialisation.

    init = fingerprint(model)                      # before fitting
    ens = Ensemble.replicate(model, 2); fit(ens, ...)   # two fits, one batched computation
    states = weight_path(ens.member_state(0), ens.member_state(1), ts, init, init)
    frames = render_path(model, states, grid)      # (T, C, *shape) network outputs, one batched call
    path_metrics(to_signal(frames), img_a, img_b, ts)
"""

from __future__ import annotations

import copy
import hashlib

import torch
from torch import nn

from oinr.errors import UserError
from oinr.metrics import psnr
from oinr.models.ensemble import Ensemble


def fingerprint(state) -> str:
    """A short hash of a module's (or state dict's) tensors: names, shapes, dtypes and bytes."""
    if isinstance(state, nn.Module):
        state = state.state_dict()
    h = hashlib.sha1()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def lerp_state(a: dict, b: dict, t: float) -> dict:
    """(1 - t) a + t b for every floating tensor (``torch.lerp``: exactly a at t = 0 and b at t = 1).

    Tensors that are not floating point (counters, integer buffers) must be equal in a and b.
    """
    if set(a) != set(b):
        raise UserError("the two networks have different parameters; interpolate fits of one architecture")
    out = {}
    for name, x in a.items():
        y = b[name]
        if x.shape != y.shape:
            raise UserError(f"parameter {name} has shapes {tuple(x.shape)} and {tuple(y.shape)} in the two networks")
        if x.is_floating_point() or x.is_complex():
            out[name] = torch.lerp(x, y.to(x), float(t))
        elif torch.equal(x, y):
            out[name] = x.clone()
        else:
            raise UserError(f"non-float tensor {name} differs between the two networks; it cannot be interpolated")
    return out


def check_same_init(init_a: str, init_b: str, allow_different_init: bool = False) -> None:
    """Refuse (one-line UserError) two fits from different initialisations, unless allowed."""
    if init_a != init_b and not allow_different_init:
        raise UserError(f"the two networks start from different initialisations ({init_a} vs {init_b}); a linear "
                        "path between them is not meaningful (fit both from one init, or pass "
                        "--allow_different_init=true to interpolate anyway)")  # fmt: skip


def weight_path(a: dict, b: dict, ts, init_a: str, init_b: str, allow_different_init: bool = False) -> list[dict]:
    """The state dicts theta(t) for every t in `ts`; `init_a`/`init_b` are the fits' `fingerprint`s at init."""
    check_same_init(init_a, init_b, allow_different_init)
    return [lerp_state(a, b, t) for t in ts]


def render_path(template: nn.Module, states: list[dict], grid: torch.Tensor) -> torch.Tensor:
    """The network outputs of every state on `grid`: ``(T, C_out, *shape)``, one batched call (an Ensemble)."""
    members = []
    for s in states:
        m = copy.deepcopy(template)
        m.load_state_dict(s)
        members.append(m)
    with torch.no_grad():
        return Ensemble(members)(grid)[:, 0]  # (T, 1, C, *shape) -> (T, C, *shape)


def path_metrics(frames: torch.Tensor, a: torch.Tensor, b: torch.Tensor, ts) -> dict:
    """How the rendered path ``(T, C, *shape)`` in [0, 1] compares with the pixel blend (1 - t) a + t b.

    psnr_t: PSNR of each frame against the blend at its t; min_psnr / mean_psnr over t (the interior t
    are the telling ones: at t = 0 and 1 it is the fit's own PSNR). tv: total variation along t, the
    summed mean |frame(t_i+1) - frame(t_i)|; the blend's is mean |b - a| (a straight path), so
    tv_ratio = tv / tv_blend is 1 for a path as direct as the blend and grows with detours and noise.
    mid_psnr_a / mid_psnr_b: the t = 0.5 frame (or the one nearest it) against each end image.
    """
    ts = [float(t) for t in ts]
    blends = [(1 - t) * a + t * b for t in ts]
    psnr_t = [psnr(f.clamp(0, 1), bl) for f, bl in zip(frames, blends)]
    tv = float(sum((frames[i + 1] - frames[i]).abs().mean() for i in range(len(ts) - 1)))
    tv_blend = float((b - a).abs().mean()) * (max(ts) - min(ts))
    mid = min(range(len(ts)), key=lambda i: abs(ts[i] - 0.5))
    return {
        "psnr_t": psnr_t,
        "min_psnr": min(psnr_t),
        "mean_psnr": sum(psnr_t) / len(psnr_t),
        "tv": tv,
        "tv_blend": tv_blend,
        "tv_ratio": tv / max(tv_blend, 1e-12),
        "mid_psnr_a": psnr(frames[mid].clamp(0, 1), a),
        "mid_psnr_b": psnr(frames[mid].clamp(0, 1), b),
    }
