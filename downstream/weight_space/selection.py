"""Re-make the weight-space choices on the validation split and print them: the fit, then the classifiers.

Every candidate is scored on the validation split, the last VAL training images (fit_dataset.py --val), and
trained on the TRAIN training images before them; no test image is loaded. First the fit: every combination
of GRID (fit_dataset.py header names: architecture, lazy scale, solver, Adam lr and steps, ...) is fitted
under each init seed of SEEDS and scored by CRITERION on its weights (the mean over the seeds). Then the
classifiers on the chosen fit's weights, and on the pixels, each on its own: every combination of
CLASSIFIER_GRID (classify.py header names; K for the kNN, the others for the MLP), again the mean over the
init seeds. The last JSON line holds the choices; the settings of the README's table: RESULTS.md.

python downstream/weight_space/selection.py --data=mnist --val=10000 \\
    --grid="SOLVER=adam,LAZY_SCALE=0,LR=2e-3|5e-3|2e-2,STEPS=50|150"
"""

# data
DATA = "digits"  # digits (shipped), mnist, fashion-mnist (data/prepare.py), or a folder of IDX files
TRAIN = 0  # the first TRAIN training images before the validation split (0: all of them)
VAL = 300  # the last VAL training images: the validation split every choice is made on
# choices
GRID = ""  # fit_dataset.py settings, "NAME=a|b,NAME=c" ('|' between choices, every combination; "": its header)
SEEDS = (0, 1, 2)  # init seeds every fit setting is fitted under; scores are means over them
CRITERION = "knn"  # knn (the paper's protocol: k = classes) or mlp (classify.py's header): what picks the fit
CLASSIFIER_GRID = "HIDDEN=(256,256)|(512,512),DROPOUT=0.2|0.3,EPOCHS=30|40"  # classify.py settings, as GRID
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
THREADS = 0  # torch threads (0: torch's default)
# output
OUT = "results"  # results root; the run goes to OUT/weight_space_select/<timestamp>/
PROGRESS = False  # progress bars of the fits

import itertools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.classifiers import MLPConfig, knn_accuracy, mean_sd, mlp_accuracy  # noqa: E402
from oinr.downstream.weightspace import (  # noqa: E402
    check_settings,
    dataset_images,
    fit_images,
    header_grid,
    init_model,
    mean_image_init,
    scored_rows,
)
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check, finish  # noqa: E402
from oinr.fit.runs import MetricsLog, new_run_dir, pick_device, write_config  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

FIT = REPO_ROOT / "downstream" / "weight_space" / "fit_dataset.py"
CLASSIFY = REPO_ROOT / "downstream" / "weight_space" / "classify.py"
COLUMNS = ["candidate", "time_s", "stage", "settings", "accuracy", "accuracy_sd", "per_seed"]


def label(settings: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in settings.items()) or "(header)"


