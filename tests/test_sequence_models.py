"""The sequence models (oinr/models/sequence.py): a batch of frames equals frames one by one, the poster's code
equals the offset encoding, the volume reads the 3D function at the frames' true positions, the channels code
stays below the training frames' Nyquist rate, and the default and volume runs of sequence/train.py fit."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import scripts
import torch
from scripts import run_folder

from oinr.data.sequence import frame_positions
from oinr.encoding import axis_coords, encode_grid
from oinr.errors import UserError
from oinr.models.multiscale import MultiscaleOINR, coarse_shape
from oinr.models.sequence import (
    FrameOINR,
    build_sequence,
    code_octaves_for,
    read_frames,
    set_sequence_grid,
)

ROOT = Path(__file__).resolve().parent.parent
run_script = partial(scripts.run_script, ROOT / "sequence" / "train.py", threads=1)
FAST = ["--progress=false", "--log_every=1000", "--ckpt_every=1000", "--siren=false"]


@pytest.mark.parametrize("code", ["poster", "position", "channels"])
def test_a_batch_of_frames_equals_the_frames_one_by_one(code):
    torch.manual_seed(0)
    m = FrameOINR(3, code=code, octaves=3, coarse=2, widths=(8,), kernel_size=3, features=4, head_widths=(8,),
                  interp="bspline")  # fmt: skip
    m.fit_grid((9, 11))
    z = torch.tensor([-1.0, -0.3, 0.4, 1.0])
    batch = m.frames(z, (9, 11))
    assert batch.shape == (4, 3, 9, 11)
    one = torch.cat([m.frames(z[i : i + 1], (9, 11)) for i in range(4)])
    assert torch.allclose(batch, one, atol=1e-5)
    assert (batch[0] - batch[1]).abs().max() > 1e-3  # the code tells the frames apart


def test_the_poster_code_adds_gamma_to_every_encoding_channel():
    torch.manual_seed(0)
    m = FrameOINR(1, code="poster", octaves=2, coarse=1, widths=(6,), kernel_size=3, features=3, head_widths=())
    m.fit_grid((5, 6))
    g = torch.tensor([0.0, 0.25])
    enc = encode_grid((5, 6), 2)  # (8, 5, 6)
    inputs = m._inputs(enc, m.codes(g))
    assert inputs.shape == (2, 8, 5, 6)
    assert torch.allclose(inputs[1] - inputs[0], torch.full_like(enc, 0.25))
    assert m.code_channels == 0 and FrameOINR(1, code="channels", code_octaves=2).code_channels == 5


def test_position_and_channels_codes_are_channels_of_their_own():
    m = FrameOINR(1, code="channels", code_octaves=2, code_scale=0.5, octaves=2)
    c = m.codes(torch.tensor([0.5]))
    assert c.shape == (1, 5) and c[0, 0] == pytest.approx(0.25)  # the scaled t, then sin/cos of t
    assert torch.allclose(c[0, 1:3], torch.tensor([np.sin(np.pi * 0.5), np.cos(np.pi * 0.5)], dtype=torch.float32),
                          atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="frame code"):
        FrameOINR(1, code="bogus")


def test_code_octaves_stay_below_the_training_frames_nyquist():
    # 12 frames on [-1, 1]: spacing 2/11, Nyquist pi*11/2 = 17.3 rad: octaves 1..3 (top 4 pi) fit, a 4th (8 pi) does
    assert code_octaves_for(12, 5) == 3 and code_octaves_for(12, 2) == 2 and code_octaves_for(3, 4) == 1


def test_the_volume_reads_the_3d_function_at_the_true_positions():
    torch.manual_seed(0)
    m = MultiscaleOINR(2, 3, octaves=3, coarse=(1, 2, 2), widths=(6,), kernel_size=3, features=4, head_widths=(8,),
                       interp="bspline")  # fmt: skip
    m.fit_grid((5, 8, 9))
    assert m.coarse == (1, 2, 2) and coarse_shape((5, 8, 9), m.coarse) == (5, 5, 5)
    t = frame_positions(9)[[1, 4]]  # two frames between and on the training ones
    frames = read_frames(m, "multiscale", t, (8, 9))  # (2, 2, 8, 9)
    ys, xs = axis_coords(8), axis_coords(9)
    pts = torch.stack(torch.meshgrid(t, ys, xs, indexing="ij"), -1)  # (2, 8, 9, 3)
    direct = m.forward_coords(pts).permute(0, 3, 1, 2)
    assert torch.allclose(frames, direct, atol=1e-5)


def test_build_sequence_caps_the_code_and_refuses_a_bad_setting():
    cfg = {"MODEL": "frames", "CODE": "channels", "CODE_OCTAVES": 6, "OCTAVES": 3}
    m = build_sequence(cfg, 3, 4)  # 4 training frames: 1 octave
    assert isinstance(m, FrameOINR) and m.code_octaves == 1
    v = build_sequence({"MODEL": "multiscale", "COARSE": 4, "COARSE_T": 2}, 1, 10)
    set_sequence_grid(v, "multiscale", 10, (16, 16))
    assert v.coarse == (2, 4, 4) and v.fit_grid() == (10, 16, 16)
    with pytest.raises(UserError, match="sequence model"):
        build_sequence({"MODEL": "frames", "KERNEL": 4}, 1, 4)


def _wave(t=12, n=24) -> np.ndarray:
    """A windowed plane wave moving by 0.4 rad a frame, float (T, n, n) in [0, 1]."""
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    window = np.exp(-(x**2 + y**2) / 2)
    return np.stack([0.5 + 0.35 * np.sin(np.pi * (x + 0.5 * y) + 0.4 * k) * window for k in range(t)]).astype(
        np.float32
    )


@pytest.mark.parametrize("model", ["frames", "multiscale"])
def test_the_default_models_fit_and_fill_in_a_moving_wave(tmp_path, model):
    # blending two phases of a moving wave lowers its amplitude: 36.9 dB here. Measured (300 steps): frames
    # (CODE_STEP 0.05) train 40.8 dB, held-out 41.0; the volume fits its frames (46.6 dB) but not the
    # ones between them (25.8 dB: nothing holds its head's output between the coarse nodes along t)
    np.save(tmp_path / "wave.npy", _wave())
    extra = ["--kernel=3"] if model == "multiscale" else ["--code_step=0.05"]
    proc = run_script(f"--data={tmp_path}/wave.npy", "--frames=0,0", "--size=0", f"--model={model}", "--steps=300",
                      *extra, *FAST, f"--out={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads((run_folder(proc) / "summary.json").read_text())
    assert s["model"] == model and s["n_train"] == 6 and s["n_test"] == 5
    assert s["psnr_train"] > 38.0 and s["mse_train"] < s["mse_test_linear"] / 2, s  # (cubic is exact on a sinusoid)
    assert s["psnr_heldout"] > (s["psnr_heldout_blend"] + 3.0 if model == "frames" else 22.0), s
