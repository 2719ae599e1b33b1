"""Classify images by the weights of their fitted O-INRs, beside the same classifiers on the raw pixels.

The paper's protocol (Pal et al., ICML 2024, weight-space experiment): a k-nearest-neighbour classifier
(scikit-learn, Euclidean, k = number of classes) on the flattened weight vectors of the networks fitted by
fit_dataset.py, trained on the training split's networks and scored on the test split's. Beside it a
learned classifier on the weights (an MLP on per-weight standardised vectors), and the same kNN and MLP on
the raw pixels of the same images: the reference that says what the weights add. One more kNN column,
not the paper's protocol: cosine distance on the offsets from the shared init (weights minus the file's
``init``, the same fixed map for every network). Classifiers: `oinr.downstream.classifiers`.

Selection never reads the test split: with --val=N (or a file fitted with --val=N) the classifiers score the
validation split, the last N training images, and train on the training networks before them.
Several init seeds (a run of fit_dataset.py --seeds=0,1,2, or several files) and several classifier seeds
(--seeds) give every accuracy as mean and sd (``*_sd``) over them.

python downstream/weight_space/classify.py --data=<run folder or weights.safetensors> [--val=10000] [--seeds=0,1,2]

Writes summary.json (knn_accuracy, knn_cosine_accuracy, classifier_accuracy, knn_pixels_accuracy,
classifier_pixels_accuracy, each with its _sd, scored, n_train, n_test, n_val, per_file, ...), metrics.csv
(the MLPs' epochs) and figures/confusion.png.
"""

# data
DATA = ""  # a fit_dataset.py run folder (all its seed_<s>/ files), a weights.safetensors, several comma-separated,
# or a root holding runs (the newest)
VAL = 0  # N > 0: score the last N training networks (validation split), never the test split; 0: the test split
# (a file fitted with --val=N is scored on its validation split)
# model
K = 0  # kNN neighbours; 0: the number of classes (the paper's protocol)
HIDDEN = (512, 512)  # hidden widths of the MLP classifier (weights and pixels alike)
DROPOUT = 0.3  # dropout after each hidden layer
# optim
EPOCHS = 40  # passes over the training networks (MNIST validation split: 256-256, 0.2, 30 epochs 98.47%; these 98.65%)
LR = 1e-3  # AdamW peak learning rate (one cycle: 10% warm-up, cosine decay)
WEIGHT_DECAY = 1e-4  # AdamW weight decay
BATCH = 256  # minibatch size
SEED = 0  # seeds the classifier's init and batch order
SEEDS = ()  # several classifier seeds: the MLPs' accuracy as mean and sd over them (empty: SEED alone)
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/weight_space_classify/<timestamp>/
PROGRESS = True  # tqdm progress bar

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.classifiers import MLPConfig, knn_accuracy, mean_sd, mlp_accuracy, mlp_params  # noqa: E402
from oinr.downstream.weight_files import fingerprint, load_fitted  # noqa: E402
from oinr.downstream.weightspace import dataset_images, scored_rows  # noqa: E402
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, setup  # noqa: E402
from oinr.fit.runs import MetricsLog, new_run_dir, progress, write_config  # noqa: E402

COLUMNS = ["epoch", "time_s", "features", "file", "seed", "loss", "train_accuracy"]


def fitted_files(data: str) -> list[Path]:
    """The weights.safetensors files DATA names: files, run folders (every seed_<s>/ of a run of several init
    seeds), comma-separated; a root holding runs gives its newest run's (reproduce.py)."""
    out = []
    for part in filter(None, (p.strip() for p in data.split(","))):
        path = Path(part)
        seeds = sorted(path.glob("seed_*/weights.safetensors"), key=lambda f: int(f.parent.name[5:]))
        if not path.is_dir() or (path / "weights.safetensors").is_file():
            out.append(path / "weights.safetensors" if path.is_dir() else path)
        elif seeds:
            out += seeds
        else:
            found = sorted(path.glob("**/weights.safetensors"), key=lambda f: f.stat().st_mtime)
            check(bool(found), f"{path} holds no weights.safetensors; run downstream/weight_space/fit_dataset.py first")
            newest = found[-1]
            out += fitted_files(str(newest.parent.parent if newest.parent.name.startswith("seed_") else newest))
    return out


