"""Fit one small O-INR per image of a whole data set, many at once, into one file of weight vectors.

The weight-space experiment of Pal et al., "Implicit Representations via Operator Learning" (ICML 2024):
every network starts from the same initialisation, is fitted to one image, and its flattened weights become
one row of ``weights.safetensors`` (with labels, PSNRs, steps, a reached flag, the split and the config; see
`oinr.downstream.weightspace`). classify.py reads it.

python downstream/weight_space/fit_dataset.py [--data=mnist] [--val=10000] [--seeds=0,1,2] [--resume=<run folder>]

The default fit (SOLVER 'gauss-newton'): a network's field is LAZY_SCALE * (net - init), the centred model of
lazy training (Chizat, Oyallon & Bach, NeurIPS 2019), fitted by one Gauss-Newton step at the shared init that
every image shares (`oinr.downstream.weightspace`; RESULTS.md says why kNN on the weights then works);
networks left below TARGET_PSNR get up to REFINE_STEPS Adam steps. SOLVER 'adam' (LAZY_SCALE 0) is the earlier fit.
Measurements, the architecture table (chosen on a validation split) and the Adam and SGD fits: RESULTS.md,
section "Weight space: the fit's measurements".

The data set (train, then test; with VAL, train then the validation split and no test image) is cut into
chunks of CHUNK images; each chunk is one batched fit (`oinr.models.ensemble.Ensemble` in `oinr.fit.loop.fit`)
written to ``chunks/chunk_NNNNN.safetensors`` as soon as it is done; metrics.csv has a row per chunk (time_s:
the fit time when it ended). A killed run continues with ``--resume=<run folder>`` (config.json kept, the
resume logged in resumes.json): the chunks already written are kept and the result equals an uninterrupted
run (a chunk's fit depends only on the shared init and its images). With SEEDS each init seed is one such
fit into ``seed_<s>/`` (classify.py reads them all and reports mean and sd).

Distributed (torch.distributed; gloo on CPU, NCCL on GPU, each process on cuda:LOCAL_RANK):

    torchrun --nproc_per_node=N downstream/weight_space/fit_dataset.py --data=mnist
    # several nodes: the same command on every node, with
    torchrun --nnodes=2 --node_rank=<0|1> --nproc_per_node=8 \\
        --rdzv_backend=c10d --rdzv_endpoint=<host of node 0>:29500 --rdzv_id=<any shared id> \\
        downstream/weight_space/fit_dataset.py --data=mnist --out=<a folder every node sees>

Rank r fits chunks r, r + W, r + 2W, ... (W processes in all); rank 0 creates the run folder, waits for
every chunk and merges them into the one file. Without torchrun it runs as one process. OUT must be on
a file system every node shares.
"""

# data
DATA = "digits"  # digits (sklearn 8x8, shipped), mnist, fashion-mnist (data/prepare.py), or a folder of IDX files
LIMIT_TRAIN = 0  # 0: every training image; N: the first N (quick runs)
LIMIT_TEST = 0  # 0: every test image; N: the first N
VAL = 0  # N > 0: the last N training images are a validation split (LIMIT_TRAIN counts the images before them)
# and the test split is not fitted: a run for choosing settings (selection.py, classify.py score it); 0: off
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
SEEDS = ()  # several init seeds, fitted one after another, each into seed_<s>/ of the run (empty: SEED alone)
DEVICE = "auto"  # auto (CUDA if present; cuda:LOCAL_RANK under torchrun), cpu, cuda, cuda:N
THREADS = 0  # torch threads per process (0: torch's default; torchrun sets 1 per process)
# output
OUT = "results"  # results root; the run goes to OUT/weight_space/<timestamp>/
LOG_EVERY = 5  # steps between PSNR checks (the stop criterion)
RESUME = ""  # a run folder to continue: its written chunks are kept
PROGRESS = True  # tqdm progress bar per chunk

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.weight_files import fit_chunks, fit_seconds_so_far, merge_chunks  # noqa: E402
from oinr.downstream.weightspace import (  # noqa: E402
    check_run_fits,
    check_settings,
    dataset_images,
    init_model,
    mean_image_init,
    render,
    step_limit,
)
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.distributed import init_distributed  # noqa: E402
from oinr.fit.experiment import check, finish, record_resume, setup  # noqa: E402
from oinr.fit.runs import MetricsLog, new_run_dir, write_config  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.plots import image_grid  # noqa: E402

COLUMNS = ["chunk", "seed", "time_s", "chunk_s", "fields", "mean_psnr", "min_psnr", "unreached", "mean_steps"]


def fields_figure(out: Path, cfg: dict, images, tensors: dict, shape) -> None:
    """Targets and the fields their networks represent: the worst PSNRs and a few others."""
    psnr = tensors["psnr"]
    order = torch.argsort(psnr)
    pick = torch.tensor(list(dict.fromkeys([*order[:5].tolist(), *range(min(5, len(psnr)))])))  # in order, no repeats
    rendered = render(cfg, tensors["weights"][pick], shape, init=tensors["init"])
    titles = [f"#{int(i)} {float(psnr[i]):.1f} dB" for i in pick]
    rows = {"target": list(images[pick]), "field": list(rendered)}
    image_grid(rows, out, titles, "the 5 lowest PSNRs, then the first networks")


