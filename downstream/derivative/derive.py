"""Derivatives of a fitted image in one forward pass (the paper's derivative argument), measured.

From a 2dimage O-INR run, d/dx, d/dy and |grad| of the represented image come out of one forward pass
(the analytic derivative of the encoding pushed through the network, `oinr.downstream.derivative`). They are
checked against reverse-mode autograd of the same network w.r.t. a shift of the coordinates, compared
with Sobel and central differences of the target image, and set beside the autograd derivatives of
MLP INRs (SIREN, ...) fitted to the same image; the derivative pass is timed against a forward pass.
Units: per pixel, of the image in [0, 1] (x runs across the image, y down it).

python downstream/derivative/derive.py --run=<2dimage run folder> [--baselines=siren,gauss --siren_run=<run>]
"""

# data
RUN = ""  # a 2dimage run folder of an O-INR fit; "": fit one first with 2dimage/train.py FIT_ARGS (into OUT)
FIT_ARGS = ("--size=128",)  # RUN = "": arguments of that fit (the default model at 128 px)
MARGIN = -1  # pixels cut at every border before comparing; -1: the O-INR's receptive radius (zero padding reaches it)
# model
BASELINES = ("siren", "gauss")  # MLP INRs compared (siren, wire, gauss, ffn, finer); each fitted here or from a run
SIREN_RUN = ""  # a 2dimage run folder of a SIREN fit to the same image (instead of fitting one)
BASELINE_RUNS = ()  # more 2dimage run folders of baseline fits to the same image, used instead of fitting
HIDDEN = 0  # hidden width of the baselines fitted here; 0: matched to the O-INR's parameter count
LAYERS = 3  # hidden layers of the baselines fitted here
# optim
BASELINE_STEPS = 300  # Adam steps of each baseline fitted here, on the full grid at the run's size
BASELINE_SETTING = "tuned"  # baselines' lr: tuned (the harness's best, oinr/models/baselines.py) or paper
SEED = 0  # seeds the baselines' init
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N
# output
OUT = "results"  # results root; the run goes to OUT/derivative/<timestamp>/
TIMING_REPEATS = 5  # runs of the forward and the derivative pass; the minimum of each is reported
PROGRESS = True  # tqdm progress bars of the baseline fits

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.downstream.derivative import (  # noqa: E402
    SIGNAL_SCALE,
    compare,
    finite_differences,
    image_derivatives,
    per_pixel,
    point_autograd,
    shift_autograd,
    time_passes,
)
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check, finish, open_run  # noqa: E402
from oinr.fit.image import fit_in_folder  # noqa: E402
from oinr.fit.restore import load_run  # noqa: E402
from oinr.fit.runs import pick_device, seed_everything  # noqa: E402
from oinr.metrics import psnr  # noqa: E402
from oinr.models.baselines import BASELINES as KNOWN_BASELINES  # noqa: E402
from oinr.models.baselines import hidden_for_budget  # noqa: E402
from oinr.models.conv import OINR, n_params  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402
from oinr.plots import derivative_figure  # noqa: E402

TRAIN = REPO_ROOT / "2dimage" / "train.py"


