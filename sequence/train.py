"""Fit one O-INR to a sequence of frames (a video, or the slices of an MRI volume) and fill in the frames
it never saw: the paper's video and slice-imputation experiments (Pal et al., ICML 2024, poster).

    python sequence/train.py [sequence/paper.py] [--data=data/ch2_2mm.nii.gz --missing=0.8 --model=multiscale]

Frame n of N sits at its true position t_n = -1 + 2 n / (N - 1) along the sequence axis; a frame left out of
training is read off the fitted function at its own t_n. MODEL picks how (oinr/models/sequence.py):
frames (default): the 2D multiscale O-INR of one frame told which frame by a code of t_n (CODE: poster,
position or channels); multiscale: the sequence as a volume over (t, y, x), the 3D multiscale O-INR;
oinr: the paper's full-resolution conv O-INR with the poster's offsets gamma_n = ALPHA + (BETA - ALPHA) n / N
(sequence/paper.py). Two ways to leave frames out (MODE):

* frames (video, arrays): train on every FRAME_GAP-th frame, evaluate on the frames in between, beside
  linear blending of the two neighbouring training frames and a SIREN over (x, y, t) with about the
  same parameter count and the same (cosine) schedule, fitted for the same wall time. summary.json:
  psnr_train, psnr_heldout, psnr_heldout_blend, psnr_heldout_siren, frames_per_s; figures/heldout.png.
* slices (NIfTI): drop the fraction MISSING of the slices along AXIS uniformly (both ends kept), fit
  the rest, and compare the dropped ones with linear and cubic-spline interpolation along the slice
  axis. summary.json: mse_train, mse_test, mse_test_linear, mse_test_cubic; figures/slices.png.

Every MSE and PSNR is on the loader's [0, 1] scale (oinr/data/sequence.py), on the clipped prediction.
Selection: MODEL, CODE and the settings below were chosen on data that no reported number reads: the first
24 frames of carphone at gap 2 and the MNI152 template (data/mni152_2mm.nii.gz) at 50 % missing
(`python bench/sequence.py --select`); the reports read carphone's last 24 frames, bikes and Colin27.
"""

