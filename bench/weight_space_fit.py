"""Benchmark: fields fitted per second to a target PSNR, batched O-INR against a batched SIREN, in one run.

Every row fits FIELDS MNIST images at once from one shared initialisation (`oinr.downstream.weightspace.fit_chunk`):

* ``oinr``: downstream/weight_space/fit_dataset.py's header as it is (the centred field and its one shared
  Gauss-Newton step; the time includes computing that step's map once, which a 70k run pays once);
* ``oinr adam``: the same network fitted the plain way, Adam on the uncentred field at lr 2e-2, each network
  stopping at TARGET_PSNR (the solver's share of the speed);
* ``siren``: the 2-32-32-1 MLP that the weight-space data sets of DWSNets / ScaleGMN / MWT use (omega0 30),
  fitted as those data sets are, with Adam, each stopping at TARGET_PSNR or SIREN_STEPS;
* ``siren gauss-newton``: that SIREN given O-INR's solver (centred, one shared step, the same refinement) at
  its own scale SIREN_LAZY_SCALE: what the solver does for an MLP.

Prints fields/s, mean PSNR and the share that reached the target for each, and the ratios. Not a test:
timings depend on the machine and its load.

    python bench/weight_space_fit.py [--fields=256 --siren_lr=1e-3 --siren_steps=2000]

Needs MNIST (python data/prepare.py mnist); --data=digits runs on the shipped 8x8 digits instead.
"""

# data
DATA = "mnist"  # mnist (28x28, data/prepare.py), fashion-mnist, digits, or a folder of IDX files
FIELDS = 256  # networks fitted at once (the first FIELDS training images)
# run
TARGET_PSNR = 30.0  # dB; a network stops once it reaches it
SIREN_LR = 1e-3  # SIREN's Adam learning rate (the harness's tuned value; its paper used 1e-4)
SIREN_STEPS = 2000  # SIREN's step limit
SIREN_LAZY_SCALE = 4096.0  # the centred SIREN's scale under the Gauss-Newton solver: its init Jacobian is ~115x
# worse conditioned than O-INR's (condition number 3.5e3 against 30), so it leaves the linear regime at O-INR's 64;
# mean PSNR after the step alone on 256 MNIST images: 6.7 dB at 64, 12.2 at 256, 23.5 at 1024, 35.4 at 4096
THREADS = 0  # torch threads (0: torch's default)
SEED = 0
DEVICE = "auto"

import time  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.weightspace import dataset_images, fit_chunk, gauss_newton_map, init_model, step_limit  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402

FIT = REPO_ROOT / "downstream" / "weight_space" / "fit_dataset.py"


def main():
    configure(globals())
    check(FIELDS > 0 and SIREN_STEPS > 0, "--fields and --siren_steps must be > 0")
    device = pick_device(DEVICE)
    if THREADS > 0:
        torch.set_num_threads(THREADS)
    base = {**script_defaults(FIT), "DATA": DATA, "LIMIT_TRAIN": FIELDS, "LIMIT_TEST": 1, "SEED": SEED,
            "TARGET_PSNR": TARGET_PSNR}  # fmt: skip
    images = dataset_images(base)[0][:FIELDS]  # (FIELDS, H, W)
    plain = {"SOLVER": "adam", "LAZY_SCALE": 0.0, "STOP_AT_TARGET": True}
    siren = {"MODEL": "siren", "HIDDEN": 32, "LAYERS": 2, "BASELINE_LR": SIREN_LR, "STEPS": SIREN_STEPS}
    setups = {
        "oinr": base,
        "oinr adam": {**base, **plain, "LR": 2e-2},
        "siren": {**base, **siren, **plain},
        "siren gauss-newton": {**base, **siren, "LAZY_SCALE": SIREN_LAZY_SCALE},
    }
    print(f"{DATA}: {FIELDS} fields of {tuple(images.shape[1:])}, target {TARGET_PSNR} dB, device {device}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    rates, maps = {}, {}
    for name, cfg in setups.items():
        model = init_model(cfg)
        t0 = time.perf_counter()
        gn = gauss_newton_map(cfg, model, images.shape[1:], device) if cfg["SOLVER"] == "gauss-newton" else None
        maps[name] = time.perf_counter() - t0  # paid once per data set, whatever its size
        out = fit_chunk(cfg, model, images, device, gn_map=gn)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        rates[name] = FIELDS / wall
        limit = step_limit(cfg)
        extra = f", of which {maps[name]:.1f} s the shared map" if gn is not None else ""
        print(f"{name:18s} {n_params(model):5d} weights, step limit {limit:5d}: {rates[name]:8.2f} fields/s "
              f"({wall:.1f} s{extra}), mean PSNR {out['psnr'].mean():.2f} dB, "
              f"mean steps {out['steps'].float().mean():.0f}, "
              f"{out['reached'].float().mean():.1%} reached {TARGET_PSNR} dB", flush=True)  # fmt: skip
    # a whole data set pays the shared map once: 70,000 fields = the map + 70,000 x the time per field after it
    t70 = {k: maps[k] + 70000 * (FIELDS / r - maps[k]) / FIELDS for k, r in rates.items()}
    print("all 70,000 MNIST fields at these rates: " + ", ".join(f"{k} {t / 60:.1f} min" for k, t in t70.items()))
    print(
        f"O-INR / SIREN fields per second over 70,000: {t70['siren'] / t70['oinr']:.2f}x (each fitted its own "
        f"way); with the same solver {t70['siren gauss-newton'] / t70['oinr']:.2f}x; the solver alone (O-INR "
        f"Gauss-Newton / Adam) {t70['oinr adam'] / t70['oinr']:.2f}x"
    )


if __name__ == "__main__":
    cli(main)