def confusion_figure(y, pred, classes, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(6.5, 6))
    ConfusionMatrixDisplay.from_predictions(y, pred, labels=list(range(len(classes))), display_labels=classes,
                                            ax=ax, colorbar=False, xticks_rotation=45)  # fmt: skip
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main():
    cfg = configure(globals())
    check(bool(DATA), "give the fitted file: --data=<fit_dataset.py run folder or weights.safetensors>")
    check(EPOCHS > 0 and BATCH > 0 and K >= 0 and VAL >= 0, "--epochs and --batch must be > 0, --k and --val >= 0")
    device = setup({**cfg, "STEPS": 1})
    # data: the fitted networks (one file per init seed), and the images they were fitted to (checked against them)
    paths = fitted_files(DATA)
    files = [load_fitted(p) for p in paths]
    fcfg = files[0][1]
    images, labels, split, index, classes = dataset_images(fcfg)
    for path, (t, c) in zip(paths, files):
        if fingerprint({**c, "SEED": 0}) != fingerprint({**fcfg, "SEED": 0}):
            raise UserError(f"{path} was fitted under other settings than {paths[0]} (beyond the init seed); "
                            "classify one configuration at a time")  # fmt: skip
        if (
            len(labels) != len(t["labels"])
            or not torch.equal(labels, t["labels"])
            or not torch.equal(split, t["split"])
        ):
            raise UserError(f"{path}: its labels do not match {fcfg['DATA']} under its own limits; "
                            "the file was made from other data or has been altered")  # fmt: skip
    tr, sc, scored = scored_rows(split, index, fcfg, VAL)
    check(tr.any() and sc.any(), f"{paths[0]} needs training and {scored} networks (train {tr.sum()}, {sc.sum()})")
    y, k = labels.numpy(), K or len(classes)
    pixels = images.reshape(len(images), -1).double().numpy()  # (N, H*W)
    mlps = [MLPConfig.from_header(cfg, seed=s) for s in (SEEDS or [SEED])]
    run = new_run_dir(OUT, "weight_space_classify")
    write_config(run, cfg, device, fitted_files=[str(p) for p in paths])
    log = MetricsLog(run / "metrics.csv", COLUMNS)
    used = torch.as_tensor(tr | sc)  # the networks read (with a validation split, no test network)
    psnr = torch.stack([t["psnr"][used] for t, _ in files])  # (files, N_used)
    reached = torch.stack([t["reached"][used] for t, _ in files])
    print(f"{len(paths)} file(s), init seeds {[c.get('SEED') for _, c in files]}: {tr.sum()} train / {sc.sum()} "
          f"{scored} networks of {files[0][0]['weights'].shape[1]} weights, mean PSNR {psnr.mean():.2f} dB, "
          f"{int((~reached).sum())} below the target; kNN k={k}, MLP seeds {[m.seed for m in mlps]}, "
          f"device {device}")  # fmt: skip

    # classify: the paper's kNN and the MLP, on the weights of every file and on the pixels
    t0 = time.perf_counter()

    def mlp(x, m, name, file):
        log_row = lambda row: log.append({**row, "time_s": time.perf_counter() - t0, "features": name,  # noqa: E731
                                          "file": file, "seed": m.seed})  # fmt: skip
        bar = lambda r: progress(r, f"mlp on {name} (seed {m.seed})", PROGRESS)  # noqa: E731
        return mlp_accuracy(x[tr], y[tr], x[sc], y[sc], len(classes), m, device, log_row, bar)

    res = {key: [] for key in ("knn_weights", "knn_cosine", "mlp_weights", "knn_pixels", "mlp_pixels")}
    for i, (t, _) in enumerate(files):
        w = t["weights"].double().numpy()  # (N, P)
        offsets = w - t["init"].double().numpy()  # (N, P) each network's move from the shared init
        res["knn_weights"].append(knn_accuracy(w[tr], y[tr], w[sc], y[sc], k))
        res["knn_cosine"].append(knn_accuracy(offsets[tr], y[tr], offsets[sc], y[sc], k, metric="cosine"))
        res["mlp_weights"] += [mlp(w, m, "weights", i) for m in mlps]
        print(f"{paths[i]}: kNN {res['knn_weights'][-1][0]:.4f}, kNN cosine {res['knn_cosine'][-1][0]:.4f}, "
              f"MLP {', '.join(f'{a:.4f}' for a, _ in res['mlp_weights'][-len(mlps) :])}", flush=True)  # fmt: skip
    res["knn_pixels"].append(knn_accuracy(pixels[tr], y[tr], pixels[sc], y[sc], k))
    res["mlp_pixels"] += [mlp(pixels, m, "pixels", "") for m in mlps]
    acc = {key: mean_sd(a for a, _ in v) for key, v in res.items()}
    print(f"pixels: kNN {acc['knn_pixels'][0]:.4f}, MLP {acc['mlp_pixels'][0]:.4f}", flush=True)

    # save
    for key, what in (("mlp_weights", "MLP"), ("knn_weights", f"kNN (k={k})")):
        a, pred = res[key][0]
        name = "confusion.png" if key == "mlp_weights" else "confusion_knn.png"
        confusion_figure(y[sc], pred, classes, run / "figures" / name,
                         f"{what} on O-INR weights, {fcfg['DATA']} {scored} ({a:.2%}, first file, seed)")  # fmt: skip
    summary = {}
    for name, key in (("knn_accuracy", "knn_weights"), ("knn_cosine_accuracy", "knn_cosine"),
                      ("classifier_accuracy", "mlp_weights"), ("knn_pixels_accuracy", "knn_pixels"),
                      ("classifier_pixels_accuracy", "mlp_pixels")):  # fmt: skip
        summary[name], summary[f"{name}_sd"] = acc[key]
    per_file = [{"file": str(p), "init_seed": c.get("SEED"), "knn_accuracy": res["knn_weights"][i][0],
                 "classifier_accuracy": [a for a, _ in res["mlp_weights"][i * len(mlps) : (i + 1) * len(mlps)]]}
                for i, (p, (_, c)) in enumerate(zip(paths, files))]  # fmt: skip
    finish(run, **summary, scored=scored, n_train=int(tr.sum()), n_test=int(sc.sum()) if scored == "test" else 0,
           n_val=int(sc.sum()) if scored == "validation" else 0, init_seeds=len(files), classifier_seeds=len(mlps),
           per_file=per_file, n_weights=int(files[0][0]["weights"].shape[1]), k=k, classifier="mlp",
           mean_psnr=float(psnr.mean()), min_psnr=float(psnr.min()), unreached=int((~reached).sum()),
           fitted_file=str(paths[0]), data=str(fcfg["DATA"]), model=fcfg.get("MODEL"), epochs=EPOCHS, steps=EPOCHS,
           n_params=mlp_params(files[0][0]["weights"].shape[1], len(classes), tuple(HIDDEN)),
           wall_time_s=time.perf_counter() - t0, device=str(device))  # fmt: skip


if __name__ == "__main__":
    cli(main)