# data
DATA = "data/carphone_48.mp4"  # video (.mp4/.avi/.gif/...), (T, H, W[, C]) .npy/.npz, or a .nii/.nii.gz volume
MODE = "auto"  # auto (NIfTI -> slices, else frames), frames (every FRAME_GAP-th trains) or slices (MISSING dropped)
FRAMES = (0, 0)  # (start, stop) frames / slices to use, stop 0: the end (carphone_48: 24 training, 23 held-out)
SIZE = 64  # 0: native; N: longer side resized to N (carphone 144x176 -> 52x64, the MRI's 108x90 slices -> 64x53)
AXIS = 2  # NIfTI: slice axis after reorientation to RAS (0 sagittal, 1 coronal, 2 axial)
VOLUME = -1  # NIfTI: the volume of a 4D file (-1: none chosen, a 4D file is refused)
KEY = ""  # .npz: the array to read ('': its only one)
GRAY = False  # True: colour frames to luminance
NORMALISE = "auto"  # auto, dtype, robust (0.5-99.5 percentiles), minmax: see oinr/data/sequence.py
FRAME_GAP = 2  # frames mode: train on every FRAME_GAP-th frame, hold out the ones between (1: fit all)
MISSING = 0.8  # slices mode: fraction of the slices dropped, in (0, 1) (the poster: 0.5, 0.66, 0.75, 0.8)
# encoding
OCTAVES = 5  # sin/cos octaves per axis (each capped below its fit grid's Nyquist rate)
CODE = "position"  # frames model: poster (gamma_n on every channel), position (t_n, a channel of its own),
#                    channels (t_n and its sin/cos encoding, capped below the training frames' Nyquist rate)
CODE_OCTAVES = 2  # channels code: sin/cos octaves of t_n
CODE_STEP = 0.1  # position / channels codes: the t channel's change from one training frame to the next
#                  (bench/sequence.py --select: 0.05 / 0.1 / 0.2 at 40 s: carphone 34.14 / 34.19 / 34.30 dB,
#                  MNI152 test MSE 1.24e-3 / 8.78e-4 / 9.83e-4; 0.1 has the smallest mean and worst deficit)
ALPHA = 0.0  # poster offsets (oinr, frames with CODE=poster): gamma_n = ALPHA + (BETA - ALPHA) * n / N
BETA = 0.3  # poster offsets: the range spread over the N frames (the paper's code: 0.1)
SIGNAL_OFFSETS = True  # oinr: the encoding carries per-frame offsets, the first conv keeps its full kernel
# model
MODEL = "frames"  # frames (2D multiscale + per-frame code), multiscale (3D over t, y, x), oinr (paper.py)
WIDTHS = (32, 32)  # hidden conv widths (of the coarse operator; the paper's 64-128-256-256-128-64: paper.py)
KERNEL = 5  # odd kernel of the hidden and output convs
COARSE = 2  # multiscale models: pixels per coarse cell in the plane
COARSE_T = 1  # multiscale over (t, y, x): training frames per coarse cell along t
FEATURES = 16  # multiscale models: channels the coarse operator hands to the pointwise head
HEAD_WIDTHS = (32,)  # multiscale models: pointwise sine layers
HEAD_OMEGA = 2.0  # multiscale models: sine frequency of the head's first layer
INTERP = "bspline"  # multiscale models: coarse features to the points (linear, cubic, bspline)
BIAS = True  # conv biases
OMEGA = 1.0  # sine frequency of the hidden activations
FIRST_OMEGA = 10.0  # first sine frequency (the 2D image default's)
INIT = "sine"  # oinr: sine (SIREN-style uniform init scaled by OMEGA) or default (PyTorch's, the paper's code)
SIREN = True  # frames mode: fit the SIREN (x, y, t) baseline too, for the O-INR's wall time
LAYERS = 3  # SIREN baseline: hidden layers (its width is matched to the O-INR's parameter count)
# optim
STEPS = 800  # Adam steps, each on BATCH frames (about 25 s on 2 cores; the SIREN row takes as long again)
BATCH = 8  # frames per step (one batched pass)
LR = 1e-2  # learning rate
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python, and the batch order
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/sequence/<timestamp>/
LOG_EVERY = 100  # steps between metrics.csv rows (each one a no-grad pass over every frame)
CKPT_EVERY = 400  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS
PROGRESS = True  # tqdm progress bar

import torch  # noqa: E402

from oinr.data.images import check_file  # noqa: E402
from oinr.data.sequence import (  # noqa: E402
    batch_at,
    frame_inputs,
    heldout_split,
    interpolate_frames,
    load_sequence,
    missing_split,
    sequence_kind,
)
from oinr.encoding import axis_coords, to_unit  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, fit_config, open_run, setup  # noqa: E402
from oinr.fit.loop import fit  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import mse, psnr_from_mse  # noqa: E402
from oinr.models.baselines import build_baseline, default_lr, hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.sequence import KINDS, build_sequence, read_frames, set_sequence_grid  # noqa: E402
from oinr.plots import curves, strip  # noqa: E402


