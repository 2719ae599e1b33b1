"""Reproduce the paper's comparisons, O-INR beside the usual INR baselines, into results/REPORT.md.

    python reproduce.py                          # --scale=quick: all rows on a 2-core CPU, under 30 minutes
    python reproduce.py --scale=paper            # the paper's settings, for a GPU
    python reproduce.py --only=image/camera      # only the rows whose id starts with this (comma-separated)
    python reproduce.py --report_only=true       # rebuild REPORT.md from the saved summary.json files

Each row runs an experiment script in a subprocess into ``OUT/reproduce/<row id>/`` (its usual run
folder, config.json and all), so every number in the report can be traced to the run that made it.
At quick scale every method gets the same wall-time budget: its step count is planned on this machine
just before the run by the one timed fit's warm-up and probe (`oinr.fit.timed.probe`, on the loss the script
trains), and the baselines are sized to O-INR's parameter count. The scripts take a step count, not a time
budget, so a row has no hard stop at SECONDS: its summary's wall_time_s says how close it came. A row whose loss
diverges is reported as diverged; a failing row does not stop the others.
"""

# settings
SCALE = "quick"  # quick (2-core CPU) or paper (the paper's settings, a GPU)
ONLY = ""  # comma-separated row-id prefixes, e.g. image/camera/oinr,denoise
OUT = "results"  # results root: rows go to OUT/reproduce/, the report to OUT/REPORT.md
SECONDS = 60.0  # quick scale: the training wall-time budget of each row (19 rows: about 25 minutes)
REPORT_ONLY = False  # True: only rebuild the report from saved runs
ASSETS = False  # True: also redraw the README's figures in asset/ from the saved runs (small PNGs)
DEVICE = "auto"  # passed to every row

import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.image import build_image_model, subpixel_loss  # noqa: E402
from oinr.fit.runs import MetricsLog, pick_device  # noqa: E402
from oinr.fit.timed import probe  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.function import set_fit_grid  # noqa: E402
from oinr.models.registry import model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402
from oinr.plots import xy_plot  # noqa: E402

MODELS = ["oinr", "siren", "wire", "gauss", "ffn", "finer"]  # the denoising tables; the image table adds multiscale
CONV_2D, CONV_3D = REPO_ROOT / "2dimage" / "conv.py", REPO_ROOT / "3dvolume" / "conv.py"  # the conv O-INR presets
IMAGES = {"camera": "data/camera.png", "kodim23": "data/kodim23.png"}
TRAIN, DENOISE = REPO_ROOT / "2dimage" / "train.py", REPO_ROOT / "2dimage" / "denoise.py"


@dataclass
class Row:
    id: str  # table/signal/method
    table: str
    script: Path
    args: list = field(default_factory=list)
    paper: str | dict = "—"  # the paper's number for this row, or {column: number} for columns of their own
    budget: tuple | None = None  # (header cfg, channels, (H, W)): steps calibrated to SECONDS just before the run
    steps_from: str | None = None  # a row id whose summary's oracle_best_step becomes this row's --steps


@dataclass
class Table:
    title: str
    columns: list  # summary.json keys shown after method / params / steps / time / device
    note: str = ""


