"""The shared core: encoding, operator, config overrides, checkpoints, the fitting loop and resume."""

import math
import pickle

import pytest
import torch

from oinr.encoding import axis_coords, encode_coords, encode_grid, encode_grid_derivative, max_octaves, n_channels
from oinr.errors import UserError
from oinr.fit.config import configure
from oinr.fit.loop import Diverged, FitConfig, fit, lr_at
from oinr.fit.runs import MetricsLog, load_checkpoint, new_run_dir, save_checkpoint
from oinr.models.conv import OINR


def _mesh(shape):
    axes = [axis_coords(n, dtype=torch.float64) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (*shape, d)


@pytest.mark.parametrize("shape", [(5, 9), (7,), (3, 4, 6)])
def test_encoding_shape_and_values(shape):
    L = 3
    enc = encode_grid(shape, L, nyquist=False)
    assert enc.shape == (n_channels(len(shape), L), *shape)
    # layout: channel a*2L + 2l is sin(2^l pi x_a), + 1 is cos
    coords = _mesh(shape).float()
    for a in range(len(shape)):
        for o in range(L):
            x = coords[..., a]
            assert torch.allclose(enc[a * 2 * L + 2 * o], torch.sin(2**o * math.pi * x), atol=1e-5)
            assert torch.allclose(enc[a * 2 * L + 2 * o + 1], torch.cos(2**o * math.pi * x), atol=1e-5)
    # the same as encoding the points one by one
    assert torch.allclose(enc, encode_coords(coords, L).movedim(-1, 0), atol=1e-5)
    # the grid spans [-1, 1] on every axis: octave 0 starts at sin(-pi) = 0, cos(-pi) = -1
    assert enc[1].flatten()[0].item() == pytest.approx(-1.0)


def test_encoding_noise_and_offsets():
    enc = encode_grid((6, 8), 2, noise_channels=1, seed=3)
    assert enc.shape == (9, 6, 8)
    assert torch.equal(enc[-1], encode_grid((6, 8), 2, noise_channels=1, seed=3)[-1])  # fixed by the seed
    assert not torch.equal(enc[-1], encode_grid((6, 8), 2, noise_channels=1, seed=4)[-1])
    batched = encode_grid((6, 8), 2, offset=[0.0, 0.5, -1.0])
    assert batched.shape == (3, 8, 6, 8)
    assert torch.allclose(batched[1] - batched[0], torch.full((8, 6, 8), 0.5))
    assert torch.allclose(encode_grid((6, 8), 2, offset=0.25), encode_grid((6, 8), 2) + 0.25)


@pytest.mark.parametrize("shape,axis", [((6, 11), 0), ((6, 11), 1), ((4, 5, 7), 2)])
def test_encoding_derivative_matches_autograd(shape, axis):
    L = 4
    coords = _mesh(shape).requires_grad_(True)  # (*shape, d) float64
    enc = encode_coords(coords, L)  # (*shape, C)
    analytic = encode_grid_derivative(shape, L, axis, dtype=torch.float64, nyquist=False)  # (C, *shape)
    for c in range(enc.shape[-1]):
        (g,) = torch.autograd.grad(enc[..., c].sum(), coords, retain_graph=True)
        assert torch.allclose(analytic[c], g[..., axis], atol=1e-9), f"channel {c}"


def test_max_octaves_below_nyquist():
    for n in (16, 64, 256, 300):
        L = max_octaves(n)
        assert 2 ** (L - 1) < (n - 1) / 2 <= 2**L


@pytest.mark.parametrize("shape", [(64, 17), (9, 33, 129)])
def test_encoding_never_exceeds_nyquist_per_axis(shape):
    L = 7
    enc = encode_grid(shape, L)  # (2*L*d, *shape)
    full = encode_grid(shape, L, nyquist=False)
    deriv = encode_grid_derivative(shape, L, axis=0)
    for a, n in enumerate(shape):
        nyq = math.pi * (n - 1) / 2  # angular Nyquist frequency of n samples on [-1, 1]
        for o in range(L):
            chans = enc[a * 2 * L + 2 * o : a * 2 * L + 2 * o + 2]
            if 2**o * math.pi < nyq:
                assert torch.equal(chans, full[a * 2 * L + 2 * o : a * 2 * L + 2 * o + 2])
            else:  # a frequency at or above Nyquist aliases: its channels are off, and so is their derivative
                assert not chans.any() and not deriv[a * 2 * L + 2 * o : a * 2 * L + 2 * o + 2].any()
    if shape[0] == 64:  # a 64-sample axis keeps octaves 0..4 (16 pi < 31.5 pi), drops 32 pi and up
        assert enc[2 * 4].any() and not enc[2 * 5].any()


@pytest.mark.parametrize("dims,shape", [(1, (17,)), (2, (9, 14)), (3, (5, 6, 7))])
def test_operator_shapes(dims, shape):
    torch.manual_seed(0)
    m = OINR(None, 3, widths=(8, 16), dims=dims, octaves=2, kernel_size=3)
    x = m.make_input(shape)
    assert x.shape == (1, n_channels(dims, 2), *shape)
    assert m(x).shape == (1, 3, *shape)
    assert m(x[0]).shape == (1, 3, *shape)  # unbatched input
    assert m.receptive_radius() == 3
    with pytest.raises(ValueError):
        OINR(4, 1, kernel_size=2, dims=dims)


def test_lr_schedule():
    assert lr_at(0, 100, 1.0, "cosine") == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, "cosine", final_ratio=0.01) == pytest.approx(0.01)
    assert lr_at(99, 100, 1.0, "exp", final_ratio=0.1) == pytest.approx(0.1)
    assert lr_at(4, 100, 1.0, "constant", warmup=10) == pytest.approx(0.5)


