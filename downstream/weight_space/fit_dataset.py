"""Fit one small O-INR per image of a whole data set, many at once, into one file of weight vectors.

The weight-space experiment of Pal et al., "Implicit Representations via Operator Learning" (ICML 2024):
every network starts from the same initialisation, is fitted to one image, and its flattened weights become
one row of ``weights.safetensors`` (with labels, PSNRs, steps, a reached flag, the split and the config; see
`oinr.downstream.weightspace`). classify.py reads it.

python downstream/weight_space/fit_dataset.py [--data=mnist --chunk=1024] [--resume=<run folder>]

The default fit (SOLVER 'gauss-newton'). A network's field is LAZY_SCALE * (net - init), the centred
model of lazy training (Chizat, Oyallon & Bach, NeurIPS 2019): zero at the init, and with a large scale the
weights need to move only ~1/LAZY_SCALE, where the network is nearly linear in them. Its linearisation at
the shared init, LAZY_SCALE * J (theta - theta_0), is the same for every image, so the Gauss-Newton step
theta - theta_0 = J^+ y / LAZY_SCALE (the minimum-norm exact fit of the linearised network) needs one
pseudo-inverse for the whole data set, and each chunk's fit is one matrix product. The network itself is
then evaluated: a network its step leaves below TARGET_PSNR is refined with up to REFINE_STEPS Adam steps
and flagged (reached=False) if it still falls short. Because the step is linear in the image, distances
between the weight vectors are distances between images under the metric (J J^T)^-1 (the inverse of the
network's neural tangent kernel on the grid): kNN on the weights behaves like kNN on the pixels, and no
longer drops the further a fit travels from the init, as the Adam fits below did. SOLVER 'adam' (with
LAZY_SCALE 0, the plain field) is the earlier fit, kept for comparison.

Measured on full MNIST (60k / 10k; 2026-12-01, 2-core CPU): the default fits all 70,000 networks in 28.6-37.9 s
(two runs; the shared map's 2.5 s included), mean PSNR 43.96 dB, every one past 39.7 dB (none
refined); kNN on the weights 96.60%, classify.py's MLP 98.77% (pixels: 96.65%, 98.28%). Widths 8-8:
22.6 s (map not counted), 42.44 dB, 96.43%, 98.83%.

Architecture: chosen by kNN on the weights in a validation split (the first 50k training images against
the last 10k), scored by the linearised metric above (y^T (J J^T)^-1 y, which matched the fitted weights'
kNN to 0.01%). SEED 0 unless named:

| 5x5 kernels | validation kNN | | 3x3 kernels | validation kNN |
|---|---|---|---|---|
| widths 8-8-8 (default), seeds 0 / 1 / 2 | 96.98 / 96.43 / 96.52% | | widths 16-16 | 96.41% |
| widths 8-8, seeds 0 / 1 / 2 | 96.65 / 96.24 / 96.29% | | widths 32-32 (10,016 weights) | 96.63% |
| widths 8-8-8-8 | 96.40% | | widths 8-8-8 | 96.67% |
| widths 8-8-8-8-8 | 96.74% | | | |
| widths 6-6-6 | 95.84% | | | |
| widths 8-8, first omega 30 / 5 | 96.29 / 96.58% | | | |

Over three seeds 8-8-8 averages 96.64% against 96.39% for 8-8. The seed moves one architecture by as much
as the architectures differ. On the test split 8-8 scored 96.43 / 96.06 / 96.12% for seeds 0 / 1 / 2.

The data set (train, then test) is cut into chunks of CHUNK images; each chunk is one batched fit
(`oinr.models.ensemble.Ensemble` in `oinr.fit.loop.fit`) written to ``chunks/chunk_NNNNN.safetensors`` as soon as
it is done. A killed run continues with ``--resume=<run folder>``: the chunks already written are kept and
the result equals an uninterrupted run (a chunk's fit depends only on the shared init and its images).

Distributed (torch.distributed; gloo on CPU, NCCL on GPU, each process on cuda:LOCAL_RANK):

    torchrun --nproc_per_node=N downstream/weight_space/fit_dataset.py --data=mnist
    # several nodes: the same command on every node, with
    torchrun --nnodes=2 --node_rank=<0|1> --nproc_per_node=8 \\
        --rdzv_backend=c10d --rdzv_endpoint=<host of node 0>:29500 --rdzv_id=<any shared id> \\
        downstream/weight_space/fit_dataset.py --data=mnist --out=<a folder every node sees>

Rank r fits chunks r, r + W, r + 2W, ... (W processes in all); rank 0 creates the run folder, waits for
every chunk and merges them into the one file. Without torchrun it runs as one process. OUT must be on
a file system every node shares.

The Adam fits (SOLVER 'adam', LAZY_SCALE 0), measured before the solver above existed, with widths 16-16 and
3x3 kernels: architecture for 28x28 (MNIST, 128 networks per batch, 2-core CPU under load): widths 16-16,
3x3 kernels with a 1x1 first conv, 4 octaves (the most below a 28-px grid's Nyquist), first-layer
omega 10, lr 2e-2 with cosine decay over 100 steps: every network past 30 dB by step 60 (mean 31.6 dB
at step 60, 33.8 dB at 100). One 32-wide hidden layer with 5x5 kernels reached 30 dB in fewer steps (~45)
but cost ~3x more per step (a grouped conv with one output channel per group is slow on the CPU);
widths 12-12 stalled at 25 dB; 8-8 with 5x5 kernels was close (30.9 dB at 60 steps) at similar cost.

Fit setting for kNN on the weights (bench/weight_space_knn.py; MNIST, first 300 train / 150 test images, plain
Euclidean kNN k=10 on the flattened weights; kNN on the pixels 72.0%): lr 2e-2 stopping at 30 dB (~52 steps,
32.6 dB) gave 52.0%; lr 1e-2 for 100 steps 60.7% (35.2 dB); lr 5e-3 for 100 steps 64.0% (31.3 dB, min 29.4);
lr 5e-3 for 150 steps 62.7% (37.3 dB, min 35.3); lr 2e-3 for 50 steps 73.3% but only 14.4 dB. The better kNN
goes with fits that stay nearer the shared init (mean offset norm 3.2 against 6.5 at lr 2e-2; init norm 7.9).
First omega 2: 65.3% at 28.5 dB (no gain); PyTorch's default init: 39.3%; starting every fit from a network
fitted to the mean training image (MEAN_INIT_STEPS): 60.7% plain at 33.0 dB (lr 2e-2), 52.0% at 42.9 dB (lr
5e-3), so no gain for plain kNN. Hence lr 5e-3, 150 steps (every field past 30 dB), no early stop. Cosine
distance on the offsets from the init: 70-72% (classify.py's column). On 1000 train / 500 test: lr 5e-3 for
100 steps 73.4% plain (cosine 75.2%, MLP 86.2%, 31.3 dB) against 61.4% for lr 2e-2 stopping at 30 dB; kNN on
the pixels 80.0%. The default (lr 5e-3, 150 steps) on 1000 / 500, 2026-12-01: plain 70.2% (cosine 73.4%, MLP
86.0%) at 37.4 dB, 9.1 fields/s on the 2-core CPU.

OPTIMIZER = 'sgd' tests whether an update linear in the gradients (no per-weight normalisation as in Adam)
keeps the weight offsets a near-linear image of the pixels, for kNN (same 1000 / 500, momentum 0.9, 150
steps): lr 0.05 gave plain 71.2% at 29.3 dB (min 27.1), lr 0.1 54.4% at 31.5 dB, lr 1 diverged. No gain
over Adam: the further the fits go from the shared init, the worse kNN on the weights, whatever the optimiser.
"""

