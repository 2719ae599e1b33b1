"""Fit an O-INR to a 3D occupancy volume (the paper's 3D experiment): the 2D operator with 3D convs,
scored by IoU at 0.5, with marching-cubes meshes of the target and the fit.

    python 3dvolume/train.py [3dvolume/paper.py] [--data=data/bunny.obj.gz --resolution=96 --steps=400]

The occupancy is fitted as logits with binary cross-entropy (LOSS = 'bce'; the prediction is
sigmoid(output)). It reaches the IoU sooner than MSE on 2 * occ - 1 (on the bunny at 64^3 after 150
steps: IoU 0.943 against 0.880): MSE keeps pulling every correctly classified voxel towards exactly
+-1, spending capacity deep inside and far outside the shape, while the cross-entropy of a confidently
right voxel vanishes and the gradient gathers on the voxels near the surface, which decide the IoU.

The default model is the multiscale O-INR (oinr/models/multiscale.py): a conv + sine operator on a grid
COARSE times coarser than the volume, trilinear interpolation to the voxels, and a pointwise sine
head on the fine encoding. Its read-out is per voxel, so each step trains on BATCH voxels, a
BAND_FRACTION share of them within BAND_RADIUS voxels of the surface (oinr/data/sampling.py; drawn from
the step and SEED alone, so a resumed run is exact). On the bunny at 128^3 it passes IoU 0.99 by step
300 and reaches 0.9990 at step 600 (50 s and 108 s on a 2-core CPU) with 28,577 parameters. The
full-grid conv O-INR of the paper is the preset 3dvolume/conv.py (MODEL = 'oinr'): a grid of more
than MAX_VOXELS cells then trains one tile per step, cropped from the global encoding with a halo of
the network's receptive radius, so that every prediction, tiled or not, equals the whole-grid one
(oinr/data/tiling.py).
Writes metrics.csv (step, time_s, loss, lr, iou), summary.json (iou, mse, peak_memory_mb, ...),
target.ply and prediction.ply, figures/preview.png (mid slices and a render of each) and curves.png.
"""

# data
DATA = "data/bunny_128.npz"  # .npy/.npz/.mat/.nii(.gz) volume, or a watertight .obj/.ply/.off/.stl mesh (.gz ok)
RESOLUTION = 128  # N: a mesh voxelized on N^3, a volume's longer side resampled to N (aspect kept); 0: native volume
KEY = ""  # the array of an .npz ('': its only one) or the variable of a .mat ('': hypercube)
SURFACE_ONLY = False  # True: a mesh that is not watertight becomes its surface-voxel occupancy, unfilled
# encoding
OCTAVES = 6  # sin/cos octaves per axis (each grid's own are capped below its Nyquist rate, oinr/encoding.py)
NOISE_CHANNELS = 0  # extra Gaussian-noise input channels (the paper's optional noise channel)
# model
MODEL = "multiscale"  # multiscale; oinr (full-grid convs, tiled: preset 3dvolume/conv.py); hashgrid, siren, wire, ...
WIDTHS = (24, 24)  # hidden conv widths (of the coarse operator for multiscale)
KERNEL = 3  # odd conv kernel size (oinr: the receptive radius, and so the tiling halo, grows with it)
COARSE = 4  # multiscale: voxels per coarse cell along each axis (128^3 -> a 33^3 conv grid)
FEATURES = 16  # multiscale: channels the coarse operator hands to the pointwise head
HEAD_WIDTHS = (32,)  # multiscale: pointwise sine layers on [interpolated features, fine encoding]
HEAD_OMEGA = 2.0  # multiscale: the head's first sine frequency (bunny, 300 steps, lr 2e-2: 1: IoU 0.9926, 2: 0.9939)
FIRST_OMEGA = 1.0  # sine frequency of the first conv's activation
BIAS = True  # conv biases (the paper: none; the conv preset keeps none)
OMEGA = 1.0  # sine frequency of the hidden activations
INIT = "sine"  # sine: SIREN-style uniform init scaled by OMEGA; default: PyTorch's (the paper's code)
LOSS = "bce"  # bce: cross-entropy on logits (see the docstring); mse: squared error against 2 * occ - 1
MAX_VOXELS = 2097152  # oinr: memory bound (2^21 = 128^3 cells per step); larger grids train on tiles, exact halo
BATCH = 65536  # pointwise models (multiscale, hashgrid, MLPs): voxels per step
BAND_FRACTION = 0.5  # pointwise models: share of each batch drawn within BAND_RADIUS of the surface (0: uniform);
# on the bunny, 300 steps: 0.5 -> IoU 0.9939 with 203 predicted voxels > 2 voxels from the shape, 0.25 -> 0.9919, 40
BAND_RADIUS = 2  # pointwise models: the surface band's half-width in voxels
# optim
STEPS = 600  # Adam steps (each on one batch of voxels, the whole grid or one tile); IoU 0.99 near step 300
LR = 2e-2  # O-INR learning rate (multiscale, bunny, 300 steps, head omega 2: 1e-2 -> IoU 0.9913, 2e-2 -> 0.9939)
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at the last step
WARMUP = 0  # linear warm-up steps
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
SEED = 0  # seeds torch, numpy and python, and the tile order
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/3dvolume/<timestamp>/
LOG_EVERY = 100  # steps between metrics.csv rows (each one a no-grad prediction of the whole grid for the IoU)
CKPT_EVERY = 100  # steps between checkpoints (one is always written at the end)
RESUME = ""  # a run folder to continue to STEPS
PROGRESS = True  # tqdm progress bar

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from oinr.data.sampling import predict_points, sample_cells, surface_band  # noqa: E402
from oinr.data.surface import preview, save_surface  # noqa: E402
from oinr.data.tiling import predict_tiled, tile_at, tile_side_for, tiles_for  # noqa: E402
from oinr.data.volume import is_occupancy, load_volume  # noqa: E402
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, fit_config, open_run, setup  # noqa: E402
from oinr.fit.loop import fit  # noqa: E402
from oinr.fit.memory import check_points_fit, check_volume_fits, peak_memory_mb  # noqa: E402
from oinr.fit.restore import image_meta  # noqa: E402
from oinr.metrics import iou, mse  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.function import set_fit_grid  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import resolve_path  # noqa: E402
from oinr.plots import curves  # noqa: E402