# ---------------------------------------------------------------- config overrides


def _ns(**kw):
    ns = {"STEPS": 100, "LR": 1e-3, "DATA": "a.png", "WIDTHS": (8, 8), "GRAY": False, "RESUME": "",
          "__file__": "/nonexistent/train.py"}  # fmt: skip
    ns.update(kw)
    return ns


def test_overrides_types_and_case():
    ns = _ns()
    cfg = configure(ns, ["--steps=5", "--LR=2", "--data=x y.png", "--widths=16,32", "--gray=true"])
    assert cfg["STEPS"] == 5 and ns["STEPS"] == 5
    assert cfg["LR"] == 2.0 and isinstance(cfg["LR"], float)  # an int accepted for a float
    assert cfg["DATA"] == "x y.png"
    assert cfg["WIDTHS"] == (16, 32)
    assert cfg["GRAY"] is True
    assert configure(_ns(), ["--widths=[4]"])["WIDTHS"] == (4,)
    assert configure(_ns(NAMES=("a",)), ["--names=oinr,siren"])["NAMES"] == ("oinr", "siren")
    assert configure(_ns(), ["--data=123"])["DATA"] == "123"  # strings stay raw


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--stepz=5"], "unknown setting"),
        (["--steps=abc"], "expects an int"),
        (["--steps=1.5"], "expects an int"),
        (["--lr=fast"], "expects a float"),
        (["--gray=maybe"], "true/false"),
        (["--steps"], "expected --name=value"),
        (["nothere.py"], "not found"),
    ],
)
def test_override_errors(argv, msg):
    with pytest.raises(UserError, match=msg):
        configure(_ns(), argv)


def test_preset_files(tmp_path):
    preset = tmp_path / "paper.py"
    preset.write_text('"""The paper\'s setting."""\nSTEPS = 1000  # steps\nWIDTHS = (64, 128)\n')
    cfg = configure(_ns(), [str(preset), "--steps=7"])
    assert cfg["STEPS"] == 7 and cfg["WIDTHS"] == (64, 128)  # later arguments win
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    with pytest.raises(UserError, match="only 'NAME = value'"):
        configure(_ns(), [str(bad)])
    code = tmp_path / "code.py"
    code.write_text("STEPS = __import__('os').getpid()\n")
    with pytest.raises(UserError, match="literal"):
        configure(_ns(), [str(code)])


# ---------------------------------------------------------------- checkpoints and runs


