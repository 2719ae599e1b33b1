"""Render a fitted image run at any size: the function it represents, on an N-sample grid of [-1, 1]^2.

python 2dimage/render.py --run=<2dimage run folder> --size=512   (--size=H,W for an exact grid)

Every model renders from its run folder (oinr/models/function.py says how each one is evaluated off its
fit grid). The PNG (16-bit for gray, 8-bit for colour) goes into the run folder, never over an earlier
one; its path is the last line printed.
"""

# data
RUN = ""  # a run folder of 2dimage/train.py (any model) or cz_operator/train.py
SIZE = None  # N: the longer side, N samples end to end on [-1, 1] (aspect of the fit grid kept); H,W: exact
# output
DEVICE = "auto"  # auto (CUDA if present), cpu, cuda, cuda:N

from pathlib import Path  # noqa: E402

import imageio.v3 as iio  # noqa: E402
import numpy as np  # noqa: E402

from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.memory import available_bytes, gib  # noqa: E402
from oinr.fit.restore import load_run  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402
from oinr.models.function import render_bytes  # noqa: E402


def target_shape(size, fit: tuple) -> tuple:
    """(H, W) from SIZE: an exact pair, or the longer side N with the fit grid's aspect (cells scaled alike)."""
    if isinstance(size, (tuple, list)):
        ok = len(size) == 2 and all(isinstance(n, int) and n > 0 for n in size)
        check(ok, f"--size=H,W needs two ints > 0, got {size}")
        return tuple(size)
    check(isinstance(size, int) and size > 0, f"--size must be a positive int N or H,W; got {size!r}")
    scale = (size - 1) / max(max(fit) - 1, 1)
    return tuple(size if n == max(fit) else max(1, round((n - 1) * scale) + 1) for n in fit)


def free_path(run: Path, h: int, w: int) -> Path:
    """run/render_HxW.png, or render_HxW-2.png, ... when that exists (an earlier render is never replaced)."""
    path, k = run / f"render_{h}x{w}.png", 1
    while path.exists():
        k += 1
        path = run / f"render_{h}x{w}-{k}.png"
    return path


def main():
    configure(globals())
    check(bool(RUN), "--run=<run folder> is needed: a folder written by 2dimage/train.py")
    r = load_run(Path(RUN), pick_device(DEVICE))
    check(r.meta.get("dims") == 2, f"{RUN} is a {r.meta.get('dims')}-d run; this script renders images")
    fit = tuple(r.meta["shape"])
    h, w = target_shape(SIZE, fit)
    need, device = render_bytes(r.model, (h, w)), next(r.model.parameters()).device
    check(need < available_bytes(device), f"a {h}x{w} render needs about {gib(need)}, more than the free memory; "
          "pick a smaller --size")  # fmt: skip
    try:
        img = r.render((h, w))  # (C, h, w) in [0, 1]
    except ValueError as e:
        raise UserError(f"cannot render {RUN} at {h}x{w}: {e}") from None
    path = free_path(Path(RUN), h, w)
    a = np.moveaxis(img.numpy(), 0, -1)  # (h, w, C)
    if a.shape[-1] == 1:
        iio.imwrite(path, (a[..., 0] * 65535 + 0.5).astype(np.uint16))
    else:
        iio.imwrite(path, (a * 255 + 0.5).astype(np.uint8))
    print(f"{r.meta.get('experiment')} run {RUN} ({r.cfg.get('MODEL')}, fitted on {fit[0]}x{fit[1]}) at {h}x{w}")
    print(path)


if __name__ == "__main__":
    cli(main)
