"""Benchmark: fields fitted per second to a target PSNR, batched O-INR against a batched SIREN, in one run.

Every row fits FIELDS MNIST images at once from one shared initialisation (`oinr.weightspace.fit_chunk`):

* ``oinr``: downstream/weight_space/fit_dataset.py's header as it is (the centred field and its one shared
  Gauss-Newton step; the time includes computing that step's map once, which a 70k run pays once);
* ``oinr adam``: the same network fitted the plain way, Adam on the uncentred field at lr 2e-2, each network
  stopping at TARGET_PSNR (the solver's share of the speed);
* ``siren``: the 2-32-32-1 MLP that the weight-space data sets of DWSNets / ScaleGMN / MWT use (omega0 30),
  fitted as those data sets are, with Adam, each stopping at TARGET_PSNR or SIREN_STEPS;
* ``siren gauss-newton``: that SIREN given O-INR's solver (centred, one shared step, the same refinement):
  what the solver does for an MLP.

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
THREADS = 0  # torch threads (0: torch's default)
SEED = 0
DEVICE = "auto"

import time  # noqa: E402

import torch  # noqa: E402

from oinr.config import configure, script_defaults  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.experiment import check  # noqa: E402
from oinr.operator import n_params  # noqa: E402
from oinr.runs import REPO_ROOT, pick_device  # noqa: E402
from oinr.weightspace import dataset_images, fit_chunk, init_model  # noqa: E402

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
        "siren gauss-newton": {**base, **siren},
    }
    print(f"{DATA}: {FIELDS} fields of {tuple(images.shape[1:])}, target {TARGET_PSNR} dB, device {device}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    rates = {}
    for name, cfg in setups.items():
        model = init_model(cfg)
        t0 = time.perf_counter()
        out = fit_chunk(cfg, model, images, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        rates[name] = FIELDS / wall
        limit = cfg["STEPS"] if cfg["SOLVER"] == "adam" else 1 + cfg["REFINE_STEPS"]
        print(f"{name:18s} {n_params(model):5d} weights, step limit {limit:5d}: {rates[name]:8.2f} fields/s "
              f"({wall:.1f} s), mean PSNR {out['psnr'].mean():.2f} dB, mean steps {out['steps'].float().mean():.0f}, "
              f"{out['reached'].float().mean():.1%} reached {TARGET_PSNR} dB", flush=True)  # fmt: skip
    print(f"O-INR / SIREN fields per second: {rates['oinr'] / rates['siren']:.2f}x (each fitted its own way); "
          f"with the same solver {rates['oinr'] / rates['siren gauss-newton']:.2f}x; "
          f"the solver alone (O-INR Gauss-Newton / Adam) {rates['oinr'] / rates['oinr adam']:.2f}x")
    print(f"all 70,000 MNIST fields at the O-INR rate: {70000 / rates['oinr'] / 60:.1f} min (the map is paid once: "
          "fit_dataset.py's own timing is the better estimate)")


if __name__ == "__main__":
    cli(main)