def test_checkpoint_round_trip(tmp_path):
    m = OINR(None, 1, widths=(4,), octaves=2)
    save_checkpoint(tmp_path / "c.pt", model=m.state_dict(), step=3, config={"LR": 0.1, "WIDTHS": [4]})
    state = load_checkpoint(tmp_path / "c.pt")
    m2 = OINR(None, 1, widths=(4,), octaves=2)
    m2.load_state_dict(state["model"])
    for a, b in zip(m.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    assert state["step"] == 3 and state["config"]["LR"] == 0.1
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file


class _Evil:
    def __reduce__(self):
        return (print, ("executed!",))


def test_checkpoint_with_code_is_refused(tmp_path, capsys):
    bad = tmp_path / "evil.pt"
    with open(bad, "wb") as f:
        pickle.dump({"model": _Evil()}, f)
    with pytest.raises(UserError, match="refusing checkpoint"):
        load_checkpoint(bad)
    assert "executed!" not in capsys.readouterr().out


def test_run_folders_never_clash(tmp_path):
    runs = {new_run_dir(tmp_path, "exp") for _ in range(3)}
    assert len(runs) == 3 and all((r / "figures").is_dir() for r in runs)


# ---------------------------------------------------------------- fitting loop


def _tiny_problem(seed=0):
    torch.manual_seed(seed)
    m = OINR(None, 1, widths=(8, 8), octaves=3)
    x = m.make_input((12, 10))
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 12), torch.linspace(-1, 1, 10), indexing="ij")
    y = (torch.sin(3 * xx) * torch.cos(2 * yy))[None, None]  # (1, 1, 12, 10)
    return m, lambda mod, step: torch.mean((mod(x) - y) ** 2)


def test_resume_equals_uninterrupted(tmp_path):
    fc = FitConfig(steps=40, lr=1e-2, log_every=5, ckpt_every=20, progress=False)
    m_full, loss = _tiny_problem()
    (tmp_path / "full").mkdir()
    fit(m_full, loss, fc, run=tmp_path / "full")

    part = tmp_path / "part"
    part.mkdir()
    m_a, loss = _tiny_problem()

    def interrupted(mod, step):
        if step == 30:
            raise KeyboardInterrupt  # killed between the checkpoint at 20 and the end
        return loss(mod, step)

    with pytest.raises(KeyboardInterrupt):
        fit(m_a, interrupted, fc, run=part)
    assert load_checkpoint(part / "ckpt.pt")["step"] == 20
    m_b, loss = _tiny_problem(seed=1)  # another init: everything must come from the checkpoint
    fit(m_b, loss, fc, run=part, resume=part / "ckpt.pt")
    for a, b in zip(m_full.parameters(), m_b.parameters()):
        assert torch.equal(a, b)
    rows_full, rows_part = MetricsLog.read(tmp_path / "full" / "metrics.csv"), MetricsLog.read(part / "metrics.csv")
    assert [r["step"] for r in rows_full] == [r["step"] for r in rows_part]  # no row twice
    assert [r["loss"] for r in rows_full] == [r["loss"] for r in rows_part]


def test_nan_guard_keeps_last_checkpoint(tmp_path):
    m, loss = _tiny_problem()

    def exploding(mod, step):
        return loss(mod, step) * (float("nan") if step == 12 else 1.0)

    with pytest.raises(Diverged, match="step 13"):
        fit(m, exploding, FitConfig(steps=30, lr=1e-2, ckpt_every=10, progress=False), run=tmp_path)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 10


def test_fit_with_sgd_lowers_the_loss_and_refuses_an_unknown_optimizer():
    torch.manual_seed(0)
    model = OINR(None, 1, widths=(4,), kernel_size=3, octaves=2)
    grid = model.make_input((8, 8))
    y = torch.rand(1, 1, 8, 8) * 2 - 1
    loss = lambda m, step: torch.mean((m(grid) - y) ** 2)  # noqa: E731
    before = float(loss(model, 0))
    fit(model, loss, FitConfig(steps=30, lr=0.1, optimizer="sgd", progress=False))
    assert float(loss(model, 0)) < 0.7 * before
    with pytest.raises(UserError, match="optimizer must be adam or sgd"):
        fit(model, loss, FitConfig(steps=1, lr=0.1, optimizer="adamw", progress=False))
