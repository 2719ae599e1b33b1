"""Benchmark: rate-distortion at equal wall time. Every method is sized to the same parameter budget and
fitted for the same seconds on the same image; PSNR and SSIM at that time, time to 30 dB, parameters and
bits per pixel at 16-bit weights, and the time-to-30 dB ratio to the hash grid measured in the same run.

    python bench/rate_distortion.py [--seconds=16 --budgets=0.1,0.25 --images=camera --asset=true]

Sizing: the O-INRs by their widths (multiscale: the 2dimage/train.py default, coarse widths (w, v), w // 2
features, a head of w; oinr: the conv preset 2dimage/conv.py, widths (w, w, v); v searched for the budget), the
hash grid as a user sizes it (`oinr.models.hashgrid.size_for_budget`: 16 levels unless a table would fall below
256 entries, then fewer; "—" where its MLP would hold more than half the budget: that is an MLP, not a hash
grid), the coordinate MLPs by their hidden width (`oinr.models.baselines.hidden_for_budget`). A method that
cannot land within 5% of a budget gets "—" with the reason. Every fit is the one timed fit
(`oinr.fit.timed.timed_fit`): the input grid built first (the O-INR's encoding, the hash grid's precomputed
lookup), a warm-up step and a probe off the clock, its method's learning rate (O-INR the script's LR, the
others their registry lr, SIREN the harness-best 1e-3) and Adam constants (the hash grid's paper settings), a
cosine decay over the probed steps, and a hard stop at SECONDS; scoring is off the clock. Timings depend
on the machine and its load; ratios are taken within one run. Writes table.md, results.json,
figures/psnr_vs_params.png and figures/psnr_vs_time.png into OUT/bench/rate_distortion/<timestamp>/ (with
ASSET, small copies of both figures into asset/).
"""

# data
IMAGES = ("camera", "kodim23")  # data/<name>.png; colour is turned gray
SIZE = 256  # longer side in pixels (kodim23 becomes 256 x 171)
# run
BUDGETS = (0.1, 0.25, 0.5, 1.5)  # parameters per pixel
METHODS = ("multiscale", "oinr", "hashgrid", "siren", "wire", "gauss", "ffn", "finer")  # oinr: 2dimage/conv.py
SECONDS = 16.0  # training time per fit; 2 images x 4 budgets x 8 methods x 16 s = 17 min (+ warm-ups, probes, SSIM)
THRESHOLD = 30.0  # dB: the time-to-quality column
TOLERANCE = 0.05  # a sized model must land within this fraction of the budget
SEED = 0
DEVICE = "auto"
# output
OUT = "results"  # the run goes to OUT/bench/rate_distortion/<timestamp>/
ASSET = False  # True: also copy both figures, small, into asset/

import json  # noqa: E402
import shutil  # noqa: E402

import torch  # noqa: E402

from oinr.data.images import load_image  # noqa: E402
from oinr.encoding import to_unit  # noqa: E402
from oinr.errors import UserError, cli  # noqa: E402
from oinr.fit.config import configure, script_defaults  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.runs import new_run_dir, pick_device, seed_everything  # noqa: E402
from oinr.fit.timed import timed_fit  # noqa: E402
from oinr.metrics import psnr, ssim  # noqa: E402
from oinr.models import hashgrid  # noqa: E402
from oinr.models.baselines import BASELINES, hidden_for_budget  # noqa: E402
from oinr.models.conv import n_params  # noqa: E402
from oinr.models.registry import build_model, model_lr  # noqa: E402
from oinr.paths import REPO_ROOT, resolve_path  # noqa: E402
from oinr.plots import plt  # noqa: E402

TRAIN = REPO_ROOT / "2dimage" / "train.py"
CONV = script_defaults(REPO_ROOT / "2dimage" / "conv.py")  # the full-resolution conv O-INR's settings
ASSET_DIR = REPO_ROOT / "asset"


def _count(cfg: dict, name: str) -> int:
    with torch.device("meta"):  # shapes only
        return n_params(build_model(cfg, 2, 1, name))


