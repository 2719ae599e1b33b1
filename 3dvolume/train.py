"""Fit an O-INR to a 3D occupancy volume (the paper's 3D experiment): the 2D operator with 3D convs,
scored by IoU at 0.5, with marching-cubes meshes of the target and the fit.

    python 3dvolume/train.py [3dvolume/paper.py] [--data=data/bunny.obj.gz --resolution=96 --steps=400]

The occupancy is fitted as logits with binary cross-entropy (LOSS = 'bce'; the prediction is
sigmoid(output)). It reaches the IoU sooner than MSE on 2 * occ - 1 (on the bunny at 64^3 after 150
steps: IoU 0.943 against 0.880): MSE keeps pulling every correctly classified voxel towards exactly
+-1, spending capacity deep inside and far outside the shape, while the cross-entropy of a confidently
right voxel vanishes and the gradient gathers on the voxels near the surface, which decide the IoU.

A grid of more than MAX_VOXELS cells trains one tile per step (in an order fixed by the step and SEED,
so a resumed run is exact), each cropped from the global encoding with a halo of the network's
receptive radius, so that every prediction, tiled or not, equals the whole-grid one (oinr/tiling.py).
Writes metrics.csv (step, time_s, loss, lr, iou), summary.json (iou, mse, peak_memory_mb, ...),
target.ply and prediction.ply, figures/preview.png (mid slices and a render of each) and curves.png.
"""

# data
DATA = "data/bunny_128.npz"  # .npy/.npz/.mat/.nii(.gz) volume, or a watertight .obj/.ply/.off/.stl mesh (.gz ok)
RESOLUTION = 64  # N: a mesh voxelized on N^3, a volume's longer side resampled to N (aspect kept); 0: native volume
KEY = ""  # the array of an .npz ('': its only one) or the variable of a .mat ('': hypercube)
SURFACE_ONLY = False  # True: a mesh that is not watertight becomes its surface-voxel occupancy, unfilled
# encoding
OCTAVES = 6  # sin/cos octaves per axis; on 64^3 the top one (32*pi) sits at Nyquist and still helps the IoU (5: -0.02)
NOISE_CHANNELS = 0  # extra Gaussian-noise input channels (the paper's optional noise channel)
# model
MODEL = "oinr"  # oinr, or hashgrid (a model with a receptive radius, so the tiling stays exact)
WIDTHS = (16, 16)  # hidden conv widths; the paper's 64,128,128,64 is ~100x slower per step on a CPU
KERNEL = 3  # odd conv kernel size (the receptive radius, and so the tiling halo, grows with it)
BIAS = False  # conv biases (the paper: none)
OMEGA = 2.0  # sine frequency of the hidden activations (2 reaches IoU 0.95 sooner than 1 on the bunny)
INIT = "sine"  # sine: SIREN-style uniform init scaled by OMEGA; default: PyTorch's (the paper's code)
LOSS = "bce"  # bce: cross-entropy on logits (see the docstring); mse: squared error against 2 * occ - 1
HASH_LEVELS = 16  # hashgrid only: resolution levels L (Instant-NGP: 16)
HASH_FEATURES = 2  # hashgrid only: features per level F (Instant-NGP: 2)
HASH_LOG2_T = 14  # hashgrid only: T = 2^this entries per level (paper: 14..24; 14: 453,219 params at 64^3)
HASH_MIN_RES = 16  # hashgrid only: coarsest grid resolution N_min (Instant-NGP: 16)
HASH_MAX_RES = 0  # hashgrid only: finest grid resolution N_max; 0: the volume's longest side
MAX_VOXELS = 2097152  # memory bound (2^21 = 128^3 cells per step); a larger grid trains on tiles with an exact halo
# optim
STEPS = 150  # Adam steps (each on the whole grid, or on one tile); the bunny passes IoU 0.95 before step 100
LR = 1e-2  # O-INR learning rate (hashgrid: its registry lr, 1e-2, with the paper's Adam betas and eps)
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python, and the tile order
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/3dvolume/<timestamp>/
LOG_EVERY = 25  # steps between metrics.csv rows (each one a no-grad prediction of the whole grid for the IoU)
CKPT_EVERY = 100  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS
PROGRESS = True  # tqdm progress bar

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oinr.config import configure  # noqa: E402
from oinr.data import resolve_path  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.experiment import check, finish, fit_config, open_run, setup  # noqa: E402
from oinr.fitting import fit  # noqa: E402
from oinr.memory import check_volume_fits, peak_memory_mb  # noqa: E402
from oinr.metrics import iou, mse  # noqa: E402
from oinr.models import build_model, model_lr  # noqa: E402
from oinr.operator import n_params  # noqa: E402
from oinr.plots import curves  # noqa: E402
from oinr.restore import image_meta  # noqa: E402
from oinr.surface import preview, save_surface  # noqa: E402
from oinr.tiling import predict_tiled, tile_at, tile_side_for, tiles_for  # noqa: E402
from oinr.volume import is_occupancy, load_volume  # noqa: E402


