"""Benchmark: the O-INR derivative pass (signal + d/dx + d/dy in one pass) against a plain forward pass.

The model is 2dimage/train.py's default O-INR (random weights: the cost does not depend on them) on a
SIZE x SIZE grid; both passes run without autograd and each time is the minimum over REPEATS runs. The
target is a ratio of at most 3 (three conv passes per layer: the primal and two tangents). Beside it,
SIREN's autograd derivative against its own forward pass, for context. Not a test: timings depend on
the machine and its load.

    python bench/derivative.py [--size=256 --repeats=5]
"""

SIZE = 256  # grid side
REPEATS = 5  # runs of each pass; the minimum is reported
THREADS = 0  # torch threads; 0: torch's default
TARGET = 3.0  # the derivative pass's cost target, in forward passes

import time  # noqa: E402

import torch  # noqa: E402

from oinr.downstream.derivative import coordinate_derivatives, time_passes  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.models.registry import build_model  # noqa: E402
from oinr.paths import REPO_ROOT  # noqa: E402


def main():
    configure(globals())
    check(SIZE >= 8 and REPEATS >= 1, "--size must be >= 8 and --repeats >= 1")
    if THREADS:
        torch.set_num_threads(THREADS)
    cfg = script_defaults(REPO_ROOT / "2dimage" / "train.py")
    torch.manual_seed(0)
    oinr = build_model(cfg, 2, 1).eval()
    t = time_passes(oinr, (SIZE, SIZE), REPEATS)
    verdict = "met" if t["ratio"] <= TARGET else "MISSED"
    print(f"O-INR {SIZE}x{SIZE} ({torch.get_num_threads()} threads): forward {t['forward_s'] * 1e3:.1f} ms, "
          f"derivative pass {t['derivative_s'] * 1e3:.1f} ms")  # fmt: skip
    print(f"ratio {t['ratio']:.2f} (target <= {TARGET:g}: {verdict})")
    print(f"against a channels-last forward ({t['forward_last_s'] * 1e3:.1f} ms; the derivative pass runs in that "
          f"layout): {t['ratio_same_layout']:.2f}")  # fmt: skip
    siren = build_model({**cfg, "MODEL": "siren"}, 2, 1).eval()
    grid = siren.make_input((SIZE, SIZE))
    fwd, der = [], []
    with torch.no_grad():
        siren(grid)
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with torch.no_grad():
            siren(grid)
        fwd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        coordinate_derivatives(siren, (SIZE, SIZE))
        der.append(time.perf_counter() - t0)
    d, f = min(der) * 1e3, min(fwd) * 1e3
    print(f"SIREN (hidden {cfg['HIDDEN']}) autograd derivative: {d:.1f} ms, forward {f:.1f} ms (ratio {d / f:.2f})")


if __name__ == "__main__":
    cli(main)