TABLES = {
    "image": Table(
        "Image fitting (PSNR against the target)",
        ["psnr", "ssim"],
        "Equal wall-time budget per row at quick scale; baselines sized to the default O-INR's parameter count "
        "(multiscale: 2dimage/train.py's default; oinr: the full-resolution conv preset 2dimage/conv.py). "
        "Each baseline "
        "runs at the best learning rate the harness knows for it (a 64 px sweep on the cameraman, "
        "oinr/models/baselines.py); siren_paper is SIREN at its paper's lr 1e-4; hashgrid is the Instant-NGP "
        "multiresolution hash grid (the peer a user picks for speed) with the power-of-two table nearest that count.",
    ),
    "denoise_select": Table(
        "Denoising, step selection on kodim23 (WIRE's noise: tau = 30 photons, readout 2)",
        ["input_psnr", "oracle_best_step", "oracle_best_psnr"],
        "Each method fitted to a noisy kodim23 for the quick budget; the step of its highest clean PSNR here "
        "becomes its step count on the cameraman (the same rule for every method; nothing is chosen on the "
        "image it is reported on).",
    ),
    "denoise": Table(
        "Denoising the cameraman (WIRE's noise, unclipped: tau = 30 photons, readout 2; PSNR against the clean image)",
        ["input_psnr", "psnr", "ssim", "oracle_best_psnr"],
        "psnr: at the step count chosen on kodim23 (table above). oracle_best_psnr: the best PSNR logged during "
        "the fit against the clean image, which no user has; for reference only.",
    ),
    "continuous": Table(
        "Resolution-free O-INR (PSNR at the training sizes, at held-out sizes, at 2x super-resolution)",
        ["psnr_train", "psnr_heldout", "psnr_super_res"],
        "2dimage/continuous.py's default: the cameraman at 48..96 px; its run folder's table.md compares discrete "
        "O-INR, bicubic and SIREN at every size.",
    ),
    "volume": Table(
        "3D occupancy (IoU at threshold 0.5)",
        ["iou", "mse", "peak_memory_mb"],
        "Quick scale: the script's default (the multiscale O-INR at 128^3, trained on voxel batches near the "
        "surface; its settings were chosen on the bunny, the Armadillo is held out) and the conv O-INR preset "
        "3dvolume/conv.py (full-grid convs at 64^3); paper scale: "
        "3dvolume/paper.py. bench/volume_fit.py compares the hash grid, SIREN and WIRE at equal time and size.",
    ),
    "video": Table(
        "Video: held-out frames (train on every FRAME_GAP-th frame, PSNR on the frames between)",
        ["psnr_train", "psnr_heldout", "psnr_heldout_blend", "psnr_heldout_siren", "frames_per_s"],
        "blend: linear blending of the two neighbouring training frames; siren: a SIREN over (x, y, t) with "
        "about O-INR's parameter count, trained for O-INR's wall time. sequence/train.py's defaults (quick) or "
        "sequence/paper.py (paper), on carphone's last 24 frames (its first 24 chose the settings).",
    ),
    "slices": Table(
        "MRI slice imputation (Colin27 T1, axial slices; MSE on the robust [0, 1] scale)",
        ["missing", "mse_train", "mse_test", "mse_test_linear", "mse_test_cubic", "mse_test_siren"],
        "A fraction of the slices dropped uniformly (both ends kept); O-INR fitted to the rest and queried at "
        "the dropped slices' positions, beside linear and cubic-spline interpolation along the slice axis and a "
        "SIREN over (x, y, z) at O-INR's size and wall time (the settings were chosen on the MNI152 template). The "
        "paper's columns are the poster's numbers on ADNI subjects, whose data use agreement forbids "
        "redistribution: they come from other scans (resolution and normalisation unknown here) and compare "
        "only in kind. Quick scale: data/ch2_2mm.nii.gz (2 mm slices); --scale=paper uses sequence/paper.py.",
    ),
    "cz": Table(
        "O-INR as a Calderon-Zygmund operator (PSNR against the target)",
        ["psnr", "ssim"],
        "The CZ O-INR (cz_operator/train.py: banded wavelet-level operators, dense coarsest level) beside the "
        "conv O-INR and SIREN (2dimage/train.py; SIREN sized to the conv O-INR's parameter count) on the same "
        "image at the same size. Quick scale: each script's defaults, equal wall time per row (steps calibrated "
        "to SECONDS); paper scale: cz_operator/paper.py and 2dimage/paper.py at the CZ preset's size.",
    ),
    "weight_space": Table(
        "Weight-space classification (one O-INR per image from one init; accuracy on the test split)",
        [
            "mean_psnr",
            "unreached",
            "n_train",
            "n_test",
            "knn_accuracy",
            "classifier_accuracy",
            "knn_pixels_accuracy",
            "classifier_pixels_accuracy",
        ],
        "fit: downstream/weight_space/fit_dataset.py; classify: classify.py on its file (kNN with k = classes, the "
        "paper's protocol, and an MLP; the same two on the raw pixels). Paper: O-INR kNN 96.57 on MNIST. Peers "
        "(learned classifiers on SIREN INR weights) MNIST / Fashion-MNIST: DWSNets 85.71 / 67.06, ScaleGMN "
        "96.59 / 80.78, MWT 98.80 / 90.43. Quick scale: sklearn's 8x8 digits; paper scale: MNIST and "
        "Fashion-MNIST (python data/prepare.py first).",
    ),
    "derivative": Table(
        "Derivatives of the represented image (per pixel; relative L2 error and correlation against a reference)",
        [
            "reference",
            "oinr_rel_err",
            "oinr_corr",
            "siren_rel_err",
            "siren_corr",
            "gauss_rel_err",
            "gauss_corr",
            "max_rel_diff_autograd",
            "time_ratio",
        ],
        "O-INR: one forward pass (analytic encoding derivative pushed through the network); "
        "SIREN, Gauss: autograd w.r.t. the input coordinates, sized to O-INR's parameter count. camera rows "
        "(downstream/derivative/derive.py): the reference is the Sobel derivative of the target; gaussians rows "
        "(analytic.py): the exact derivative of a sum of Gaussians. _smooth rows: the small low-frequency O-INR of "
        "downstream/derivative/smooth.py. max_rel_diff_autograd: one pass against reverse-mode autograd of the "
        "same network; time_ratio: the derivative pass over a plain forward pass.",
    ),
    "interpolate": Table(
        "Weight-space interpolation (two fits from one init, theta(t) = (1 - t) theta_a + t theta_b, 11 steps)",
        ["oinr_min_psnr", "siren_min_psnr", "gauss_min_psnr", "oinr_tv_ratio", "siren_tv_ratio", "gauss_tv_ratio"],
        "downstream/interpolate/interpolate.py: camera and kodim23 (gray, 64x64). min_psnr: the worst PSNR over t "
        "of the rendered theta(t) against the pixel blend (1 - t) a + t b; tv_ratio: total variation along t over "
        "the blend's (1 = as direct as the blend). different_init: the control from two seeds.",
    ),
}