def main():
    cfg = configure(globals())
    check(VAL > 0 and TRAIN >= 0 and len(SEEDS) > 0, "--val must be > 0, --train >= 0, --seeds not empty")
    check(CRITERION in ("knn", "mlp"), f"--criterion must be knn or mlp, got {CRITERION!r}")
    device = pick_device(DEVICE)
    if THREADS > 0:
        torch.set_num_threads(THREADS)
    fit_base, cls_base = script_defaults(FIT), script_defaults(CLASSIFY)
    fits = header_grid(GRID, fit_base, "--grid")
    classifiers = header_grid(CLASSIFIER_GRID, cls_base, "--classifier_grid")
    data = {"DATA": DATA, "LIMIT_TRAIN": TRAIN, "VAL": VAL, "LIMIT_TEST": 0}
    own = sorted({k for f in fits for k in f} & {"DATA", "LIMIT_TRAIN", "LIMIT_TEST", "VAL", "SEED", "SEEDS"})
    check(not own, f"--grid: {', '.join(own)} are this script's own settings (--data, --train, --val, --seeds)")
    for f in fits:  # every candidate checked before anything is fitted
        check_settings({**fit_base, **f, **data})
    images, labels, split, index, classes = dataset_images({**fit_base, **data})
    tr, va, _ = scored_rows(split, index, {"VAL": VAL})  # training and validation networks; no test image
    y = labels.numpy()
    run = new_run_dir(OUT, "weight_space_select")
    write_config(run, cfg, device)
    log = MetricsLog(run / "metrics.csv", COLUMNS)
    print(f"{DATA}: {tr.sum()} training / {va.sum()} validation images, {len(fits)} fit settings x init seeds "
          f"{list(SEEDS)}, then {len(classifiers)} classifier settings; device {device}", flush=True)  # fmt: skip
    t0, n = time.perf_counter(), itertools.count()

    def score(x, settings: dict) -> float:  # one classifier's validation accuracy on features x (N, F)
        c = {**cls_base, **settings}
        if "K" in settings:  # the kNN
            return knn_accuracy(x[tr], y[tr], x[va], y[va], int(c["K"]) or len(classes))[0]
        return mlp_accuracy(x[tr], y[tr], x[va], y[va], len(classes), MLPConfig.from_header(c), device)[0]

    def record(stage: str, settings: dict, scores: list) -> tuple:
        mean, sd = mean_sd(scores)
        log.append({"candidate": next(n), "time_s": time.perf_counter() - t0, "stage": stage,
                    "settings": label(settings), "accuracy": mean, "accuracy_sd": sd,
                    "per_seed": " ".join(f"{s:.4f}" for s in scores)})  # fmt: skip
        print(f"{stage:12s} {label(settings):56s} {mean:.4f} +- {sd:.4f} (over {len(scores)})", flush=True)
        return mean, sd

    # the fit: every setting under every init seed, scored by CRITERION on the weights
    by = {"K": 0} if CRITERION == "knn" else {}  # the paper's kNN, or classify.py's MLP
    best = None
    for f in fits:
        weights = []
        for seed in SEEDS:
            fcfg = {**fit_base, **f, **data, "SEED": seed}
            model = init_model(fcfg)
            if fcfg["MEAN_INIT_STEPS"] > 0:
                model = mean_image_init(fcfg, model, images[tr], fcfg["MEAN_INIT_STEPS"])
            weights.append(fit_images(fcfg, model, images, device, PROGRESS)["weights"].double().numpy())
        mean, sd = record("fit", f, [score(w, by) for w in weights])
        if best is None or mean > best[0]:
            best = (mean, sd, f, weights)
    # the classifiers: on the chosen fit's weights (every init seed) and on the pixels, chosen apart; the kNN's
    # K and the MLP's settings apart
    knns = list({json.dumps(c["K"]): {"K": c["K"]} for c in classifiers if "K" in c}.values())
    mlps = list({label(m): m for c in classifiers if (m := {k: v for k, v in c.items() if k != "K"})}.values())
    pixels = images.reshape(len(images), -1).double().numpy()  # (N, H*W)
    choice = {"fit": best[2], "fit_accuracy": best[0], "fit_accuracy_sd": best[1], "criterion": CRITERION}
    for features, xs in (("weights", best[3]), ("pixels", [pixels])):
        for kind, grid in (("knn", knns), ("mlp", mlps)):
            top = None
            for c in grid:
                mean, sd = record(f"{features} {kind}", c, [score(x, c) for x in xs])
                if top is None or mean > top[0]:
                    top = (mean, sd, c)
            if top is not None:
                choice.update({f"{features}_{kind}": top[2], f"{features}_{kind}_accuracy": top[0],
                               f"{features}_{kind}_accuracy_sd": top[1]})  # fmt: skip
    finish(run, **choice, scored="validation", n_train=int(tr.sum()), n_val=int(va.sum()), seeds=list(SEEDS),
           data=str(DATA), candidates=len(fits) + 2 * (len(knns) + len(mlps)), wall_time_s=time.perf_counter() - t0,
           device=str(device))  # fmt: skip


if __name__ == "__main__":
    cli(main)