def occupancy(out):  # network output -> occupancy in [0, 1]
    return torch.sigmoid(out) if LOSS == "bce" else to_unit(out)


def volume_loss(out, y):
    return F.binary_cross_entropy_with_logits(out, y) if LOSS == "bce" else torch.mean((out - y) ** 2)


def model_step_points(vol):
    """(loss_fn, predict) for a model with a pointwise read-out: BATCH voxels per step (oinr/data/sampling.py)."""
    shape = tuple(vol.shape)
    target = vol.flatten() if LOSS == "bce" else vol.flatten() * 2 - 1  # (cells,)
    band = surface_band(vol, BAND_RADIUS)  # (n_band,) flat indices near the surface

    def loss_fn(m, step):
        idx = sample_cells(target.numel(), band, BATCH, BAND_FRACTION, step, SEED)  # (BATCH,)
        return volume_loss(m.forward_points(idx, shape)[:, 0], target[idx])

    return loss_fn, lambda m: predict_points(m, shape)


def model_step_tiles(model, vol, device):
    """((loss_fn, predict), tiles) for a full-grid conv model: the whole grid, or one tile per step."""
    cl = torch.channels_last_3d  # about 2x faster 3D convs on a CPU, harmless on a GPU
    model.to(memory_format=cl)
    shape = tuple(vol.shape)
    radius = model.receptive_radius()
    side = tile_side_for(shape, MAX_VOXELS, radius)  # None: the whole grid fits in one step
    tiles = tiles_for(shape, side or max(shape), radius)
    check_volume_fits(model, shape, max(tiles, key=lambda t: t.voxels).shape, device)  # before allocating
    grid = model.make_input(shape).contiguous(memory_format=cl)  # (1, C_in, D, H, W)
    target = vol[None, None].contiguous(memory_format=cl)  # (1, 1, D, H, W)
    if LOSS == "mse":
        target = target * 2 - 1

    def predict(m):  # (1, 1, D, H, W), equal to m(grid) whether tiled or not
        return m(grid) if side is None else predict_tiled(m, grid, side, radius)

    def loss_fn(m, step):  # one tile per step, chosen from the step alone so a resumed run visits the same tiles
        t = tile_at(tiles, step, SEED)
        out = m(grid[(..., *t.crop)])[(..., *t.inner)]  # (1, 1, *tile)
        return volume_loss(out, target[(..., *t.interior)])

    return (loss_fn, predict), tiles


def main():
    cfg = configure(globals())
    check(LOSS in ("bce", "mse"), f"--loss must be bce or mse, got {LOSS!r}")
    check(MAX_VOXELS > 0, f"--max_voxels must be > 0, got {MAX_VOXELS}")
    check(BATCH > 0, f"--batch must be > 0, got {BATCH}")
    check(0 <= BAND_FRACTION <= 1, f"--band_fraction must be in [0, 1], got {BAND_FRACTION}")
    check(BAND_RADIUS >= 0, f"--band_radius must be >= 0, got {BAND_RADIUS}")
    # data: occupancy (or density) in [0, 1]
    vol = load_volume(resolve_path(DATA), RESOLUTION, KEY, SURFACE_ONLY)  # (D, H, W)
    shape = tuple(vol.shape)

    # model
    device = setup(cfg)
    if str(MODEL).lower() == "hashgrid" and not cfg.get("HASH_MAX_RES"):  # resolved here so config.json holds it
        cfg["HASH_MAX_RES"] = max(shape)
    model = build_model(cfg, 3, 1).to(device)
    set_fit_grid(model, shape)  # the grid that defines the function (the multiscale model's coarse grid)
    vol_dev = vol.to(device)  # (D, H, W), the one copy on the device
    pointwise = hasattr(model, "forward_points")  # trains on batches of voxels; else on the whole grid or tiles
    if pointwise:
        check_points_fit(model, shape, BATCH, device)  # before allocating
        fit_step, tiles = model_step_points(vol_dev), []
    else:
        check(hasattr(model, "receptive_radius"), f"--model={MODEL} has neither a receptive radius to tile by "
              "nor a pointwise read-out")  # fmt: skip
        fit_step, tiles = model_step_tiles(model, vol_dev, device)
    run, ckpt = open_run(cfg, "3dvolume", device)
    kind = "occupancy" if is_occupancy(vol) else "density"
    per_step = (f"{BATCH} voxels ({BAND_FRACTION:.0%} near the surface)" if pointwise else
                "the whole grid" if len(tiles) == 1 else f"one of {len(tiles)} tiles")  # fmt: skip
    print(f"volume {resolve_path(DATA)}: {'x'.join(map(str, shape))} {kind}, mean {vol.mean():.1%}; "
          f"{n_params(model)} parameters on {device}, {per_step} per step")  # fmt: skip
    loss_fn, predict = fit_step

    def evaluate(m, loss):
        return {"iou": iou(occupancy(predict(m))[0, 0], vol_dev)}

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