def main():
    cfg = configure(globals())
    check(LOSS in ("bce", "mse"), f"--loss must be bce or mse, got {LOSS!r}")
    check(MAX_VOXELS > 0, f"--max_voxels must be > 0, got {MAX_VOXELS}")
    # data: occupancy (or density) in [0, 1]
    vol = load_volume(resolve_path(DATA), RESOLUTION, KEY, SURFACE_ONLY)  # (D, H, W)
    shape = tuple(vol.shape)

    # model
    device = setup(cfg)
    cl = torch.channels_last_3d  # about 2x faster 3D convs on a CPU, harmless on a GPU
    if str(MODEL).lower() == "hashgrid" and not HASH_MAX_RES:  # resolved here so config.json holds it
        cfg["HASH_MAX_RES"] = max(shape)
    model = build_model(cfg, 3, 1).to(device).to(memory_format=cl)
    check(hasattr(model, "receptive_radius"), f"--model={MODEL} has no receptive radius to tile by; use oinr/hashgrid")
    radius = model.receptive_radius()
    side = tile_side_for(shape, MAX_VOXELS, radius)  # None: the whole grid fits in one step
    tiles = tiles_for(shape, side or max(shape), radius)
    check_volume_fits(model, shape, max(tiles, key=lambda t: t.voxels).shape, device)  # before allocating
    grid = model.make_input(shape).contiguous(memory_format=cl)  # (1, C_in, D, H, W)
    run, ckpt = open_run(cfg, "3dvolume", device)
    target = vol[None, None].to(device).contiguous(memory_format=cl)  # (1, 1, D, H, W)
    if LOSS == "mse":
        target = target * 2 - 1
    per_step = "the whole grid" if side is None else f"one of {len(tiles)} tiles (<= {side}^3 + a halo of {radius})"
    kind = "occupancy" if is_occupancy(vol) else "density"
    print(f"volume {resolve_path(DATA)}: {'x'.join(map(str, shape))} {kind}, mean {vol.mean():.1%}; "
          f"{n_params(model)} parameters on {device}, {per_step} per step")  # fmt: skip

    def occupancy(out):  # network output -> occupancy in [0, 1]
        return torch.sigmoid(out) if LOSS == "bce" else ((out + 1) / 2).clamp(0, 1)

    def predict(m):  # (1, 1, D, H, W), equal to m(grid) whether tiled or not
        return m(grid) if side is None else predict_tiled(m, grid, side, radius)

    # fit: one tile per step, chosen from the step alone so a resumed run visits the same tiles
    def loss_fn(m, step):
        t = tile_at(tiles, step, SEED)
        out = m(grid[(..., *t.crop)])[(..., *t.inner)]  # (1, 1, *tile)
        y = target[(..., *t.interior)]
        return F.binary_cross_entropy_with_logits(out, y) if LOSS == "bce" else torch.mean((out - y) ** 2)

    def evaluate(m, loss):
        return {"iou": iou(occupancy(predict(m))[0, 0], vol.to(device))}

    fc = fit_config(cfg, model_lr(cfg), f"{MODEL} {'x'.join(map(str, shape))}", model)
    res = fit(model, loss_fn, fc, evaluate=evaluate, run=run, config=cfg, resume=ckpt,
              columns=["step", "time_s", "loss", "lr", "iou"],
              meta=image_meta("3dvolume", 1, shape, "logit" if LOSS == "bce" else "pm1"))  # fmt: skip

    # evaluate: the occupancy at threshold 0.5 against the target
    with torch.no_grad():
        pred = occupancy(predict(model))[0, 0].cpu()  # (D, H, W)
    score, err = iou(pred, vol), mse(pred, vol)
    peak = peak_memory_mb(device)  # MiB: CUDA's max allocated on a GPU, the max resident set size on a CPU
    print(f"IoU {score:.4f}, MSE {err:.3g}, peak memory {peak:.0f} MiB")

    # save
    save_surface(vol, run / "target.ply")
    save_surface(pred, run / "prediction.ply")
    preview({"target": vol, f"{MODEL} (IoU {score:.3f})": pred}, run / "figures" / "preview.png",
            title=f"{resolve_path(DATA).name} at {'x'.join(map(str, shape))}")  # fmt: skip
    curves(run / "metrics.csv", run / "figures" / "curves.png", keys=("loss", "iou"), title=resolve_path(DATA).name)
    finish(run, iou=score, mse=err, n_params=n_params(model), steps=res.steps, wall_time_s=res.wall_time_s,
           device=str(device), peak_memory_mb=peak, volume=str(DATA), shape=list(shape), loss=LOSS,
           tiles=len(tiles))  # fmt: skip


if __name__ == "__main__":
    cli(main)