# ---------------------------------------------------------------------------------------------- rows


def _header(script: Path, overrides: dict) -> dict:
    """A script's header defaults (denoise.py's on top of train.py's, as it runs) with `overrides`."""
    cfg = script_defaults(TRAIN) if script == DENOISE else {}
    cfg.update(script_defaults(script))
    cfg.update(overrides)
    return cfg


def _matched_hidden(cfg: dict, model: str, channels: int) -> int:
    """The baseline width whose parameter count matches the header's O-INR (its MODEL) in this config."""
    from oinr.models.baselines import hidden_for_budget

    budget = n_params(build_image_model(cfg, channels, "cpu"))  # the header's own O-INR (MODEL)
    return hidden_for_budget(model, 2, channels, cfg["LAYERS"], budget)


def _matched_hash(cfg: dict, channels: int, hw: tuple) -> int:
    """The hash grid's log2 table size (the header takes powers of two) whose count is nearest O-INR's."""
    from oinr.models.hashgrid import count_params

    budget = n_params(build_image_model(cfg, channels, "cpu"))  # the header's own O-INR (MODEL)
    count = lambda e: count_params(2, channels, 2**e, cfg["HASH_LEVELS"], cfg["HASH_FEATURES"], cfg["HASH_MIN_RES"],
                                   max(hw))  # fmt: skip
    return min(range(4, 25), key=lambda e: abs(math.log(count(e) / budget)))


def _calibrate_steps(cfg: dict, channels: int, hw: tuple, seconds: float, device) -> int:
    """Steps of this row's fit that fill `seconds` on this machine: the one timed fit's warm-up and probe
    (`oinr.fit.timed.probe`) on the loss the script will train (sub-pixel or on the grid), its lr and Adam."""
    torch.manual_seed(0)
    model = build_image_model(cfg, channels, device)
    set_fit_grid(model, hw)
    grid = model.make_input(hw)  # (1, C_in, H, W), as the script builds it before its loop
    y = torch.zeros(1, channels, *hw, device=device)
    factor = int(cfg.get("SUBPIXEL") or 1)
    if factor > 1:
        loss_fn = subpixel_loss(y, factor, int(cfg.get("SEED", 0)), float(cfg.get("ON_GRID") or 0.0))
    else:
        loss_fn = lambda m, step: torch.mean((m(grid) - y) ** 2)
    return max(10, int(seconds / probe(model, model_lr(cfg), loss_fn)))