# data
DATA = "digits"  # digits (sklearn 8x8, shipped), mnist, fashion-mnist (data/prepare.py), or a folder of IDX files
LIMIT_TRAIN = 0  # 0: every training image; N: the first N (quick runs)
LIMIT_TEST = 0  # 0: every test image; N: the first N
# encoding
OCTAVES = 4  # sin/cos octaves per axis; 4 is the most below a 28-px grid's Nyquist (3 for 8x8 digits)
# model
MODEL = "oinr"  # oinr, or siren (a 2-32-32-1 MLP with HIDDEN = 32, LAYERS = 2: the weight-space data sets' INR)
WIDTHS = (8, 8, 8)  # hidden conv widths (3,528 weights per network with the kernels below)
KERNEL = 5  # odd kernel of the hidden and output convs
FIRST_KERNEL = 1  # first conv 1x1 (on a sin/cos grid a k x k first conv equals a 1x1 one, oinr/models/conv.py)
FIRST_OMEGA = 10.0  # sine frequency of the first activation
OMEGA = 1.0  # sine frequency of the hidden activations
BIAS = False  # conv biases (the paper: none)
INIT = "sine"  # sine (SIREN-style, scaled by OMEGA) or default (PyTorch's; far worse for kNN, see above)
MEAN_INIT_STEPS = 0  # > 0: the shared init is first fitted to the training set's mean image for this many steps
HIDDEN = 32  # siren only: hidden width
LAYERS = 2  # siren only: hidden layers
# optim
SOLVER = "gauss-newton"  # gauss-newton (one Gauss-Newton step at the shared init, then REFINE_STEPS) or adam (STEPS)
LAZY_SCALE = 64.0  # alpha: a network's field is alpha * (net - init) (centred; 0: the plain net, adam only)
REFINE_STEPS = 100  # gauss-newton: Adam steps for the networks its step leaves below TARGET_PSNR (0: none)
REFINE_LR = 1e-4  # gauss-newton: their lr (OPTIMIZER) (a centred field's weights move ~1/LAZY_SCALE)
STEPS = 150  # adam: steps per network (the cosine schedule spans it; 100 leaves some fields at 29.4 dB)
TARGET_PSNR = 30.0  # dB on [0, 1]; networks below it are flagged (reached=False)
STOP_AT_TARGET = False  # adam: True: a network stops once it reaches TARGET_PSNR (checked every LOG_EVERY steps)
LR = 5e-3  # adam: lr for oinr (2e-2 reaches 30 dB sooner but kNN on weights drops 64% -> 52%, see above)
BASELINE_LR = 0.0  # > 0: the learning rate of a baseline MODEL (0: its tuned registry value)
OPTIMIZER = "adam"  # adam, or sgd with momentum 0.9 (an update linear in the gradients; no kNN gain, see above)
SCHEDULE = "cosine"  # constant, cosine or exp decay to LR * FINAL_LR_RATIO at STEPS
FINAL_LR_RATIO = 0.01  # end of the decay as a fraction of LR
CHUNK = 512  # networks per batched fit (memory ~ CHUNK * widths * H * W floats; larger is faster until it spills)
SEED = 0  # seeds the one shared initialisation
DEVICE = "auto"  # auto (CUDA if present; cuda:LOCAL_RANK under torchrun), cpu, cuda, cuda:N
THREADS = 0  # torch threads per process (0: torch's default; torchrun sets 1 per process)
# output
OUT = "results"  # results root; the run goes to OUT/weight_space/<timestamp>/
LOG_EVERY = 5  # steps between PSNR checks (the stop criterion)
RESUME = ""  # a run folder to continue: its written chunks are kept
PROGRESS = True  # tqdm progress bar per chunk

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from oinr.downstream.weightspace import (  # noqa: E402
    FORMAT,
    check_run_fits,
    dataset_images,
    fingerprint,
    fit_chunk,
    gauss_newton_map,
    init_model,
    layout,
    load_tensors,
    mean_image_init,
    render,
    save_tensors,
    step_limit,
)
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, setup  # noqa: E402
from oinr.fit.runs import MetricsLog, new_run_dir, write_config  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.plots import image_grid  # noqa: E402