def main():
    cfg = configure(globals())
    check(MODE in ("auto", "frames", "slices"), f"--mode must be auto, frames or slices, got {MODE!r}")
    check(MODEL in KINDS, f"--model must be one of {', '.join(KINDS)} for a sequence, got {MODEL!r}")
    check(BATCH > 0, f"--batch must be > 0, got {BATCH}")
    check(0.0 < MISSING < 1.0, f"--missing must be a fraction in (0, 1), got {MISSING}")
    check(COARSE_T >= 1, f"--coarse_t must be >= 1, got {COARSE_T}")
    check(MODEL != "oinr" or SIGNAL_OFFSETS, "--signal_offsets must stay true: the frames are told apart by offsets")
    # data: (T, C, H, W) in [0, 1]
    path = check_file(DATA, "sequence", "a video, a (T, H, W[, C]) .npy/.npz array or a .nii(.gz) volume")
    mode = MODE if MODE != "auto" else ("slices" if sequence_kind(path) == "nifti" else "frames")
    seq = load_sequence(path, FRAMES, SIZE, AXIS, VOLUME, KEY, GRAY, NORMALISE)
    frames = seq.frames
    t, c, h, w = frames.shape
    train, test = heldout_split(t, FRAME_GAP) if mode == "frames" else missing_split(t, MISSING)
    z = frame_inputs(cfg, t)  # (T,): what tells frame n apart (the poster's gamma_n, or its position t_n)

    # model
    device = setup(cfg)
    model = build_sequence(cfg, c, len(train)).to(device)
    set_sequence_grid(model, MODEL, len(train), (h, w))
    run, ckpt = open_run(cfg, "sequence", device)
    what = f"{len(train)} training + {len(test)} held-out {'frames' if mode == 'frames' else 'slices'}"
    print(f"{seq.kind} {path}: {t} frames of {c}x{h}x{w} ({seq.normalisation} to [0, 1]), {what}; "
          f"{MODEL} O-INR {n_params(model)} parameters on {device}")  # fmt: skip
    y = (frames * 2 - 1).to(device)  # (T, C, H, W) on the network's [-1, 1] scale
    z = z.to(device)

    def predict(m, idx, chunk=BATCH):  # frames `idx` in [0, 1], (len(idx), C, H, W), without gradient
        with torch.no_grad():
            out = [read_frames(m, MODEL, z[idx[i : i + chunk]], (h, w)) for i in range(0, len(idx), chunk)]
        return to_unit(torch.cat(out))

    # fit: each step one batch of training frames through the shared operator
    def loss_fn(m, step):
        idx = batch_at(train, step, BATCH, SEED)
        return torch.mean((read_frames(m, MODEL, z[idx], (h, w)) - y[idx]) ** 2)

    def evaluate(m, loss):
        row = {"mse_train": mse(predict(m, train), frames[train].to(device))}
        row["mse_test"] = mse(predict(m, test), frames[test].to(device)) if test else float("nan")
        row["psnr_train"], row["psnr_test"] = psnr_from_mse(row["mse_train"]), psnr_from_mse(row["mse_test"])
        return row

    columns = ["step", "time_s", "loss", "lr", "mse_train", "mse_test", "psnr_train", "psnr_test"]
    meta = {"experiment": "sequence", "dims": 2, "out_channels": c, "shape": [h, w], "output": "pm1",
            "value_range": list(seq.value_range), "offsets": z.tolist(), "train": train, "test": test,
            "model": MODEL}  # fmt: skip
    res = fit(model, loss_fn, fit_config(cfg, LR, f"{MODEL} {t}x{h}x{w}"), evaluate=evaluate, run=run, config=cfg,
              resume=ckpt, columns=columns, meta=meta)  # fmt: skip
    frames_per_s = res.steps * min(BATCH, len(train)) / max(res.wall_time_s, 1e-9)
    print(f"O-INR: {res.steps} steps in {res.wall_time_s:.1f} s, {frames_per_s:.1f} training frames/s")

    # evaluate: O-INR on the training and held-out frames, interpolation along the sequence axis
    pred_train, pred_test = predict(model, train).cpu(), predict(model, test).cpu()
    truth = frames[test]
    linear, cubic = interpolate_frames(frames, train, test, "linear"), interpolate_frames(frames, train, test, "cubic")
    summary = {"mse_train": mse(pred_train, frames[train]), "mse_test": mse(pred_test, truth),
               "mse_test_linear": mse(linear, truth), "mse_test_cubic": mse(cubic, truth)}  # fmt: skip
    for m, name in [("train", "train"), ("test", "heldout"), ("test_linear", "heldout_blend"),
                    ("test_cubic", "heldout_cubic")]:  # fmt: skip
        summary[f"psnr_{name}"] = psnr_from_mse(summary[f"mse_{m}"])
    panels = {"truth": truth, "O-INR": pred_test, "linear" if mode == "slices" else "blend": linear, "cubic": cubic}
    if SIREN and test:
        siren_pred, siren_info = fit_siren(frames, train, test, n_params(model), res.wall_time_s, device)
        summary["mse_test_siren"] = mse(siren_pred, truth)
        summary["psnr_heldout_siren"] = psnr_from_mse(summary["mse_test_siren"])
        summary.update(siren_info)
        panels["SIREN"] = siren_pred

    # save
    if test:
        show = [test[round(i)] for i in torch.linspace(0, len(test) - 1, min(4, len(test))).tolist()]
        rows = {f"{'slice' if mode == 'slices' else 'frame'} {seq.indices[n]}": {k: v[test.index(n)]
                for k, v in panels.items()} for n in show}  # fmt: skip
        name = "slices.png" if mode == "slices" else "heldout.png"
        strip(rows, list(panels), run / "figures" / name, error_of=("O-INR", "truth"),
              title=f"held-out {'slices' if mode == 'slices' else 'frames'} of {path.name}")  # fmt: skip
    curves(run / "metrics.csv", run / "figures" / "curves.png", keys=("loss", "psnr_train", "psnr_test"),
           title=path.name)  # fmt: skip
    finish(run, **summary, frames_per_s=frames_per_s, n_params=n_params(model), steps=res.steps,
           wall_time_s=res.wall_time_s, device=str(device), model=MODEL, code=CODE if MODEL == "frames" else None,
           mode=mode, data=str(DATA), frames=t, size=[h, w], channels=c, n_train=len(train), n_test=len(test),
           normalisation=seq.normalisation, missing=MISSING if mode == "slices" else None,
           frame_gap=FRAME_GAP if mode == "frames" else None)  # fmt: skip