def image_rows(scale: str) -> list[Row]:
    """Image fitting on the shipped images, and denoising (steps chosen on kodim23, reported on the cameraman)."""
    rows = []
    preset = [str(REPO_ROOT / "2dimage" / "paper.py")] if scale == "paper" else []
    plan = (
        ("image", TRAIN, IMAGES, None),
        ("denoise_select", DENOISE, {"kodim23": IMAGES["kodim23"]}, None),
        ("denoise", DENOISE, {"camera": IMAGES["camera"]}, "denoise_select/kodim23"),
    )
    for table, script, images, select in plan:
        for name, path in images.items():
            base = _header(script, {"DATA": path})
            if scale == "paper":
                base.update(script_defaults(REPO_ROOT / "2dimage" / "paper.py"))
            img = load_image(resolve_path(path), base["SIZE"], base["GRAY"], verbose=False)
            c, hw = img.shape[0], tuple(img.shape[1:])
            image = table == "image"
            extra = ["siren_paper", "hashgrid"] if image else []
            for model in [*(["multiscale"] if image and scale == "quick" else []), *MODELS, *extra]:
                setting = ["--baseline_setting=paper"] if model.endswith("_paper") else []
                model = model.removesuffix("_paper")
                conv = image and scale == "quick" and model == "oinr"  # the conv O-INR of the image table: its preset
                cfg = {**base, **(script_defaults(CONV_2D) if conv else {}), "MODEL": model,
                       "BASELINE_SETTING": "paper" if setting else "tuned"}  # fmt: skip
                args = [*preset, *([str(CONV_2D)] if conv else []), f"--data={path}", f"--model={model}", *setting]
                if model == "hashgrid":
                    cfg["HASH_LOG2_T"], cfg["HASH_MAX_RES"] = _matched_hash(base, c, hw), max(hw)
                    args.append(f"--hash_log2_t={cfg['HASH_LOG2_T']}")
                elif model not in ("oinr", "multiscale"):
                    cfg["HIDDEN"] = _matched_hidden(base, model, c)
                    args.append(f"--hidden={cfg['HIDDEN']}")
                budget = (cfg, c, hw) if scale == "quick" and select is None else None
                steps_from = f"{select}/{model}" if select else None
                rid = f"{table}/{name}/{model}{'_paper' if setting else ''}"
                rows.append(Row(rid, table, script, args, budget=budget, steps_from=steps_from))
    return rows


def continuous_rows(scale: str) -> list[Row]:
    """The resolution-free (continuous-kernel) O-INR: trained at several sizes, evaluated at others."""
    return [Row("continuous/camera/continuous", "continuous", REPO_ROOT / "2dimage" / "continuous.py")]


def volume_rows(scale: str) -> list[Row]:
    """Occupancy of the Stanford bunny and, held out from every tuning, the Armadillo: the multiscale default at
    128^3; the conv O-INR preset at 64^3 on the bunny."""
    script = REPO_ROOT / "3dvolume" / "train.py"
    if scale == "paper":
        return [Row("volume/bunny/oinr", "volume", script, [str(REPO_ROOT / "3dvolume" / "paper.py")])]
    return [
        Row("volume/bunny/multiscale", "volume", script),
        Row("volume/armadillo/multiscale", "volume", script, ["--data=data/armadillo.off.gz"]),
        Row("volume/bunny/oinr", "volume", script, [str(CONV_3D)]),
    ]


SEQUENCE = REPO_ROOT / "sequence" / "train.py"
# the poster's slice-imputation table (ADNI): missing fraction -> (train MSE, test MSE)
PAPER_SLICES = {0.5: ("2.17e-5", "8.33e-5"), 0.66: ("3.10e-5", "2.38e-4"), 0.75: ("1.39e-6", "4.70e-4"),
                0.8: ("1.58e-5", "7.66e-4")}  # fmt: skip


def sequence_rows(scale: str) -> list[Row]:
    """Held-out frames of the carphone clip; slice imputation on the Colin27 MRI at the poster's four fractions."""
    preset = [str(REPO_ROOT / "sequence" / "paper.py")] if scale == "paper" else []
    rows = [Row("video/carphone/oinr", "video", SEQUENCE, [*preset, "--frames=24,48"])]
    for frac, (train, test) in PAPER_SLICES.items():
        args = [*preset, "--data=data/ch2_2mm.nii.gz", f"--missing={frac}"]
        paper = {"paper mse_train": train, "paper mse_test": test}
        rows.append(Row(f"slices/ch2_{round(frac * 100)}/oinr", "slices", SEQUENCE, args, paper=paper))
    return rows


CZ = REPO_ROOT / "cz_operator" / "train.py"