COLUMNS = ["chunk", "time_s", "fields", "mean_psnr", "min_psnr", "unreached", "mean_steps"]


def check_config(cfg: dict) -> None:
    check(cfg["TARGET_PSNR"] > 0, f"--target_psnr must be > 0 dB, got {cfg['TARGET_PSNR']}")
    check(cfg["CHUNK"] > 0, f"--chunk must be > 0, got {cfg['CHUNK']}")
    check(cfg["LIMIT_TRAIN"] >= 0 and cfg["LIMIT_TEST"] >= 0, "--limit_train / --limit_test must be >= 0")
    check(cfg["SOLVER"] in ("adam", "gauss-newton"), f"--solver must be adam or gauss-newton, got {cfg['SOLVER']!r}")
    check(cfg["SOLVER"] == "adam" or cfg["LAZY_SCALE"] > 0, "--solver=gauss-newton needs --lazy_scale > 0")
    check(cfg["LAZY_SCALE"] >= 0 and cfg["REFINE_STEPS"] >= 0, "--lazy_scale and --refine_steps must be >= 0")
    check(cfg["SOLVER"] == "adam" or cfg["REFINE_STEPS"] == 0 or cfg["REFINE_LR"] > 0, "--refine_lr must be > 0")
    check(
        not (cfg["LAZY_SCALE"] > 0 and cfg["MEAN_INIT_STEPS"] > 0),
        "--mean_init_steps needs --lazy_scale=0: a centred field starts at zero whatever the init is fitted to",
    )


