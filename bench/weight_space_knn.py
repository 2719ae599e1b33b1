"""Benchmark: what makes the O-INR weight space usable by kNN; one fit setting per call, many read-outs.

Fits fit_dataset.py's networks (its header, with --set overrides) to the first TRAIN training images of DATA
and to its validation split (the last VAL training images; fit_dataset.py --val), then scores on that
validation split, never on a test image (this benchmark is for choosing): the paper's plain kNN (Euclidean,
k = classes, on the flattened weights), kNN variants that apply one fixed feature map to every network alike
(per-weight standardisation with training-set statistics, per-layer scaling, cosine distance on the offsets
from the shared init, the last conv only), classify.py's MLP on the weights, and kNN / MLP on the pixels.
With several init SEEDS every read-out is the mean over them, with its sd beside (``<name>_sd``). Prints one
JSON line per call (and appends it to LOG). Timings depend on the machine and its load.

    python bench/weight_space_knn.py [--train=1000 --val=500] [--seeds=0,1,2] [--set="LR=5e-3,TARGET_PSNR=99"]

--set takes NAME=value pairs of fit_dataset.py's header (a TARGET_PSNR above reach gives a fixed step count).
"""

# data
DATA = "mnist"  # mnist (data/prepare.py), fashion-mnist, digits, or a folder of IDX files
TRAIN = 1000  # the first TRAIN training images
VAL = 500  # the last VAL training images: the validation split every read-out is scored on
# run
SET = ""  # fit_dataset.py header overrides, "NAME=value,NAME=value"
SEEDS = (0,)  # init seeds (fit_dataset.py's SEED): read-outs as mean and sd over them
MEAN_INIT_STEPS = 0  # > 0: first fit the shared init to the training set's mean image for this many steps
NAME = ""  # label of this variant in the output
THREADS = 0  # torch threads (0: torch's default)
# output
LOG = ""  # a .jsonl file to append the result to ("" : print only)
SAVE = ""  # a .safetensors file for the first seed's fitted weights, init, labels and split ("": none)

import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from oinr.downstream.classifiers import MLPConfig, knn_accuracy, mean_sd, mlp_accuracy, standardise  # noqa: E402
from oinr.downstream.weightspace import (  # noqa: E402
    dataset_images,
    fit_images,
    header_overrides,
    init_model,
    layout,
    mean_image_init,
    scored_rows,
)
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

FIT = REPO_ROOT / "downstream" / "weight_space" / "fit_dataset.py"
CLASSIFY = REPO_ROOT / "downstream" / "weight_space" / "classify.py"


def readouts(w: np.ndarray, init: np.ndarray, lay: list, tr, te, y, k: int) -> dict:
    """kNN accuracies (trained on rows `tr`, scored on rows `te`) of the plain weights and of fixed feature maps
    applied to every network alike."""

    def knn(x, metric="euclidean"):
        return knn_accuracy(x[tr], y[tr], x[te], y[te], k, metric)[0]

    d = w - init  # (N, P) offsets from the shared init
    z = np.empty_like(w)
    z[tr], z[te] = standardise(w[tr], w[te])  # training-set statistics only
    blocks, o = [], 0
    for _, shape in lay:
        n = int(np.prod(shape))
        blocks.append(slice(o, o + n))
        o += n
    # per-layer: each layer's offsets divided by their RMS over the training networks (layers count equally)
    per_layer = np.concatenate([d[:, s] / (np.sqrt((d[tr][:, s] ** 2).mean()) + 1e-12) for s in blocks], 1)
    res = {"knn_plain": knn(w), "knn_zscore": knn(z), "knn_layer_scaled": knn(per_layer),
           "knn_cosine_offset": knn(d, "cosine")}  # fmt: skip
    for (name, _), s in zip(lay, blocks):  # one layer alone (named_parameters order: 'last' is the output conv)
        res[f"knn_only_{name.replace('.weight', '')}"] = knn(w[:, s])
    return res


def main():
    configure(globals())
    check(TRAIN > 0 and VAL > 0 and len(SEEDS) > 0, "--train and --val must be > 0, --seeds not empty")
    if THREADS > 0:
        torch.set_num_threads(THREADS)
    base = script_defaults(FIT)
    cfg = {**base, **header_overrides(SET, base), "DATA": DATA, "LIMIT_TRAIN": TRAIN, "VAL": VAL}
    check(not (MEAN_INIT_STEPS > 0 and cfg["LAZY_SCALE"] > 0), "--mean_init_steps needs --set=LAZY_SCALE=0,SOLVER=adam")
    images, labels, split, index, classes = dataset_images(cfg)
    tr, va, _ = scored_rows(split, index, cfg)  # training networks, validation networks (no test image loaded)
    y, k = labels.numpy(), len(classes)
    mlp = MLPConfig.from_header(script_defaults(CLASSIFY))  # classify.py's header
    runs = []
    for seed in SEEDS:
        scfg = {**cfg, "SEED": seed}
        model = init_model(scfg)
        t0 = time.perf_counter()
        if MEAN_INIT_STEPS > 0:
            model = mean_image_init(scfg, model, images[tr], MEAN_INIT_STEPS)
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = fit_images(scfg, model, images, "cpu")
        wall = time.perf_counter() - t0
        w = out["weights"].double().numpy()  # (N, P)
        init = torch.cat([p.detach().flatten() for p in model.parameters()]).double().numpy()  # (P,)
        res = readouts(w, init, layout(model), tr, va, y, k)
        res["mlp_weights"] = mlp_accuracy(w[tr], y[tr], w[va], y[va], k, mlp)[0]
        dist = np.sqrt(((w - init) ** 2).sum(1))
        runs.append({**res, "mean_psnr": float(out["psnr"].mean()), "min_psnr": float(out["psnr"].min()),
                     "mean_steps": float(out["steps"].float().mean()), "fields_per_s": len(w) / wall,
                     "init_s": t_init, "offset_norm": float(dist.mean()),
                     "init_norm": float(np.sqrt((init**2).sum()))})  # fmt: skip
        if SAVE and len(runs) == 1:
            from oinr.downstream.weight_files import save_tensors

            tensors = {"weights": out["weights"], "init": torch.as_tensor(init).float(), "labels": labels,
                       "split": split, "psnr": out["psnr"]}  # fmt: skip
            save_tensors(SAVE, tensors, {"layout": json.dumps(layout(model))})
    pix = images.reshape(len(images), -1).double().numpy()  # (N, H*W): the same for every init seed
    pixels = {"knn_pixels": knn_accuracy(pix[tr], y[tr], pix[va], y[va], k)[0],
              "mlp_pixels": mlp_accuracy(pix[tr], y[tr], pix[va], y[va], k, mlp)[0]}  # fmt: skip
    row = {"name": NAME or SET or "default", "set": SET, "mean_init_steps": MEAN_INIT_STEPS, "scored": "validation",
           "train": int(tr.sum()), "val": int(va.sum()), "seeds": list(SEEDS)}  # fmt: skip
    for key in runs[0]:
        row[key], sd = mean_sd(r[key] for r in runs)
        if len(runs) > 1:
            row[f"{key}_sd"] = sd
    row.update(pixels, load=open("/proc/loadavg").read().split()[0])
    line = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    print(line, flush=True)
    if LOG:
        with open(LOG, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    cli(main)