def cz_rows(scale: str) -> list[Row]:
    """The CZ O-INR, the conv O-INR and SIREN on the shipped images at one size, equal wall time (quick)."""
    rows = []
    size = {**script_defaults(CZ), **(script_defaults(CZ.parent / "paper.py") if scale == "paper" else {})}["SIZE"]
    for name, path in IMAGES.items():
        for model, script in (("cz", CZ), ("oinr", TRAIN), ("siren", TRAIN)):
            preset = [str(script.parent / "paper.py")] if scale == "paper" else []
            base = _header(script, {"DATA": path})
            if scale == "paper":
                base.update(script_defaults(script.parent / "paper.py"))
            base["SIZE"] = size
            img = load_image(resolve_path(path), size, base["GRAY"], verbose=False)
            c, hw = img.shape[0], tuple(img.shape[1:])
            cfg = {**base, "MODEL": model}
            args = [*preset, f"--data={path}", f"--size={size}", *([f"--model={model}"] if script == TRAIN else [])]
            if model == "siren":
                cfg["HIDDEN"] = _matched_hidden(base, model, c)
                args.append(f"--hidden={cfg['HIDDEN']}")
            budget = (cfg, c, hw) if scale == "quick" else None
            rows.append(Row(f"cz/{name}/{model}", "cz", script, args, budget=budget))
    return rows


WEIGHT_SPACE = REPO_ROOT / "downstream" / "weight_space"
PAPER_WEIGHT_SPACE = {  # accuracy (%) on the test split: the paper's kNN on O-INR weights; peers on SIREN INRs
    "mnist": {"paper kNN": "96.57", "DWSNets": "85.71", "ScaleGMN": "96.59", "MWT": "98.80"},
    "fashion-mnist": {"DWSNets": "67.06", "ScaleGMN": "80.78", "MWT": "90.43"},
}


def weight_space_rows(scale: str) -> list[Row]:
    """Fit a data set of O-INRs, then classify by their weights (the classify row reads the fit row's file)."""
    rows = []
    for data in ["digits"] if scale == "quick" else ["mnist", "fashion-mnist"]:
        fit_out = Path(OUT).resolve() / "reproduce" / "weight_space" / data / "fit"  # where run_row puts the fit
        paper = PAPER_WEIGHT_SPACE.get(data, {})
        rows.append(Row(f"weight_space/{data}/fit", "weight_space", WEIGHT_SPACE / "fit_dataset.py", [f"--data={data}"],
                        paper={k: "—" for k in paper} or "—"))  # fmt: skip
        rows.append(Row(f"weight_space/{data}/classify", "weight_space", WEIGHT_SPACE / "classify.py",
                        [f"--data={fit_out}"], paper=paper or "—"))  # fmt: skip
    return rows


DOWNSTREAM = REPO_ROOT / "downstream"
SMOOTH = str(DOWNSTREAM / "derivative" / "smooth.py")


def downstream_rows(scale: str) -> list[Row]:
    """Derivatives in one pass (a 2dimage fit first, then Sobel and the baselines; a closed form) and weight-space
    interpolation; each script at its defaults (quick) or at the image's native size (paper)."""
    derive, analytic = DOWNSTREAM / "derivative" / "derive.py", DOWNSTREAM / "derivative" / "analytic.py"
    size, steps = ("--size=128", "--baseline_steps=300") if scale == "quick" else ("--size=0", "--baseline_steps=2000")
    return [
        Row("derivative/camera/oinr", "derivative", derive, [f"--fit_args={size}", steps]),
        Row(
            "derivative/camera_smooth/oinr",
            "derivative",
            derive,
            [f"--fit_args={SMOOTH},{size},--steps=300", "--baselines="],
        ),  # fmt: skip
        Row("derivative/gaussians/oinr", "derivative", analytic),
        Row("derivative/gaussians_smooth/oinr", "derivative", analytic, [SMOOTH]),
        Row("interpolate/camera-kodim23/same_init", "interpolate", DOWNSTREAM / "interpolate" / "interpolate.py"),
        Row(
            "interpolate/camera-kodim23/different_init",
            "interpolate",
            DOWNSTREAM / "interpolate" / "interpolate.py",
            ["--same_init=false", "--allow_different_init=true"],
        ),  # fmt: skip
    ]


# later experiments add their row builders here; each returns rows of tables registered in TABLES
ROW_BUILDERS = [image_rows, continuous_rows, volume_rows, sequence_rows, cz_rows, weight_space_rows, downstream_rows]


