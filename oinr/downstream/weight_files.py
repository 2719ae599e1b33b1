"""Weight-space data sets, the file format: chunks as they are fitted, the merged file, and its checks.

The fitted file (safetensors) holds ``weights`` (N, P) float32 (each network's parameters flattened in
  named_parameters order), ``init`` (P,), ``labels`` (N,), ``psnr`` (N,) (of the clamped reconstruction,
  in dB on [0, 1]), ``steps`` (N,), ``reached`` (N,) (PSNR >= target and the fit stayed finite), ``split``
  (N,) (0 train, 1 test, 2 validation: `oinr.downstream.weightspace.dataset_images`) and ``index`` (N,)
  (position in the data set's own split), plus metadata: the resolved config,
  the layer layout and a fingerprint of every setting that decides the weights. `load_fitted` checks all of it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import torch

from oinr.downstream.weightspace import fit_chunk, gauss_newton_map, init_model, layout
from oinr.errors import UserError
from oinr.fit.runs import atomic_write
from oinr.models.registry import build_model

FORMAT = "oinr-weight-space-1"
# settings that decide the fitted weights (a file or a chunk made under other values is not mixed in)
WEIGHT_KEYS = ("DATA", "LIMIT_TRAIN", "LIMIT_TEST", "OCTAVES", "MODEL", "WIDTHS", "KERNEL", "FIRST_KERNEL",
               "FIRST_OMEGA", "OMEGA", "BIAS", "INIT", "HIDDEN", "LAYERS", "STEPS", "TARGET_PSNR", "LR", "SCHEDULE",
               "FINAL_LR_RATIO", "LOG_EVERY", "SEED", "CHUNK", "STOP_AT_TARGET", "MEAN_INIT_STEPS", "SOLVER",
               "LAZY_SCALE", "REFINE_STEPS", "REFINE_LR", "OPTIMIZER", "BASELINE_LR", "BASELINE_SETTING")  # fmt: skip


def fingerprint(cfg: dict) -> str:
    """A short hash of the settings in WEIGHT_KEYS."""
    keyed = {k: cfg.get(k) for k in WEIGHT_KEYS}
    if cfg.get("VAL"):  # only when set: files made before VAL existed keep their fingerprints
        keyed["VAL"] = cfg["VAL"]
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_tensors(path: Path, tensors: dict, meta: dict) -> None:
    """safetensors with string metadata, written atomically."""
    from safetensors.torch import save

    blob = save({k: v.contiguous() for k, v in tensors.items()}, metadata={k: str(v) for k, v in meta.items()})
    atomic_write(Path(path), lambda f: f.write(blob))


def load_tensors(path: Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file; an unreadable one is a UserError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; make it with downstream/weight_space/fit_dataset.py")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - any parse failure means 'not a fitted file'
        raise UserError(f"cannot read {path} as safetensors ({str(e).splitlines()[0][:120]})") from None


REQUIRED = ("weights", "init", "labels", "psnr", "steps", "reached", "split", "index")


def load_fitted(path: Path) -> tuple[dict, dict]:
    """The fitted file's tensors and its config, checked: format, fingerprint, sizes, layout of the weights."""
    t, meta = load_tensors(path)
    if meta.get("format") != FORMAT or any(k not in t for k in REQUIRED):
        raise UserError(f"{path} is not a weight-space file of this version (format {meta.get('format')!r})")
    cfg = json.loads(meta["config"])
    if meta.get("fingerprint") != fingerprint(cfg):
        raise UserError(f"{path}: its weights were not made under the config it carries (fingerprint mismatch)")
    n = len(t["labels"])
    if any(len(t[k]) != n for k in REQUIRED if k != "init"):
        raise UserError(f"{path}: tensors of different lengths ({ {k: len(t[k]) for k in REQUIRED} })")
    with torch.device("meta"):
        expected = sum(math.prod(s) for _, s in layout(build_model(cfg, 2, 1)))
    if t["weights"].shape[1] != expected or json.loads(meta["layout"]) != json.loads(
        json.dumps(layout(init_model(cfg)))
    ):
        raise UserError(f"{path}: {t['weights'].shape[1]} weights per network, but its config "
                        f"({cfg.get('MODEL')}, widths {cfg.get('WIDTHS')}) has {expected}")  # fmt: skip
    return t, cfg


def chunk_path(run: Path, c: int) -> Path:
    """Where chunk `c` of a run is written."""
    return run / "chunks" / f"chunk_{c:05d}.safetensors"


