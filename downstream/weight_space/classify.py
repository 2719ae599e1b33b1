"""Classify images by the weights of their fitted O-INRs, beside the same classifiers on the raw pixels.

The paper's protocol (Pal et al., ICML 2024, weight-space experiment): a k-nearest-neighbour classifier
(scikit-learn, Euclidean, k = number of classes) on the flattened weight vectors of the networks fitted by
fit_dataset.py, trained on the training split's networks and scored on the test split's. Beside it a
learned classifier on the weights (an MLP on per-weight standardised vectors), and the same kNN and MLP on
the raw pixels of the same images: the reference that says what the weights add. One more kNN column,
not the paper's protocol: cosine distance on the offsets from the shared init (weights minus the file's
``init``, the same fixed map for every network). On the earlier Adam fits it measured 70-72% where plain
kNN gave 52-64% on an MNIST subset (bench/weight_space_knn.py); on the default Gauss-Newton fits the two
are within 0.1% (full MNIST: 96.66% against 96.60%).

python downstream/weight_space/classify.py --data=<run folder or weights.safetensors> [--epochs=30]

Writes summary.json (knn_accuracy, knn_cosine_accuracy, classifier_accuracy, knn_pixels_accuracy,
classifier_pixels_accuracy, n_train, n_test, mean_psnr, unreached, ...), metrics.csv (the MLP's epochs)
and figures/confusion.png.
"""

# data
DATA = ""  # a fit_dataset.py run folder, its weights.safetensors, or a root holding runs (the newest)
# model
K = 0  # kNN neighbours; 0: the number of classes (the paper's protocol)
HIDDEN = (512, 512)  # hidden widths of the MLP classifier (weights and pixels alike)
DROPOUT = 0.3  # dropout after each hidden layer
# optim
EPOCHS = 40  # passes over the training networks (MNIST validation split: 256-256, 0.2, 30 epochs 98.47%; these 98.65%)
LR = 1e-3  # AdamW learning rate (cosine decay to 1% over EPOCHS)
WEIGHT_DECAY = 1e-4  # AdamW weight decay
BATCH = 256  # minibatch size
SEED = 0  # seeds the classifier's init and batch order
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/weight_space_classify/<timestamp>/
PROGRESS = True  # tqdm progress bar

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.classifiers import MLPConfig, knn_accuracy, mlp_accuracy, mlp_params  # noqa: E402
from oinr.downstream.weight_files import load_fitted  # noqa: E402
from oinr.downstream.weightspace import dataset_images  # noqa: E402
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, setup  # noqa: E402
from oinr.fit.runs import MetricsLog, new_run_dir, progress, write_config  # noqa: E402

COLUMNS = ["epoch", "time_s", "features", "loss", "train_accuracy"]


def fitted_file(data: Path) -> Path:
    """The weights.safetensors of a run folder, or the newest one under a results root (reproduce.py)."""
    if not data.is_dir() or (data / "weights.safetensors").is_file():
        return data / "weights.safetensors" if data.is_dir() else data
    found = sorted(data.glob("**/weights.safetensors"), key=lambda f: f.stat().st_mtime)
    check(bool(found), f"{data} holds no weights.safetensors; run downstream/weight_space/fit_dataset.py first")
    return found[-1]


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
    check(EPOCHS > 0 and BATCH > 0 and K >= 0, "--epochs and --batch must be > 0, --k >= 0")
    device = setup({**cfg, "STEPS": 1})
    # data: the fitted networks, and the images they were fitted to (checked against each other)
    path = fitted_file(Path(DATA))
    t, fcfg = load_fitted(path)
    images, labels, split, index, classes = dataset_images(fcfg)
    if len(labels) != len(t["labels"]) or not torch.equal(labels, t["labels"]) or not torch.equal(split, t["split"]):
        raise UserError(f"{path}: its labels do not match {fcfg['DATA']} under its own limits; "
                        "the file was made from other data or has been altered")  # fmt: skip
    tr, te = (split == 0).numpy(), (split == 1).numpy()
    check(tr.any() and te.any(), f"{path} needs networks of both splits (train {tr.sum()}, test {te.sum()})")
    y = labels.numpy()
    weights = t["weights"].double().numpy()  # (N, P)
    pixels = images.reshape(len(images), -1).double().numpy()  # (N, H*W)
    k = K or len(classes)
    mlp = MLPConfig.from_header(cfg)
    run = new_run_dir(OUT, "weight_space_classify")
    write_config(run, cfg, device)
    log = MetricsLog(run / "metrics.csv", COLUMNS)
    psnr, reached = t["psnr"], t["reached"]
    print(f"{path}: {tr.sum()} train / {te.sum()} test networks of {weights.shape[1]} weights, mean PSNR "
          f"{psnr.mean():.2f} dB, {int((~reached).sum())} below the target; kNN k={k}, device {device}")  # fmt: skip

    # classify: the paper's kNN and the MLP, on the weights and on the pixels
    t0 = time.perf_counter()
    res = {}
    for name, x in (("weights", weights), ("pixels", pixels)):
        res[f"knn_{name}"] = knn_accuracy(x[tr], y[tr], x[te], y[te], k)
        res[f"mlp_{name}"] = mlp_accuracy(x[tr], y[tr], x[te], y[te], len(classes), mlp, device,
                                          lambda row: log.append({**row, "features": name}),  # noqa: B023
                                          lambda r: progress(r, f"mlp on {name}", PROGRESS))  # noqa: B023  # fmt: skip
        print(f"{name}: kNN {res[f'knn_{name}'][0]:.4f}, MLP {res[f'mlp_{name}'][0]:.4f}", flush=True)
    offsets = weights - t["init"].double().numpy()  # (N, P) each network's move from the shared init
    res["knn_cosine"] = knn_accuracy(offsets[tr], y[tr], offsets[te], y[te], k, metric="cosine")
    print(f"weights: kNN on cosine distance of the offsets from the init {res['knn_cosine'][0]:.4f}", flush=True)

    # save
    acc = res["mlp_weights"][0]
    confusion_figure(y[te], res["mlp_weights"][1], classes, run / "figures" / "confusion.png",
                     f"MLP on O-INR weights, {fcfg['DATA']} test ({acc:.2%})")  # fmt: skip
    confusion_figure(y[te], res["knn_weights"][1], classes, run / "figures" / "confusion_knn.png",
                     f"kNN (k={k}) on O-INR weights, {fcfg['DATA']} test ({res['knn_weights'][0]:.2%})")  # fmt: skip
    finish(run, knn_accuracy=res["knn_weights"][0], knn_cosine_accuracy=res["knn_cosine"][0], classifier_accuracy=acc,
           knn_pixels_accuracy=res["knn_pixels"][0], classifier_pixels_accuracy=res["mlp_pixels"][0],
           n_train=int(tr.sum()), n_test=int(te.sum()), n_weights=int(weights.shape[1]), k=k, classifier="mlp",
           mean_psnr=float(psnr.mean()), min_psnr=float(psnr.min()), unreached=int((~reached).sum()),
           fitted_file=str(path), data=str(fcfg["DATA"]), model=fcfg.get("MODEL"), epochs=EPOCHS,
           steps=EPOCHS, n_params=mlp_params(weights.shape[1], len(classes), tuple(HIDDEN)),
           wall_time_s=time.perf_counter() - t0, device=str(device))  # fmt: skip


if __name__ == "__main__":
    cli(main)