def fit_first(out: str) -> Path:
    """RUN = '': an O-INR fitted by 2dimage/train.py FIT_ARGS; its run folder."""
    cmd = [sys.executable, str(TRAIN), *FIT_ARGS, f"--out={out}", f"--device={DEVICE}", "--progress=false"]
    print(f"no --run given: fitting one ({' '.join(cmd[1:])})", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0 or not last.startswith("run folder: "):
        err = (proc.stderr.strip().splitlines() or ["(no output)"])[-1].removeprefix("error: ")
        raise UserError(f"the 2dimage fit for --run failed ({err}); fix --fit_args or pass --run=<run folder>")
    return Path(last.removeprefix("run folder: "))


def same_image(restored, cfg: dict, what: str) -> None:
    """A baseline run must be a fit to the O-INR run's image at its size."""
    same = all(restored.cfg.get(k) == cfg.get(k) for k in ("DATA", "SIZE", "GRAY"))
    if not same or restored.meta["shape"] != cfg["_shape"]:
        raise UserError(f"{what} {restored.run} is a fit to {restored.cfg.get('DATA')} at {restored.meta['shape']}, "
                        f"not to {cfg.get('DATA')} at {cfg['_shape']}")  # fmt: skip


def main():
    cfg = configure(globals())
    check(MARGIN >= -1, f"--margin must be >= 0, or -1 for auto, got {MARGIN}")
    check(BASELINE_STEPS > 0, f"--baseline_steps must be > 0, got {BASELINE_STEPS}")
    check(TIMING_REPEATS > 0, f"--timing_repeats must be > 0, got {TIMING_REPEATS}")
    for b in BASELINES:
        check(b in KNOWN_BASELINES, f"--baselines: unknown baseline {b!r}; choose from {', '.join(KNOWN_BASELINES)}")
    device = pick_device(DEVICE)
    seed_everything(SEED)
    t_start = time.perf_counter()

    # the O-INR run, and the image it was fitted to
    run_dir = Path(RUN) if RUN else fit_first(OUT)
    oinr = load_run(run_dir, device=device, experiment="2dimage")
    point = hasattr(oinr.model, "forward_coords_derivatives")  # the multiscale O-INR: its own one-pass derivative
    if not (isinstance(oinr.model, OINR) or point):
        raise UserError(f"{run_dir} is a {oinr.cfg.get('MODEL')!r} fit; --run needs an O-INR run (multiscale, oinr)")
    margin = oinr.model.receptive_radius() if MARGIN < 0 else MARGIN
    check(2 * margin + 4 <= min(oinr.meta["shape"]), f"a margin of {margin} px leaves too little of the image")
    run_cfg = {**oinr.cfg, "_shape": oinr.meta["shape"]}
    img = load_image(resolve_path(oinr.cfg["DATA"]), oinr.cfg["SIZE"], oinr.cfg["GRAY"], verbose=False)  # (C, H, W)
    c, h, w = img.shape
    if [h, w] != oinr.meta["shape"] or c != oinr.meta["out_channels"]:
        fitted = f"{oinr.meta['out_channels']}x{oinr.meta['shape']}"
        raise UserError(f"{oinr.cfg['DATA']} now loads as {c}x{h}x{w}, but {run_dir} was fitted on {fitted}")
    given = {}  # baseline name -> restored run
    for r in ([SIREN_RUN] if SIREN_RUN else []) + list(BASELINE_RUNS):
        b = load_run(r, device=device, experiment="2dimage")
        name = str(b.cfg.get("MODEL", "")).lower()
        check(name in KNOWN_BASELINES, f"{r} is a {name!r} fit, not a baseline ({', '.join(KNOWN_BASELINES)})")
        same_image(b, run_cfg, "baseline run")
        given[name] = b
    names = list(dict.fromkeys([*BASELINES, *given]))
    run, _ = open_run(cfg, "derivative", device)
    print(f"O-INR run {run_dir}: {c}x{h}x{w}, {n_params(oinr.model)} parameters; baselines {', '.join(names)}")

    # O-INR: one forward pass, checked against autograd w.r.t. a shift of the coordinates
    shape = (h, w)
    rec, d_oinr = image_derivatives(oinr.model, shape)  # (C, H, W), (2, C, H, W) per pixel
    scale = SIGNAL_SCALE[oinr.meta.get("output", "pm1")]  # network output -> image in [0, 1]
    check_pass = point_autograd if point else shift_autograd  # reverse mode, sharing no code with the pass
    auto = per_pixel(check_pass(oinr.model, shape) * scale, shape).cpu()
    max_diff = float((auto - d_oinr).abs().max())
    rel_diff = max_diff / max(float(auto.abs().max()), 1e-12)  # float32: ~1e-6 of the largest derivative
    timing = time_passes(oinr.model, shape, TIMING_REPEATS)

    # the image's own derivatives
    refs = {"sobel": finite_differences(img, "sobel"), "central": finite_differences(img, "central")}
    methods = {"oinr": (rec, d_oinr, n_params(oinr.model), oinr.step)}

    # baselines: autograd w.r.t. the input coordinates
    for k, name in enumerate(names):
        if name in given:
            model, steps = given[name].model, given[name].step
        else:
            bcfg = {**oinr.cfg, "MODEL": name, "STEPS": BASELINE_STEPS, "LAYERS": LAYERS, "SEED": SEED + k,
                    "BASELINE_SETTING": BASELINE_SETTING, "PROGRESS": PROGRESS, "RESUME": "", "BASELINE_LR": 0.0,
                    "CKPT_EVERY": BASELINE_STEPS}  # fmt: skip
            bcfg["HIDDEN"] = HIDDEN or hidden_for_budget(name, 2, c, LAYERS, n_params(oinr.model))
            model = fit_in_folder(bcfg, img, device, run / "baselines" / name)  # reusable with --baseline_runs
            steps = BASELINE_STEPS
        model.eval()
        brec, d = image_derivatives(model, shape)
        methods[name] = (brec, d, n_params(model), steps)

    table = {}
    for name, (pred, d, params, steps) in methods.items():
        row = {"psnr": psnr(pred, img), "n_params": params, "steps": steps}
        for ref_name, ref in refs.items():
            cmp = compare(d, ref, margin)
            row[f"rel_err_{ref_name}"], row[f"corr_{ref_name}"] = cmp["rel_err"], cmp["corr"]
        table[name] = row
    floor = compare(refs["central"], refs["sobel"], margin)  # how far the two filters are from each other

    # report
    cols = ["psnr", "rel_err_sobel", "corr_sobel", "rel_err_central", "corr_central"]
    print("| method | params | steps | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 3))
    for name, row in table.items():
        print(f"| {name} | {row['n_params']} | {row['steps']} | " + " | ".join(f"{row[k]:.4f}" for k in cols) + " |")
    print(f"O-INR one pass vs autograd: max |diff| {max_diff:.2e} per pixel; derivative pass "
          f"{timing['derivative_s']:.4f} s, forward {timing['forward_s']:.4f} s ({timing['ratio']:.2f}x)")  # fmt: skip
    (run / "table.json").write_text(json.dumps(table, indent=2))
    shown = {"target (Sobel)": (img, refs["sobel"]), "O-INR (one pass)": (rec, d_oinr)}
    if "siren" in methods:
        shown["SIREN (autograd)"] = methods["siren"][:2]
    derivative_figure(shown, run / "figures" / "derivatives.png", f"{Path(oinr.cfg['DATA']).name} {h}x{w}, per pixel")
    flat = {f"{name}_{k}": v for name, row in table.items() if name != "oinr" for k, v in row.items()
            if k.startswith(("rel_err", "corr", "psnr"))}  # fmt: skip
    for name, row in table.items():  # against the row's reference (Sobel here), as analytic.py's exact one
        flat[f"{name}_rel_err"], flat[f"{name}_corr"] = row["rel_err_sobel"], row["corr_sobel"]
    finish(run, **{k: table["oinr"][k] for k in cols}, max_abs_diff_autograd=max_diff, max_rel_diff_autograd=rel_diff,
           time_forward_s=timing["forward_s"], time_derivative_s=timing["derivative_s"], time_ratio=timing["ratio"],
           time_ratio_same_layout=timing["ratio_same_layout"], rel_err_central_vs_sobel=floor["rel_err"],
           corr_central_vs_sobel=floor["corr"], **flat, methods=table, reference="sobel",
           units="per pixel, image in [0, 1]", margin=margin, oinr_run=str(run_dir), n_params=n_params(oinr.model),
           steps=oinr.step, wall_time_s=time.perf_counter() - t_start, device=str(device), model="oinr",
           image=str(oinr.cfg["DATA"]), size=[h, w])  # fmt: skip


if __name__ == "__main__":
    cli(main)