def read_meta(path: Path) -> dict:
    """A safetensors file's metadata alone (the tensors are not read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - any parse failure means 'not a fitted file'
        raise UserError(f"cannot read {path} as safetensors ({str(e).splitlines()[0][:120]})") from None


def fit_seconds_so_far(run: Path) -> float:
    """Fit time already spent on a run's written chunks: the latest ``time_s`` among them (0 for a new run)."""
    times = [float(read_meta(p).get("time_s") or 0) for p in Path(run).glob("**/chunks/chunk_*.safetensors")]
    return max(times, default=0.0)


def read_chunk(path: Path, fp: str, n: int) -> tuple[dict, dict] | None:
    """(tensors, metadata) of a written chunk when it belongs to this config and has `n` networks; None when
    it is absent."""
    if not path.is_file():
        return None
    t, meta = load_tensors(path)
    if meta.get("fingerprint") != fp or len(t.get("weights", ())) != n:
        raise UserError(f"{path} was written under another configuration; resume with the run's own settings")
    return t, meta


def fit_chunks(cfg: dict, run: Path, model, images: torch.Tensor, chunks: list, device, clock, progress: bool = False,
               prefix: str = "") -> int:  # fmt: skip
    """Fit and write the `chunks` (of CHUNK images of `images` (n, H, W)) that ``run/chunks`` lacks.

    A chunk already written under this config is kept (resume); a chunk file is written as soon as its fit ends,
    with ``time_s`` = `clock()` (seconds since the fit began) and ``chunk_s`` (its own seconds) in its metadata.
    Prints a line per chunk after `prefix`. Returns the number of networks fitted.
    """
    n, h, w = images.shape
    size, fp, gn, fitted = int(cfg["CHUNK"]), fingerprint(cfg), None, 0
    for c in chunks:
        lo, hi = c * size, min(n, (c + 1) * size)
        if read_chunk(chunk_path(run, c), fp, hi - lo) is not None:
            continue
        if cfg["SOLVER"] == "gauss-newton" and gn is None:  # the same for every chunk (and rank): computed once
            gn = gauss_newton_map(cfg, model, (h, w), device)
        t = time.perf_counter()
        out = fit_chunk(cfg, model, images[lo:hi], device, progress=progress, gn_map=gn)
        times = {"time_s": f"{clock():.3f}", "chunk_s": f"{time.perf_counter() - t:.3f}"}
        save_tensors(chunk_path(run, c), out, {"fingerprint": fp, "start": lo, "stop": hi, **times})
        fitted += hi - lo
        print(f"{prefix}chunk {c + 1}/{(n + size - 1) // size}: {hi - lo} fields in {times['chunk_s']} s, mean PSNR "
              f"{out['psnr'].mean():.2f} dB, mean steps {out['steps'].float().mean():.1f}, "
              f"{int((~out['reached']).sum())} below target", flush=True)  # fmt: skip
    return fitted


def merge_chunks(run: Path, cfg: dict, model, chunks: list, n: int, data: tuple, shape) -> tuple[dict, list]:
    """Every chunk of a run, in order, with the data set's labels and split, as the one fitted file's tensors,
    written to ``run/weights.safetensors``; `data` is (labels, split, index, classes) of `dataset_images`.

    Returns the tensors and one metrics row per chunk: ``time_s`` the fit time at which the chunk ended
    (seconds since the fit began, earlier sessions of a resumed run included), ``chunk_s`` its own seconds.
    """
    labels, split, index, classes = data
    size, fp = cfg["CHUNK"], fingerprint(cfg)
    read = [read_chunk(chunk_path(run, c), fp, min(n, (c + 1) * size) - c * size) for c in chunks]
    if any(p is None for p in read):
        raise UserError(f"chunks missing in {run / 'chunks'}; resume the run to fit them")
    parts = [t for t, _ in read]
    cat = lambda k: torch.cat([p[k] for p in parts])
    tensors = {"weights": cat("weights"), "psnr": cat("psnr"), "steps": cat("steps"), "reached": cat("reached"),
               "labels": labels, "split": split, "index": index,
               "init": torch.cat([p.detach().cpu().flatten() for p in model.parameters()])}  # fmt: skip
    meta = {"format": FORMAT, "config": json.dumps(cfg), "fingerprint": fp, "layout": json.dumps(layout(model)),
            "shape": json.dumps(list(shape)), "classes": json.dumps(classes)}  # fmt: skip
    save_tensors(run / "weights.safetensors", tensors, meta)
    rows = [{"chunk": c, "time_s": float(m.get("time_s") or "nan"), "chunk_s": float(m.get("chunk_s") or "nan"),
             "fields": len(p["psnr"]), "mean_psnr": float(p["psnr"].mean()), "min_psnr": float(p["psnr"].min()),
             "unreached": int((~p["reached"]).sum()), "mean_steps": float(p["steps"].float().mean())}
            for c, (p, m) in zip(chunks, read)]  # fmt: skip
    return tensors, rows
