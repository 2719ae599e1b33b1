"""Image-classification data sets for the weight-space experiments: IDX files (MNIST, Fashion-MNIST)
and scikit-learn's 8x8 digits.

IDX (LeCun et al., the MNIST distribution format): a big-endian header ``0x00 0x00 <type> <ndim>``, then
`ndim` big-endian uint32 sizes, then the values, row-major. Images are ``*-idx3-ubyte`` (N, H, W) and
labels ``*-idx1-ubyte`` (N,), both uint8, optionally gzipped (``.gz``). `read_idx` checks the magic
number, the type code and that the payload holds exactly the product of the sizes, so a truncated
download is a one-line `UserError`, never a silently short array.

`load_dataset(name)` returns a `Split` (train and test images as float32 in [0, 1], shape (N, H, W),
and int64 labels):

* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn, so it
  runs anywhere), split 75/25 stratified with a fixed seed;
* ``mnist``, ``fashion-mnist``: the standard 60k/10k IDX files in ``data/datasets/<name>/`` (made by
  ``python data/prepare.py <name>``);
* a folder holding the four standard IDX files (``train-images-idx3-ubyte[.gz]``, ...).
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oinr.errors import UserError
from oinr.paths import REPO_ROOT

DATA_ROOT = REPO_ROOT / "data" / "datasets"  # where data/prepare.py writes MNIST and Fashion-MNIST
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
             0x0E: np.dtype(">f8")}  # fmt: skip
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NAMES = ("digits", "mnist", "fashion-mnist")
CLASSES = {
    "digits": [str(i) for i in range(10)],
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzipped when the name ends in .gz); a bad file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"IDX file {path} not found; run `python data/prepare.py` or give the right folder")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"cannot read IDX file {path}: {e} (a damaged or truncated download?)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] < 1:
        magic = raw[:4].hex() if len(raw) >= 4 else "too short"
        raise UserError(f"{path} is not an IDX file (magic number {magic}; expected 0000 <type> <ndim>)")
    ndim, dtype = raw[3], np.dtype(IDX_TYPES[raw[2]])
    if len(raw) < 4 + 4 * ndim:
        raise UserError(f"IDX file {path} is truncated inside its header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise UserError(f"IDX file {path} is {what}: {len(raw)} bytes for shape {shape}, expected {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzipped when the name ends in .gz); used by data/prepare.py and the tests."""
    array = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    buf = io.BytesIO()
    buf.write(bytes([0, 0, code, array.ndim]))
    buf.write(np.asarray(array.shape, dtype=">u4").tobytes())
    buf.write(array.astype(np.dtype(IDX_TYPES[code])).tobytes())
    data = buf.getvalue()
    Path(path).write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):  # torchvision-style names too
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder} has no {stem}[.gz]; expected the four standard IDX files (see data/README.md)")


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W) uint8, labels (N,) int64) from an idx3 / idx1 pair, checked against each other."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3:
        raise UserError(f"{images}: expected images of shape (N, H, W), got {x.shape}")
    if y.ndim != 1:
        raise UserError(f"{labels}: expected labels of shape (N,), got {y.shape}")
    if len(x) != len(y):
        raise UserError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    return x, y.astype(np.int64)


@dataclass
class Split:
    name: str
    train_x: np.ndarray  # (N_train, H, W) float32 in [0, 1]
    train_y: np.ndarray  # (N_train,) int64
    test_x: np.ndarray  # (N_test, H, W) float32 in [0, 1]
    test_y: np.ndarray  # (N_test,) int64
    classes: list

    @property
    def shape(self) -> tuple:
        return tuple(self.train_x.shape[1:])


def load_digits_split(seed: int = 0) -> Split:
    """scikit-learn's 8x8 digits (values 0..16 scaled to [0, 1]), split 75/25, stratified, fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.25, stratify=d.target, random_state=seed)
    return Split("digits", xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), CLASSES["digits"])


def load_idx_folder(folder: str | Path, name: str | None = None) -> Split:
    """The standard four IDX files of `folder` (MNIST layout) as a Split."""
    folder = Path(folder)
    if not folder.is_dir():
        hint = f"run `python data/prepare.py {name}`" if name in NAMES else "give a folder with the IDX files"
        raise UserError(f"data folder {folder} not found; {hint}")
    xtr, ytr = read_idx_pair(_find(folder, IDX_FILES["train_images"]), _find(folder, IDX_FILES["train_labels"]))
    xte, yte = read_idx_pair(_find(folder, IDX_FILES["test_images"]), _find(folder, IDX_FILES["test_labels"]))
    if xtr.shape[1:] != xte.shape[1:]:
        raise UserError(f"{folder}: train images are {xtr.shape[1:]} but test images {xte.shape[1:]}")
    to01 = lambda a: a.astype(np.float32) / 255.0
    classes = CLASSES.get(name or folder.name, [str(c) for c in range(int(max(ytr.max(), yte.max())) + 1)])
    return Split(name or folder.name, to01(xtr), ytr, to01(xte), yte, classes)


def load_dataset(name: str) -> Split:
    """'digits', 'mnist', 'fashion-mnist' or a folder of IDX files."""
    if name == "digits":
        return load_digits_split()
    if name in NAMES:
        return load_idx_folder(DATA_ROOT / name, name)
    return load_idx_folder(Path(name))