def main():
    cfg = configure(globals())
    check_settings(cfg)
    device = setup(cfg)
    if THREADS > 0:
        torch.set_num_threads(THREADS)
    # data
    images, labels, split, index, classes = dataset_images(cfg)
    n, h, w = images.shape
    seeds = list(SEEDS) or [SEED]
    shared = init_model(cfg)  # the architecture (each init seed builds its own init below)
    p = n_params(shared)
    try:  # before any folder is made or any network fitted; counts the processes on this host
        check_run_fits(cfg, shared, n, (h, w), device)
        refusal = None
    except UserError as e:
        refusal = str(e)
    if SOLVER == "gauss-newton" and p < h * w:
        then = f"go on to --refine_steps={REFINE_STEPS}" if REFINE_STEPS else "are flagged (--refine_steps=0)"
        print(f"note: {p} weights for {h * w} pixels: the Gauss-Newton step is a least-squares fit, "
              f"not an exact one; networks below {TARGET_PSNR} dB {then}")  # fmt: skip
    chunks = list(range((n + CHUNK - 1) // CHUNK))

    group = init_distributed(device)  # under torchrun: this rank's GPU made current before the group starts
    group.agree(refusal)  # every rank refuses alike (none waits for a rank that left)
    rank, world, device = group.rank, group.world, group.device

    def open_folder():  # rank 0 opens (or reopens) the run folder; the others are told where it is
        if RESUME:  # config.json stays the run's original record; what this resume changed goes to resumes.json
            run = Path(RESUME)
            check((run / "config.json").is_file(), f"--resume: {run} is not a run folder (no config.json)")
            record_resume(run, cfg, device)
        else:
            run = new_run_dir(OUT, "weight_space")
            write_config(run, cfg, device)
        for s in seeds:
            (run / (f"seed_{s}" if SEEDS else "") / "chunks").mkdir(parents=True, exist_ok=True)
        return str(run), fit_seconds_so_far(run)  # the fit time its written chunks already took

    run, spent = group.on_rank_zero(open_folder)
    run, mine = Path(run), chunks[rank::world]
    print(f"rank {rank}/{world}: {DATA} {n} images {h}x{w} in {len(chunks)} chunks of <= {CHUNK}, {len(mine)} "
          f"here; {MODEL} with {p} weights per network, init seeds {seeds}, device {device}", flush=True)  # fmt: skip

    # fit: per init seed, this rank's chunks that are not written yet; rank 0 merges each seed's file
    t0 = time.perf_counter()
    fitted, merged = 0, []
    for s in seeds:
        scfg, folder = {**cfg, "SEED": s}, run / (f"seed_{s}" if SEEDS else "")
        model = init_model(scfg)
        if MEAN_INIT_STEPS > 0:  # deterministic, so every torchrun rank computes the same shared init
            model = mean_image_init(scfg, model, images[split == 0], MEAN_INIT_STEPS)
        clock = lambda: spent + time.perf_counter() - t0  # noqa: E731  # the fit time, earlier sessions included
        fitted += fit_chunks(scfg, folder, model, images, mine, device, clock, PROGRESS, f"rank {rank}: seed {s} ")
        group.gather(None)  # every rank's chunks of this seed are written
        if rank == 0:  # merge: every chunk, in order, into the seed's one file
            tensors, rows = merge_chunks(folder, scfg, model, chunks, n, (labels, split, index, classes), (h, w))
            name = f"fields_seed{s}.png" if SEEDS else "fields.png"
            fields_figure(run / "figures" / name, scfg, images, tensors, (h, w))
            merged.append((s, folder, tensors, rows))
    done = group.gather((fitted, time.perf_counter() - t0))  # every rank's (fields fitted, seconds)
    group.close()
    if rank != 0:
        return
    fitted, elapsed = sum(f for f, _ in done), max(e for _, e in done)  # the Gauss-Newton maps included

    (run / "metrics.csv").unlink(missing_ok=True)  # one row per chunk and seed, from the chunks themselves
    log = MetricsLog(run / "metrics.csv", COLUMNS)
    for s, _, _, rows in merged:
        for row in rows:
            log.append({**row, "seed": s})
    psnr = torch.stack([t["psnr"] for _, _, t, _ in merged])  # (seeds, n)
    reached, steps = torch.stack([t["reached"] for _, _, t, _ in merged]), [t["steps"] for _, _, t, _ in merged]
    if not reached.all():
        print(f"note: {int((~reached).sum())} of {reached.numel()} networks ended below {TARGET_PSNR} dB at their "
              "step limit (flagged as reached=False in the file and the summary)")  # fmt: skip
    files = [str(f / "weights.safetensors") for _, f, _, _ in merged]
    finish(run, file=files[0] if not SEEDS else files, seeds=seeds, fields=n, n_train=int((split == 0).sum()),
           n_val=int((split == 2).sum()), n_test=int((split == 1).sum()), mean_psnr=float(psnr.mean()),
           mean_psnr_per_seed=psnr.mean(1).tolist(), min_psnr=float(psnr.min()), unreached=int((~reached).sum()),
           mean_steps=float(torch.cat(steps).float().mean()), n_params=p, steps=step_limit(cfg),
           fields_fitted_now=fitted, wall_time_s=elapsed, fields_per_s=fitted / elapsed if fitted else None,
           processes=world, device=str(device), model=MODEL, data=str(DATA), size=[h, w])  # fmt: skip


if __name__ == "__main__":
    cli(main)