def chunk_path(run: Path, c: int) -> Path:
    return run / "chunks" / f"chunk_{c:05d}.safetensors"


def read_chunk(path: Path, fp: str, n: int) -> dict | None:
    """A written chunk when it belongs to this config and has `n` networks; None when it is absent."""
    if not path.is_file():
        return None
    t, meta = load_tensors(path)
    if meta.get("fingerprint") != fp or len(t.get("weights", ())) != n:
        raise UserError(f"{path} was written under another configuration; resume with the run's own settings")
    return t


def fields_figure(run: Path, cfg: dict, images, tensors: dict, shape) -> None:
    """figures/fields.png: targets and the fields their networks represent, the worst PSNRs and a few others."""
    psnr = tensors["psnr"]
    order = torch.argsort(psnr)
    pick = torch.tensor(list(dict.fromkeys([*order[:5].tolist(), *range(min(5, len(psnr)))])))  # in order, no repeats
    rendered = render(cfg, tensors["weights"][pick], shape, init=tensors["init"])
    titles = [f"#{int(i)} {float(psnr[i]):.1f} dB" for i in pick]
    rows = {"target": list(images[pick]), "field": list(rendered)}
    image_grid(rows, run / "figures" / "fields.png", titles, "the 5 lowest PSNRs, then the first networks")


def init_distributed(device) -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timedelta(hours=12))  # rank 0 waits for every shard at the merge
    return dist.get_rank(), world