def _widths(name: str, w: int, v: int, depth: int) -> dict:
    """Header overrides of an O-INR of scale w: conv widths (w, ..., w, v); the multiscale model's features
    and head follow w (w // 2 features, one head layer of w)."""
    out = {"WIDTHS": (w,) * (depth - 1) + (v,)}
    if name == "multiscale":
        out.update(FEATURES=max(1, w // 2), HEAD_WIDTHS=(w,))
    return out


def size_for_budget(base: dict, name: str, budget: int) -> dict:
    """Header overrides that size method `name` to `budget` parameters (UserError when it cannot within 5%)."""
    if name == "hashgrid":  # at most the header's levels; fewer where a table would fall below MIN_TABLE entries
        keys = {
            "levels": "HASH_LEVELS",
            "features": "HASH_FEATURES",
            "min_res": "HASH_MIN_RES",
            "max_res": "HASH_MAX_RES",
        }
        sizing = {k: base[v] for k, v in keys.items()}
        levels, t = hashgrid.size_for_budget(2, 1, budget, tolerance=TOLERANCE, **sizing)
        return {"HASH_LEVELS": levels, "HASH_TABLE_SIZE": t}
    if name in ("oinr", "multiscale"):  # widths (w, ..., w, v): w sets the scale, v (linear in the count) fills the gap
        conv = {**base, **CONV} if name == "oinr" else base
        depth, cands = len(conv["WIDTHS"]), []
        for w in range(1, 1025):
            a, b = (_count({**conv, **_widths(name, w, v, depth)}, name) for v in (1, 2))
            v = min(max(w // 2 or 1, round((budget - a) / (b - a)) + 1), 2 * w)  # v in [w/2, 2w]: no bottleneck
            cands.append((w, v, a + (b - a) * (v - 1)))
            if a > budget:  # a larger w only adds
                break
        # within 1% of the budget, the most uniform widths; else the closest count
        pick = min(cands, key=lambda c: (abs(c[2] - budget) > 0.01 * budget, abs(c[1] / c[0] - 1), abs(c[2] - budget)))
        overrides = _widths(name, pick[0], pick[1], depth)
        base = conv
    else:
        overrides = {"HIDDEN": hidden_for_budget(name, 2, 1, base["LAYERS"], budget)}
    n = _count({**base, **overrides}, name)
    if abs(n - budget) > TOLERANCE * budget:
        tiny = _widths(name, 1, 1, len(base["WIDTHS"])) if name in ("oinr", "multiscale") else {"HIDDEN": 1}
        smallest = _count({**base, **tiny}, name)
        why = f"its smallest size has {smallest}" if n > budget else f"its closest size has {n}"
        raise UserError(f"{name} cannot land within {TOLERANCE:.0%} of {budget} parameters ({why})")
    return overrides


def build(base: dict, name: str, overrides: dict, device) -> torch.nn.Module:
    cfg = {**base, **(CONV if name == "oinr" else {}), **overrides}
    if name == "hashgrid":  # an exact table size (not a power of two): built directly, as the registry would
        return hashgrid.HashGrid(2, 1, levels=cfg["HASH_LEVELS"], features=cfg["HASH_FEATURES"],
                                 table_size=cfg["HASH_TABLE_SIZE"], min_res=cfg["HASH_MIN_RES"],
                                 max_res=cfg["HASH_MAX_RES"]).to(device)  # fmt: skip
    return build_model(cfg, 2, 1, name).to(device)


def _plot(results: list, budgets, images, run) -> tuple:
    methods = list(dict.fromkeys(r["method"] for r in results))
    colors = {m: plt.cm.tab10(i) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(images), figsize=(4.2 * len(images), 3.4), squeeze=False)
    for ax, img in zip(axes[0], images):
        for m in methods:
            pts = sorted((r["params"], r["psnr"]) for r in results if r["image"] == img and r["method"] == m
                         and "psnr" in r)  # fmt: skip
            if pts:
                ax.plot(*zip(*pts), "o-", color=colors[m], label=m, ms=4)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel(f"PSNR (dB) at {SECONDS:g} s")
        ax.set_title(img, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    f_params = run / "figures" / "psnr_vs_params.png"
    fig.savefig(f_params, dpi=80)
    plt.close(fig)

    fig, axes = plt.subplots(len(images), len(budgets), figsize=(3.0 * len(budgets), 2.6 * len(images)),
                             squeeze=False, sharey=True)  # fmt: skip
    for row, img in zip(axes, images):
        for ax, b in zip(row, budgets):
            for r in results:
                if r["image"] == img and r["ppp"] == b and r.get("trace"):
                    t, p = zip(*r["trace"])
                    ax.plot(t, p, color=colors[r["method"]], label=r["method"], lw=1)
            ax.axhline(THRESHOLD, color="gray", lw=0.5, ls="--")
            ax.set_title(f"{img}, {b:g} params/px", fontsize=9)
            ax.set_xlabel("seconds")
            ax.grid(alpha=0.3)
        row[0].set_ylabel("training PSNR (dB)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    f_time = run / "figures" / "psnr_vs_time.png"
    fig.savefig(f_time, dpi=70)
    plt.close(fig)
    return f_params, f_time


def _table(results: list) -> str:
    head = ("| image | params/px | method | params | bits/px (16-bit) | steps | PSNR (dB) | SSIM | "
            f"time to {THRESHOLD:g} dB (s) | ratio to hashgrid |")  # fmt: skip
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['image']} | {r['ppp']:g} | {r['method']} | — | — | — | — | — | — | {r['error']} |")
            continue
        t = r["time_to_threshold"]
        ref = next((q.get("time_to_threshold") for q in results if q["image"] == r["image"] and q["ppp"] == r["ppp"]
                    and q["method"] == "hashgrid"), None)  # fmt: skip
        ratio = f"{t / ref:.2f}" if t is not None and ref else "—"
        lines.append(f"| {r['image']} | {r['ppp']:g} | {r['method']} | {r['params']} | {r['bpp']:.2f} | {r['steps']} | "
                     f"{r['psnr']:.2f} | {r['ssim']:.3f} | {'—' if t is None else f'{t:.1f}'} | {ratio} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main():
    configure(globals())
    check(SECONDS > 0, f"--seconds must be > 0, got {SECONDS}")
    check(len(BUDGETS) > 0 and min(BUDGETS) > 0, f"--budgets must be positive parameters per pixel, got {BUDGETS}")
    unknown = [m for m in METHODS if m not in ("multiscale", "oinr", "hashgrid", *BASELINES)]
    valid = ", ".join(("multiscale", "oinr", "hashgrid", *BASELINES))
    check(not unknown, f"unknown method(s) {', '.join(unknown)}; use {valid}")
    device = pick_device(DEVICE)
    images = {}
    for name in IMAGES:
        path = resolve_path(f"data/{name}.png")
        check(path.is_file(), f"image {name!r}: {path} not found (IMAGES names files data/<name>.png)")
        images[name] = load_image(path, SIZE, True, verbose=False)  # (1, H, W) in [0, 1]
    base = script_defaults(TRAIN)
    run = new_run_dir(OUT, "bench/rate_distortion")
    print(f"device {device}, torch threads {torch.get_num_threads()}, {SECONDS:g} s per fit; run folder {run}")

    results = []
    for img_name, img in images.items():
        _, h, w = img.shape
        y = (img * 2 - 1).unsqueeze(0).to(device)  # (1, 1, H, W) on [-1, 1]
        cfg = {**base, "SIZE": SIZE, "HASH_MAX_RES": max(h, w)}
        for ppp in BUDGETS:
            budget = round(ppp * h * w)
            for name in METHODS:
                row = {"image": img_name, "ppp": ppp, "method": name, "budget": budget}
                try:
                    overrides = size_for_budget(cfg, name, budget)
                except UserError as e:
                    row["error"] = str(e)
                    results.append(row)
                    print(f"  {img_name} {ppp:g} {name:9s} — {e}", flush=True)
                    continue
                seed_everything(SEED)
                model = build(cfg, name, overrides, device)
                grid = model.make_input((h, w))  # (1, C_in, H, W), before the clock (the hash grid: its lookup)
                out = timed_fit(model, model_lr({**cfg, "MODEL": name}), grid, y, SECONDS, THRESHOLD)
                with torch.no_grad():
                    pred = to_unit(model(grid)[0]).cpu()  # (1, H, W)
                n = n_params(model)
                sizing = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
                row.update(params=n, bpp=16 * n / (h * w), psnr=psnr(pred, img), ssim=ssim(pred, img), sizing=sizing,
                           **out)  # fmt: skip
                results.append(row)
                t = "—" if row["time_to_threshold"] is None else f"{row['time_to_threshold']:.1f} s"
                print(f"  {img_name} {ppp:g} {name:9s} {n:>7d} params {sizing}: {row['psnr']:.2f} dB, "
                      f"SSIM {row['ssim']:.3f}, {row['steps']} steps, {THRESHOLD:g} dB at {t}", flush=True)  # fmt: skip

    table = _table(results)
    (run / "table.md").write_text(table)
    (run / "results.json").write_text(json.dumps(results, indent=1, default=float))
    figs = _plot(results, BUDGETS, list(images), run)
    if ASSET:
        ASSET_DIR.mkdir(exist_ok=True)
        for f, name in zip(figs, ("rate_distortion_params.png", "rate_distortion_time.png")):
            shutil.copyfile(f, ASSET_DIR / name)
            kb = (ASSET_DIR / name).stat().st_size / 1024
            print(f"asset/{name}: {kb:.0f} KB" + (" (over 150 KB)" if kb > 150 else ""))
    print("\n" + table)
    print(f"run folder: {run}")


if __name__ == "__main__":
    cli(main)