# ---------------------------------------------------------------------------------------------- running


def run_row(row: Row, out: Path, device, seconds: float) -> dict:
    """Run one row's script; record its status (ok, diverged, failed) beside its run folder."""
    folder = out / "reproduce" / row.id
    folder.mkdir(parents=True, exist_ok=True)
    args = list(row.args)
    if row.budget is not None:
        args.append(f"--steps={_calibrate_steps(*row.budget, seconds, device)}")
    if row.steps_from is not None:
        chosen = _selected_steps(out, row.steps_from)
        if chosen is None:
            status = {"row": row.id, "status": "failed", "paper": row.paper,
                      "message": f"no step count: row {row.steps_from} has not run or failed"}  # fmt: skip
            (folder / "status.json").write_text(json.dumps(status, indent=2))
            return status
        args.append(f"--steps={chosen}")
    cmd = [sys.executable, str(row.script), *args, f"--out={folder}", f"--device={device}", "--progress=false"]
    print(f"[{row.id}] {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    status = {"row": row.id, "command": cmd[1:], "returncode": proc.returncode, "paper": row.paper}
    if proc.returncode == 0 and lines and lines[-1].startswith("run folder: "):
        status.update(status="ok", run=lines[-1].removeprefix("run folder: "))
    else:
        err = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        status.update(status="diverged" if "loss became" in err else "failed", message=err)
    (folder / "status.json").write_text(json.dumps(status, indent=2))
    print(f"[{row.id}] {status['status']} {status.get('message', '')}", flush=True)
    return status


def _selected_steps(out: Path, row_id: str) -> int | None:
    """The oracle_best_step of a finished selection row, or None."""
    f = out / "reproduce" / row_id / "status.json"
    if not f.exists():
        return None
    st = json.loads(f.read_text())
    summary = Path(st.get("run", "")) / "summary.json"
    if st.get("status") != "ok" or not summary.exists():
        return None
    return int(json.loads(summary.read_text())["oracle_best_step"])


# ---------------------------------------------------------------------------------------------- report


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != 0 and abs(v) < 1e-3:  # MSEs: 8.33e-05, not 0.0001
            return f"{v:.3g}"
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"
    return "—" if v is None else str(v)


def collect(out: Path) -> dict:
    """Every row's status and summary, read from OUT/reproduce/*/status.json and the runs' summary.json."""
    rows = {}
    for f in sorted((out / "reproduce").glob("**/status.json")):
        st = json.loads(f.read_text())
        if st.get("status") == "ok":
            summary = Path(st["run"]) / "summary.json"
            st["summary"] = json.loads(summary.read_text()) if summary.exists() else {}
            st["metrics"] = Path(st["run"]) / "metrics.csv"
        rows[st["row"]] = st
    return rows


def write_report(out: Path) -> Path:
    rows = collect(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    lines = ["# O-INR reproduction report", "", f"Written {stamp} by `reproduce.py` (torch threads: "
             f"{torch.get_num_threads()}; each run's config.json records its machine).", ""]  # fmt: skip
    for key, table in TABLES.items():
        mine = {rid: st for rid, st in rows.items() if rid.split("/")[0] == key}
        if not mine:
            continue
        lines += [f"## {table.title}", "", table.note, ""]
        papers = [st.get("paper", "—") for st in mine.values()]
        paper_cols = list(dict.fromkeys(k for p in papers if isinstance(p, dict) for k in p))  # own columns
        with_paper = not paper_cols and any(p not in ("—", "", None) for p in papers)
        head = ["row", "method", "params", "steps", "wall time (s)", "device", *table.columns]
        head += (["paper"] if with_paper else []) + paper_cols
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for rid, st in mine.items():
            s = st.get("summary", {})
            if st["status"] != "ok":
                cells = [rid, rid.split("/")[-1], "—", "—", "—", "—", *[st["status"]] * len(table.columns)]
            else:
                method = s.get("model", rid.split("/")[-1])
                method += f" (lr {s['lr']:g}{', paper' if rid.endswith('_paper') else ''})" if "lr" in s else ""
                cells = [rid, method, s.get("n_params"), s.get("steps"), s.get("wall_time_s"), s.get("device")]
                cells += [s.get(c) for c in table.columns]
            cells += [st.get("paper", "—")] if with_paper else []
            cells += [st["paper"].get(k, "—") if isinstance(st.get("paper"), dict) else "—" for k in paper_cols]
            lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
        lines.append("")
        for signal in sorted({rid.split("/")[1] for rid in mine}):
            series = {}
            for rid, st in mine.items():
                if rid.split("/")[1] == signal and st["status"] == "ok" and Path(st["metrics"]).exists():
                    m = MetricsLog.read(st["metrics"])
                    if m and "psnr" in m[0]:
                        series[rid.split("/")[-1]] = ([float(r["time_s"]) for r in m], [float(r["psnr"]) for r in m])
            if series:
                fig = xy_plot(series, figures / f"{key}_{signal}.png", "wall time (s)", "PSNR (dB)", f"{key}: {signal}")
                lines += [f"![{key} {signal}](figures/{fig.name})", ""]
    report = out / "REPORT.md"
    report.write_text("\n".join(lines))
    return report


def _small_png(src: Path, dst: Path, width: int = 900) -> None:
    """Copy a figure into asset/ at most `width` pixels wide, as a palette PNG (a few tens of KB)."""
    from PIL import Image

    im = Image.open(src).convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def write_assets(out: Path, asset: Path = REPO_ROOT / "asset") -> list[Path]:
    """The README's figures, redrawn from the saved runs: PSNR against wall time for every method on the
    cameraman, the (multiscale) O-INR fit with its error map, the denoising strip, the resolution-transfer strip, the
    3D preview (the multiscale O-INR at 128^3) and the weight-space fields (MNIST where that row ran, else the 8x8
    digits). Rows that have not run are skipped (and named)."""
    rows = collect(out)
    asset.mkdir(exist_ok=True)
    written = []
    series = {}
    for rid, st in rows.items():
        if rid.startswith("image/camera/") and st["status"] == "ok" and Path(st["metrics"]).exists():
            m = MetricsLog.read(st["metrics"])
            series[rid.split("/")[-1]] = ([float(r["time_s"]) for r in m], [float(r["psnr"]) for r in m])
    if series:
        tmp = out / "figures" / "asset_psnr_time.png"
        xy_plot(series, tmp, "wall time (s)", "PSNR (dB)", "cameraman 256x256, equal wall time (2-core CPU)")
        _small_png(tmp, asset / "psnr_vs_time.png")
        written.append(asset / "psnr_vs_time.png")
    figures = {  # asset: (figure, the rows that draw it, the first that ran wins)
        "fit.png": ("reconstruction.png", ["image/camera/multiscale"]),
        "denoise.png": ("denoise.png", ["denoise/camera/oinr"]),
        "resolution_transfer.png": ("super_resolution.png", ["continuous/camera/continuous"]),
        "volume.png": ("preview.png", ["volume/bunny/multiscale"]),
        "weight_space_fields.png": ("fields.png", ["weight_space/mnist/fit", "weight_space/digits/fit"]),
    }
    for target, (name, rids) in figures.items():
        srcs = [Path(rows[r]["run"]) / "figures" / name for r in rids if rows.get(r, {}).get("status") == "ok"]
        srcs = [s for s in srcs if s.exists()]
        if srcs:
            _small_png(srcs[0], asset / target)
            written.append(asset / target)
        else:
            print(f"asset {target}: row {rids[0]} has not run (python reproduce.py --only={rids[0]})")
    return written


def main():
    configure(globals())
    check(SCALE in ("quick", "paper"), f"--scale must be quick or paper, got {SCALE!r}")
    check(SECONDS > 0, f"--seconds must be > 0, got {SECONDS}")
    out = Path(OUT)
    if not REPORT_ONLY:
        device = pick_device(DEVICE)
        prefixes = [p for p in ONLY.split(",") if p]
        rows = [r for build in ROW_BUILDERS for r in build(SCALE)]
        chosen = [r for r in rows if not prefixes or any(r.id.startswith(p) for p in prefixes)]
        check(bool(chosen), f"--only={ONLY} matches no row; rows: {', '.join(r.id for r in rows)}")
        t0 = time.perf_counter()
        for i, row in enumerate(chosen):
            print(f"row {i + 1}/{len(chosen)}, {time.perf_counter() - t0:.0f} s so far", flush=True)
            run_row(row, out, device, SECONDS)
    print(f"report: {write_report(out)}")
    if ASSETS:
        for f in write_assets(out):
            print(f"asset: {f} ({f.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    cli(main)
