"""Sequence models: one operator for a stack of frames (video frames, the slices of a volume).

Frame n of N sits at its true position ``t_n = -1 + 2 n / (N - 1)`` along the sequence axis (a held-out
frame at its own). Three ways to tell the frames apart (`sequence/train.py`'s MODEL, RESULTS.md's ablation):

* ``frames`` (`FrameOINR`): the 2D multiscale O-INR of one frame, told which frame by a per-frame *code*:
  - ``poster``: the poster's offset, gamma_n = ALPHA + (BETA - ALPHA) n / N added to every sin/cos
    channel; through the first (linear) layer it acts as gamma_n times each unit's weight sum, one
    direction in feature space for the whole sequence;
  - ``position``: t_n as one channel of its own (a free weight per unit), scaled by the training frames'
    spacing: the code moves by CODE_STEP from one training frame to the next, so one setting serves every
    frame gap and missing fraction;
  - ``channels``: t_n and its sin/cos encoding as channels of their own (octaves capped below the training
    frames' Nyquist rate), read by the coarse operator and the head alike.
* ``multiscale`` over 3 axes (`MultiscaleOINR`, dims=3): the sequence as a volume over (t, y, x): the kept frames are
  samples of one 3D function at their true positions, a missing frame is read off it (convs and the
  interpolation of the coarse features run along t as well).
* ``oinr``: the paper's full-resolution conv O-INR with the poster's offsets (`sequence/paper.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from oinr.encoding import axis_coords, encode_coords, encode_grid, max_octaves
from oinr.errors import UserError
from oinr.models import conv, multiscale
from oinr.models.header import header_kwargs
from oinr.models.interp import sample_axes
from oinr.models.multiscale import SETTINGS as MULTISCALE
from oinr.models.multiscale import MultiscaleOINR, coarse_shape

CODES = ("poster", "position", "channels")
KINDS = ("frames", "multiscale", "oinr")  # the registry names of the three sequence models


def code_channels(code: str, octaves: int) -> int:
    """Channels a frame code of kind `code` adds to the input (the poster's adds none: it is added on)."""
    if code not in CODES:
        raise ValueError(f"the frame code must be one of {', '.join(CODES)}, got {code!r}")
    return {"poster": 0, "position": 1, "channels": 1 + 2 * octaves}[code]


class FrameOINR(MultiscaleOINR):
    """The 2D multiscale O-INR of a frame, told which frame by a code (see the module docstring).

    Args:
        code: poster, position or channels.
        code_octaves: sin/cos octaves of t_n for ``channels`` (cap them below the training frames' Nyquist
            rate: `code_octaves_for`).
        code_scale: ``position`` and ``channels`` read code_scale * t_n as the code's t channel (the smoothness
            knob along t, as BETA is the poster's).
        Everything else as `MultiscaleOINR` (dims 2).
    """

    def __init__(self, out_channels: int, code: str = "position", code_octaves: int = 2, code_scale: float = 1.0,
                 **kwargs):  # fmt: skip
        self.code, self.code_octaves, self.code_scale = code, int(code_octaves), float(code_scale)
        super().__init__(out_channels, dims=2, code_channels=code_channels(code, self.code_octaves), **kwargs)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Per-frame inputs `z` ``(B,)`` (gamma_n for ``poster``, t_n otherwise) -> the code ``(B, K)``."""
        z = z.to(self.out.weight).reshape(-1, 1)
        if self.code == "poster":
            return z
        if self.code == "position":
            return z * self.code_scale
        return torch.cat([z * self.code_scale, encode_coords(z, self.code_octaves)], -1)  # (B, 1 + 2 L)

    def _inputs(self, enc: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Encoding ``(C, *rest)`` and codes ``(B, K)`` -> the B frames' inputs ``(B, C [+ K], *rest)``."""
        rest = [1] * (enc.ndim - 1)
        if self.code == "poster":
            return enc.unsqueeze(0) + code.view(-1, 1, *rest)
        return torch.cat([enc.unsqueeze(0).expand(len(code), *enc.shape), code.view(*code.shape, *rest).expand(
            -1, -1, *enc.shape[1:])], 1)  # fmt: skip

    def frames(self, z: torch.Tensor, shape) -> torch.Tensor:
        """Frames with per-frame inputs `z` ``(B,)`` on an (H, W) grid of [-1, 1]^2: ``(B, C_out, H, W)``."""
        shape = tuple(int(n) for n in shape)
        code = self.codes(z)
        w = self.out.weight
        coarse_enc = encode_grid(_coarse(self, shape), self.octaves, device=w.device).to(w.dtype)  # (C, *coarse)
        feats = self.operator(self._inputs(coarse_enc, code))  # (B, F, *coarse)
        b, f = feats.shape[:2]
        if self.interp == "linear":
            up = F.interpolate(feats, size=shape, mode="bilinear", align_corners=True)  # (B, F, H, W)
        else:
            axes = [axis_coords(n, w.device, w.dtype) for n in shape]
            up = sample_axes(feats.reshape(b * f, *feats.shape[2:]), axes, self.interp).reshape(b, f, *shape)
        enc = self.make_input(shape)[0]  # (C, H, W), capped at the fit grid's Nyquist rate
        x = torch.cat([up, self._inputs(enc, code)], 1)  # (B, F + C [+ K], H, W)
        out = self.out(self.head(x.movedim(1, -1)))  # (B, H, W, C_out)
        return out.movedim(-1, 1)


def _coarse(model: MultiscaleOINR, shape) -> tuple[int, ...]:
    return coarse_shape(model._grid(shape), model.coarse)


def code_octaves_for(n_train: int, octaves: int) -> int:
    """The code's octaves kept below the Nyquist rate of `n_train` frames spread over [-1, 1]."""
    return max(0, min(int(octaves), max_octaves(n_train)))


def read_frames(model, kind: str, z: torch.Tensor, shape) -> torch.Tensor:
    """Frames ``(B, C_out, H, W)`` on the network's scale for per-frame inputs `z` ``(B,)`` (gamma_n for the
    conv O-INR and the poster code, t_n otherwise) of a model of `kind` (`KINDS`)."""
    if kind == "multiscale":
        w = model.out.weight
        axes = [z.to(w), *[axis_coords(n, w.device, w.dtype) for n in shape]]
        return model.forward_axes(axes)[0].transpose(0, 1)  # (1, C, B, H, W) -> (B, C, H, W)
    if kind == "frames":
        return model.frames(z, shape)
    return model(model.make_input(tuple(shape), offset=z))


SETTINGS = {**MULTISCALE, "CODE": "position", "CODE_OCTAVES": 2, "CODE_SCALE": 1.0}


def build_from_header(cfg: dict, dims: int, out_channels: int) -> FrameOINR:
    """The frame model (registry name ``frames``) from a header; the volume model is the registry's
    ``multiscale`` over 3 axes, the conv O-INR its ``oinr``."""
    if dims != 2:
        raise ValueError(f"the frame model reads 2D frames, not {dims}-d signals")
    return FrameOINR(out_channels, **header_kwargs(cfg, SETTINGS, {"KERNEL": "kernel_size", "CODE": "code"}))


def build_sequence(cfg: dict, channels: int, n_train: int):
    """The sequence model ``cfg['MODEL']`` (`KINDS`) for frames of `channels`, fitted to `n_train` frames, its
    fit grid set for frames of ``cfg``'s shape later by `set_sequence_grid`: frames (the code's octaves capped
    below the training frames' Nyquist rate, its t channel moving by CODE_STEP a training frame), multiscale
    over (t, y, x) (COARSE_T along t, COARSE in the plane)
    or the conv O-INR (``oinr``)."""
    kind = cfg["MODEL"]
    try:
        if kind == "multiscale":
            c = cfg.get("COARSE", 2)
            return multiscale.build_from_header({**cfg, "COARSE": (cfg.get("COARSE_T", 1), c, c)}, 3, channels)
        if kind == "frames":
            octaves = code_octaves_for(n_train, cfg.get("CODE_OCTAVES", SETTINGS["CODE_OCTAVES"]))
            scale = float(cfg.get("CODE_STEP", 0.2)) * max(n_train - 1, 1) / 2  # t_n moves 2 / (n_train - 1) a frame
            return build_from_header({**cfg, "CODE_OCTAVES": octaves, "CODE_SCALE": scale}, 2, channels)
        return conv.build_from_header(cfg, 2, channels)
    except (ValueError, TypeError) as e:
        raise UserError(f"cannot build the sequence model {kind!r}: {e}") from None


def set_sequence_grid(model, kind: str, n_train: int, shape) -> None:
    """Fix the grid the sequence model's function is defined by: the frame's (H, W) for the frame model; for the
    volume, (n_train, H, W): along t the training frames' spacing sets the coarse grid and the encoding's cap."""
    if kind == "multiscale":
        model.fit_grid((n_train, *shape))
    elif kind == "frames":
        model.fit_grid(tuple(shape))