def fit_siren(frames, train, test, budget, seconds, device):
    """SIREN over (x, y, t) with about `budget` parameters, fitted to the training frames (BATCH a step) for
    `seconds` of wall time under the shared timed fit (cosine decay over its planned steps, as the O-INR's
    schedule); returns (held-out frames in [0, 1], its summary)."""
    t, c, h, w = frames.shape
    hidden = hidden_for_budget("siren", 3, c, LAYERS, budget)
    torch.manual_seed(SEED)
    model = build_baseline("siren", 3, c, hidden=hidden, layers=LAYERS).to(device)
    ts, ys, xs = axis_coords(t, device), axis_coords(h, device), axis_coords(w, device)  # t spans [-1, 1] too
    y = (frames * 2 - 1).to(device)

    def frames_at(m, idx):  # (B, C, H, W) from the (1, 3, B, H, W) grid of (t, y, x)
        return m(torch.stack(torch.meshgrid(ts[idx], ys, xs, indexing="ij")).unsqueeze(0))[0].transpose(0, 1)

    def loss_fn(m, step):
        idx = batch_at(train, step, BATCH, SEED)
        return torch.mean((frames_at(m, idx) - y[idx]) ** 2)

    res = timed_fit(model, default_lr("siren"), None, None, seconds, loss_fn=loss_fn)
    with torch.no_grad():
        pred = torch.cat([frames_at(model, test[i : i + BATCH]) for i in range(0, len(test), BATCH)])
    print(f"SIREN: {res['steps']} steps in {res['seconds']:.1f} s ({n_params(model)} parameters, width {hidden})")
    info = {"siren_steps": res["steps"], "siren_params": n_params(model), "siren_wall_time_s": res["seconds"]}
    return to_unit(pred).cpu(), info  # (len(test), C, H, W)


if __name__ == "__main__":
    cli(main)