def main():
    cfg = configure(globals())
    check_config(cfg)
    device = setup(cfg)
    if THREADS > 0:
        torch.set_num_threads(THREADS)
    # data
    images, labels, split, index, classes = dataset_images(cfg)
    n, h, w = images.shape
    # model: the one shared initialisation
    model = init_model(cfg)
    if MEAN_INIT_STEPS > 0:  # deterministic, so every torchrun rank computes the same shared init
        model = mean_image_init(cfg, model, images[split == 0], MEAN_INIT_STEPS)
    check_run_fits(cfg, model, n, (h, w), device)  # before any folder is made or any network fitted
    fp = fingerprint(cfg)
    # the Gauss-Newton map at the shared init: the same for every image, so computed once (by every rank alike)
    if SOLVER == "gauss-newton" and n_params(model) < h * w:
        then = f"go on to --refine_steps={REFINE_STEPS}" if REFINE_STEPS else "are flagged (--refine_steps=0)"
        print(f"note: {n_params(model)} weights for {h * w} pixels: the Gauss-Newton step is a least-squares fit, "
              f"not an exact one; networks below {TARGET_PSNR} dB {then}")  # fmt: skip
    chunks = list(range((n + CHUNK - 1) // CHUNK))

    rank, world = init_distributed(device)
    # output: rank 0 opens (or reopens) the run folder and tells the others where it is
    run = None
    if rank == 0:
        if RESUME:
            run = Path(RESUME)
            check((run / "config.json").is_file(), f"--resume: {run} is not a run folder (no config.json)")
        else:
            run = new_run_dir(OUT, "weight_space")
        (run / "chunks").mkdir(exist_ok=True)
        write_config(run, cfg, device)
    if world > 1:
        box = [str(run) if run else None]
        dist.broadcast_object_list(box, src=0)
        run = Path(box[0])
    mine = chunks[rank::world]
    print(f"rank {rank}/{world}: {DATA} {n} images {h}x{w} in {len(chunks)} chunks of <= {CHUNK}, {len(mine)} "
          f"here; {MODEL} with {n_params(model)} weights per network, device {device}", flush=True)  # fmt: skip

    # fit: this rank's chunks that are not written yet
    t0 = time.perf_counter()
    fitted, gn = 0, None
    for c in mine:
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        if read_chunk(chunk_path(run, c), fp, hi - lo) is not None:
            continue
        if SOLVER == "gauss-newton" and gn is None:  # the same for every chunk (and every rank): computed once
            gn = gauss_newton_map(cfg, model, (h, w), device)
        t = time.perf_counter()
        out = fit_chunk(cfg, model, images[lo:hi], device, progress=PROGRESS, gn_map=gn)
        save_tensors(chunk_path(run, c), out, {"fingerprint": fp, "start": lo, "stop": hi})
        fitted += hi - lo
        print(f"rank {rank}: chunk {c + 1}/{len(chunks)}: {hi - lo} fields in {time.perf_counter() - t:.1f} s, "
              f"mean PSNR {out['psnr'].mean():.2f} dB, mean steps {out['steps'].float().mean():.1f}, "
              f"{int((~out['reached']).sum())} below target", flush=True)  # fmt: skip
    elapsed = time.perf_counter() - t0  # the Gauss-Newton map included
    if world > 1:
        dist.barrier()
        times = [None] * world
        dist.all_gather_object(times, (fitted, elapsed))
        dist.destroy_process_group()
        if rank != 0:
            return
        fitted, elapsed = sum(f for f, _ in times), max(e for _, e in times)

    # merge: every chunk, in order, into the one file
    parts = [read_chunk(chunk_path(run, c), fp, min(n, (c + 1) * CHUNK) - c * CHUNK) for c in chunks]
    check(all(p is not None for p in parts), f"chunks missing in {run / 'chunks'}; resume the run to fit them")
    cat = lambda k: torch.cat([p[k] for p in parts])
    tensors = {"weights": cat("weights"), "psnr": cat("psnr"), "steps": cat("steps"), "reached": cat("reached"),
               "labels": labels, "split": split, "index": index,
               "init": torch.cat([p.detach().cpu().flatten() for p in model.parameters()])}  # fmt: skip
    meta = {"format": FORMAT, "config": json.dumps(cfg), "fingerprint": fp, "layout": json.dumps(layout(model)),
            "shape": json.dumps([h, w]), "classes": json.dumps(classes)}  # fmt: skip
    save_tensors(run / "weights.safetensors", tensors, meta)
    log = MetricsLog(run / "metrics.csv", COLUMNS)
    if not MetricsLog.read(log.path):
        for c, p in zip(chunks, parts):
            log.append({"chunk": c, "time_s": elapsed, "fields": len(p["psnr"]), "mean_psnr": float(p["psnr"].mean()),
                        "min_psnr": float(p["psnr"].min()), "unreached": int((~p["reached"]).sum()),
                        "mean_steps": float(p["steps"].float().mean())})  # fmt: skip
    psnr, reached = tensors["psnr"], tensors["reached"]
    fields_figure(run, cfg, images, tensors, (h, w))
    if not reached.all():
        print(f"note: {int((~reached).sum())} of {n} networks ended below {TARGET_PSNR} dB at their step limit "
              "(flagged as reached=False in the file and the summary)")  # fmt: skip
    finish(run, file=str(run / "weights.safetensors"), fields=n, n_train=int((split == 0).sum()),
           n_test=int((split == 1).sum()), mean_psnr=float(psnr.mean()), min_psnr=float(psnr.min()),
           unreached=int((~reached).sum()), mean_steps=float(tensors["steps"].float().mean()),
           n_params=n_params(model), steps=step_limit(cfg),
           fields_fitted_now=fitted, wall_time_s=elapsed,
           fields_per_s=fitted / elapsed if fitted else None, processes=world, device=str(device), model=MODEL,
           data=str(DATA), size=[h, w])  # fmt: skip


if __name__ == "__main__":
    cli(main)
