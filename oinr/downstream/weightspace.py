"""Weight-space data sets, the solver: many small INRs fitted from one initialisation in batched computations.

Used by downstream/weight_space/ (fit_dataset.py, classify.py) and bench/weight_space_fit.py.

* `fit_chunk` fits one network per image of a chunk in one batched computation: every member starts from
  the same weights (the weight space's structure depends on it: two fits of similar images then land near
  each other). SOLVER 'gauss-newton' (the default of fit_dataset.py): one Gauss-Newton step of the centred
  field (`Fields`), shared by every image (`gauss_newton_map`), then Adam refinement (`oinr.models.ensemble.Ensemble`
  in the shared loop `oinr.fit.loop.fit`) of the networks below the target; SOLVER 'adam': Adam from the init,
  each network stopping once its PSNR reaches the target (checked every LOG_EVERY steps) or at the step limit.
* The file format (chunks, the merged file, its checks): `oinr.downstream.weight_files`.
"""

from __future__ import annotations

import ast
import copy
import itertools
import math
import re

import numpy as np
import torch

from oinr.data.idx import load_dataset
from oinr.encoding import to_unit
from oinr.errors import UserError
from oinr.fit.config import coerce
from oinr.fit.loop import FitConfig, fit
from oinr.models.ensemble import Ensemble
from oinr.models.registry import build_model, model_lr


def init_model(cfg: dict) -> torch.nn.Module:
    """The one initialisation every network of the data set starts from (seeded by SEED)."""
    state = torch.get_rng_state()
    torch.manual_seed(int(cfg.get("SEED", 0)))
    model = build_model(cfg, 2, 1)
    torch.set_rng_state(state)
    return model


TRAIN, TEST, VALIDATION = 0, 1, 2  # the codes of a weight-space file's ``split``


def dataset_images(cfg: dict):
    """The images a weight-space run fits under its DATA / LIMIT_TRAIN / LIMIT_TEST / VAL, in file order.

    VAL = N > 0: the last N images of the data set's training split are the validation split, LIMIT_TRAIN
    counts the training images before them, and the test split is left out (a run made to choose settings
    never fits a test image). Order: training, then validation or test.

    Returns images (N, H, W) float32 in [0, 1], labels (N,), split (N,) (TRAIN, TEST or VALIDATION), index
    in the data set's own split (N,), and the class names.
    """
    sp = load_dataset(cfg["DATA"])
    val = int(cfg.get("VAL") or 0)
    pool = len(sp.train_x) - val  # the training images before the validation split
    if val < 0 or pool < 1:
        raise UserError(f"--val must be >= 0 and leave training images: {val} of {len(sp.train_x)}")
    ntr = cfg.get("LIMIT_TRAIN") or pool
    nte = 0 if val else cfg.get("LIMIT_TEST") or len(sp.test_x)
    if ntr > pool or nte > len(sp.test_x):
        raise UserError(f"--limit_train/--limit_test ({ntr}/{nte}) exceed {pool}/{len(sp.test_x)}"
                        + (f" (the last {val} training images are the validation split)" if val else ""))  # fmt: skip
    x = np.concatenate([sp.train_x[:ntr], sp.train_x[pool:], sp.test_x[:nte]])  # (N, H, W)
    y = np.concatenate([sp.train_y[:ntr], sp.train_y[pool:], sp.test_y[:nte]])
    split = np.concatenate([np.full(ntr, TRAIN), np.full(val, VALIDATION), np.full(nte, TEST)]).astype(np.uint8)
    index = np.concatenate([np.arange(ntr), np.arange(pool, len(sp.train_x)), np.arange(nte)])
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(split), torch.from_numpy(index), sp.classes


def scored_rows(split: torch.Tensor, index: torch.Tensor, cfg: dict, val: int = 0):
    """(training rows, scored rows, the scored split's name) of a fitted file: boolean masks for a classifier.

    A file fitted with --val=M scores its validation networks (`val` must be 0 or M). `val` = N > 0 on a file
    fitted to every training image carves its last N training networks off as the validation split. Else
    the test split. Whenever a validation split is scored, no test network is read.
    """
    split, index = split.numpy(), index.numpy()
    made, tr = int(cfg.get("VAL") or 0), split == TRAIN
    if made:
        if val not in (0, made):
            raise UserError(f"--val={val}: the file's validation split is its last {made} training images "
                            f"(fitted with --val={made}); use --val={made} or 0")  # fmt: skip
        return tr, split == VALIDATION, "validation"
    if val:
        if cfg.get("LIMIT_TRAIN"):
            raise UserError(f"--val={val}: the file holds only the first {cfg['LIMIT_TRAIN']} training images; "
                            f"fit with --val={val}, or without --limit_train")  # fmt: skip
        pool = int(tr.sum()) - val
        if val < 0 or pool < 1:
            raise UserError(f"--val must be >= 0 and leave training networks: {val} of {int(tr.sum())}")
        return tr & (index < pool), tr & (index >= pool), "validation"
    return tr, split == TEST, "test"


def check_run_fits(cfg: dict, model: torch.nn.Module, n: int, shape, device, ranks: int | None = None) -> int:
    """Refuse (one-line UserError) a run whose chunk fits, Gauss-Newton maps and merged file exceed the memory.

    `ranks`: the processes on this host (torchrun's LOCAL_WORLD_SIZE by default). Each holds the images and
    its own Gauss-Newton map (float64 SVD) in the host's memory, and its chunk's fit (CHUNK times one network's
    full-grid fit, `oinr.fit.memory.fit_bytes`) on its device: the host's memory on a CPU, its own GPU on
    GPUs (a GPU shared by several processes is split between them); rank 0 also holds the merge (every
    chunk's weights and their concatenation, 2 x n x P floats). Returns the estimate for this host in bytes.
    """
    from oinr.fit.distributed import local_world_size, processes_per_gpu
    from oinr.fit.memory import HEADROOM, available_bytes, fit_bytes, gib

    ranks = local_world_size() if ranks is None else int(ranks)
    p = sum(q.numel() for q in model.parameters())
    chunk = min(int(cfg["CHUNK"]), n)
    per_net = fit_bytes(model, tuple(shape), 1)
    gn = math.prod(shape) * p * 8 * 3 if str(cfg.get("SOLVER")) == "gauss-newton" else 0  # J, its SVD, the map
    fixed = 2 * n * p * 4 + ranks * (n * math.prod(shape) * 4 + gn)  # on the host: merge; images and map per rank
    host = int(available_bytes("cpu") * HEADROOM)
    grid = "x".join(map(str, shape))
    procs = f" with {ranks} processes on this host" if ranks > 1 else ""
    if fixed > host:
        fewer = "; or start fewer processes per host" if ranks > 1 else ""
        raise UserError(f"{n} networks of {p} weights on {grid}{procs} need about {gib(fixed)} of host memory for "
                        f"the images, maps and merge but {gib(host)} is available; fit fewer images "
                        f"(--limit_train / --limit_test){fewer}")  # fmt: skip
    on_device = torch.device(device).type != "cpu"
    if on_device:  # each process's share of its GPU
        have = int(available_bytes(device) * HEADROOM) // (processes_per_gpu() if ranks > 1 else 1)
    else:  # the host's memory left after the fixed part, split between the processes
        have = (host - fixed) // ranks
    need = chunk * per_net
    if need <= have:
        return fixed + ranks * need
    fits = have // per_net
    fix = f"lower --chunk to {fits}" if fits >= 1 else "fit fewer images (--limit_train / --limit_test)"
    where = "per process " if ranks > 1 else ""
    raise UserError(f"{n} networks of {p} weights on {grid} in chunks of {chunk}{procs} need about "
                    f"{gib(need + (0 if on_device or ranks > 1 else fixed))} {where}but "
                    f"{gib(have + (0 if on_device or ranks > 1 else fixed))} is available; {fix}")  # fmt: skip


def layout(model: torch.nn.Module) -> list:
    """[(name, shape)] of the flattened weight vector, in order."""
    return [(n, list(p.shape)) for n, p in model.named_parameters()]


def step_limit(cfg: dict) -> int:
    """The most updates a network of this config takes: STEPS (adam), or the Gauss-Newton step + REFINE_STEPS."""
    return int(cfg["STEPS"]) if str(cfg.get("SOLVER", "adam")) == "adam" else 1 + int(cfg.get("REFINE_STEPS", 0))


def centred(cfg: dict) -> float:
    """LAZY_SCALE alpha: each network's field is alpha * (g_theta - g_init) (0: the plain field g_theta)."""
    return float(cfg.get("LAZY_SCALE") or 0.0)


class Fields:
    """The fields a weight-space run's networks represent on an (H, W) grid, from an ensemble of them.

    With LAZY_SCALE alpha > 0 the field of weights theta is alpha * (g_theta(grid) - g_init(grid)): the network
    minus the shared init, scaled (the centred model of Chizat, Oyallon & Bach, "On Lazy Training in
    Differentiable Programming", NeurIPS 2019). Centring makes every init field zero, and a large alpha
    keeps the fit where the network is nearly linear in its weights (the change needed is ~1/alpha), so
    the weights a fit lands on are close to a linear map of the image. Targets and fields are on [-1, 1].
    """

    def __init__(self, cfg: dict, model: torch.nn.Module, shape, device):
        self.alpha = centred(cfg)
        self.grid = model.make_input(tuple(shape)).to(device)  # (1, C_in, H, W), shared by every member
        with torch.no_grad():  # a copy on the device: the caller's model stays where it is
            self.base = copy.deepcopy(model).to(device)(self.grid) if self.alpha > 0 else None  # (1, 1, H, W)

    def __call__(self, ens: Ensemble) -> torch.Tensor:
        """``(K, 1, 1, H, W)`` the members' fields."""
        out = ens(self.grid)
        return out if self.alpha <= 0 else self.alpha * (out - self.base)


def gauss_newton_map(cfg: dict, model: torch.nn.Module, shape, device) -> torch.Tensor:
    """``(P, H*W)``: the map from a target field (flattened, on [-1, 1]) to the Gauss-Newton step at the init.

    The linearised centred field alpha * J (theta - theta_0), with J the ``(H*W, P)`` Jacobian of the network's
    output at the shared init, fits a target y exactly (least squares where P < H*W) at the minimum-norm step
    theta - theta_0 = J^+ y / alpha. J is the same for every network of the data set, so its pseudo-inverse is
    computed once (float64 SVD) and a whole chunk's step is one matrix product.
    """
    from torch.func import functional_call, jacrev

    alpha = centred(cfg)
    if alpha <= 0:
        raise UserError(
            "--solver=gauss-newton needs --lazy_scale > 0 (a centred field, see oinr.downstream.weightspace.Fields)"
        )
    h, w = shape
    p = sum(q.numel() for q in model.parameters())
    if h * w * p * 8 > 4 * 2**30:
        raise UserError(f"the {h * w} x {p} Jacobian of one network needs {h * w * p * 8 / 2**30:.1f} GiB; "
                        "use --solver=adam for signals this large")  # fmt: skip
    model = copy.deepcopy(model).to(device)  # the caller's model stays where it is
    grid = model.make_input((h, w)).to(device)
    params = {k: v.detach() for k, v in model.named_parameters()}
    jac = jacrev(lambda q: functional_call(model, q, (grid,)).flatten(), chunk_size=256)(params)
    jac = torch.cat([jac[k].flatten(1) for k, _ in model.named_parameters()], dim=1)  # (H*W, P), parameter order
    return (torch.linalg.pinv(jac.double().cpu()) / alpha).float().to(device)  # (P, H*W)


def fit_chunk(cfg: dict, model: torch.nn.Module, images: torch.Tensor, device, progress: bool = False,
              gn_map: torch.Tensor | None = None) -> dict:  # fmt: skip
    """Fit one copy of `model` (the shared init) to each image of `images` ``(n, H, W)`` in [0, 1], all at once.

    SOLVER 'adam': STEPS Adam steps of every network from the init (each stopping at TARGET_PSNR when
    STOP_AT_TARGET). SOLVER 'gauss-newton': one Gauss-Newton step at the shared init (`gauss_newton_map`,
    computed here unless `gn_map` is given), then up to REFINE_STEPS Adam steps at REFINE_LR for the
    networks it leaves below TARGET_PSNR, each stopping once it reaches it.

    Returns ``weights`` (n, P), ``psnr`` (n,), ``steps`` (n,) (updates taken; the Gauss-Newton step counts
    one), ``reached`` (n,) on the CPU.
    """
    n, h, w = images.shape
    ens = Ensemble.replicate(model, n).to(device)
    fields = Fields(cfg, model, (h, w), device)
    y = (images.to(device) * 2 - 1)[:, None, None]  # (n, 1, 1, H, W): targets on [-1, 1]
    target = float(cfg["TARGET_PSNR"])
    solver = str(cfg.get("SOLVER", "adam")).lower()
    if solver not in ("adam", "gauss-newton"):
        raise UserError(f"--solver must be adam or gauss-newton, got {solver!r}")

    def psnr_of_sub(m, t) -> torch.Tensor:  # (k,) of the clamped reconstructions on [0, 1] against targets t
        with torch.no_grad():
            mse = (to_unit(fields(m)) - (t + 1) / 2).pow(2).mean(dim=(1, 2, 3, 4))
            return (10 * torch.log10(1.0 / mse.clamp_min(1e-20))).cpu()

    psnr_of = lambda m: psnr_of_sub(m, y)  # noqa: E731

    if solver == "adam":
        fc = _fit_config(cfg, int(cfg["STEPS"]), model_lr(cfg), progress, f"{n} fields")
        # STOP_AT_TARGET False: every network takes STEPS steps, so all move comparably far from the shared init
        res = _adam(ens, fields, y, fc, target if cfg.get("STOP_AT_TARGET", True) else None)
        steps, diverged = res.member_steps, res.diverged
    else:
        gn = gauss_newton_map(cfg, model, (h, w), device) if gn_map is None else gn_map.to(device)
        theta0 = ens.flat_weights()  # (n, P), every row the shared init
        with torch.no_grad():
            ens.set_flat_weights(theta0 + y.flatten(1) @ gn.T)
        steps = torch.ones(n, dtype=torch.long)
        diverged = torch.zeros(n, dtype=torch.bool)
        step_psnr = psnr_of(ens)
        below = (~(step_psnr >= target)).nonzero().flatten()  # NaN counts as below
        refine = int(cfg.get("REFINE_STEPS", 0))
        if refine > 0 and len(below):
            rows = below.to(device)
            sub = Ensemble.replicate(model, len(below)).to(device)
            sub.set_flat_weights(ens.flat_weights()[rows])
            fc = _fit_config(cfg, refine, float(cfg["REFINE_LR"]), progress, f"refining {len(below)} of {n}")
            res = _adam(sub, fields, y[rows], fc, target)
            new, old = psnr_of_sub(sub, y[rows]), step_psnr[below]
            better = (new > old) | (torch.isfinite(new) & ~torch.isfinite(old))  # refinement never makes one worse
            keep = below[better]
            with torch.no_grad():
                flat = ens.flat_weights()
                flat[keep.to(device)] = sub.flat_weights()[better.to(device)]
                ens.set_flat_weights(flat)
            steps[keep] += res.member_steps[better]
            diverged[keep] = res.diverged[better]
    psnr = psnr_of(ens).float()
    return {
        "weights": ens.flat_weights().float().cpu(),
        "psnr": psnr,
        "steps": steps.to(torch.int32),
        "reached": (psnr >= target) & ~diverged,
    }


def fit_images(cfg: dict, model: torch.nn.Module, images: torch.Tensor, device, progress: bool = False) -> dict:
    """`fit_chunk` over `images` ``(n, H, W)`` in chunks of CHUNK (one Gauss-Newton map for all), concatenated."""
    n, h, w = images.shape
    gn = gauss_newton_map(cfg, model, (h, w), device) if str(cfg.get("SOLVER")) == "gauss-newton" else None
    size = int(cfg.get("CHUNK") or n)
    parts = [fit_chunk(cfg, model, images[i : i + size], device, progress, gn) for i in range(0, n, size)]
    return {k: torch.cat([q[k] for q in parts]) for k in parts[0]}


def _fit_config(cfg: dict, steps: int, lr: float, progress: bool, desc: str) -> FitConfig:
    return FitConfig(steps=steps, lr=lr, schedule=cfg.get("SCHEDULE", "cosine"),
                     final_lr_ratio=cfg.get("FINAL_LR_RATIO", 0.01), log_every=int(cfg["LOG_EVERY"]),
                     progress=progress, desc=desc, optimizer=cfg.get("OPTIMIZER", "adam"))  # fmt: skip


def _adam(ens: Ensemble, fields: Fields, y: torch.Tensor, fc: FitConfig, target: float | None):
    """The shared loop on every member's field against its target ``y`` (k, 1, 1, H, W); stop at `target` dB."""

    def loss_fn(m, step):
        return ((fields(m) - y) ** 2).mean(dim=(1, 2, 3, 4))  # (k,) one loss per network

    def evaluate(m, loss):
        return {"psnr": 10 * torch.log10(4.0 / loss.clamp_min(1e-20))}  # MSE on [-1, 1]: data range 2

    stop = None if target is None else (lambda met: met["psnr"] >= target)
    return fit(ens, loss_fn, fc, evaluate=evaluate, stop_each=stop)


def render(cfg: dict, weights: torch.Tensor, shape, device="cpu", init: torch.Tensor | None = None) -> torch.Tensor:
    """``(n, H, W)`` on [0, 1]: the fields that rows of a fitted file's ``weights`` (n, P) represent.

    `init` (P,): the file's shared init (the centring's reference); default: the init its config builds.
    """
    model = init_model(cfg)
    if init is not None:
        torch.nn.utils.vector_to_parameters(init.to(torch.float32), model.parameters())
    ens = Ensemble.replicate(model, len(weights)).to(device)
    ens.set_flat_weights(weights.to(device))
    with torch.no_grad():
        return to_unit(Fields(cfg, model, shape, device)(ens))[:, 0, 0].cpu()


def mean_image_init(cfg: dict, model: torch.nn.Module, images: torch.Tensor, steps: int) -> torch.nn.Module:
    """`model` fitted for `steps` steps to the mean of `images` ``(n, H, W)``: a shared init near the data.

    Every network of the data set then starts from a fit of the average image and only learns its residual
    from it (the shared, data-aware starting point of weight-space work such as Dupont et al., "From data
    to functa", ICML 2022, there meta-learned). Same learning rate and schedule as the per-image fits.
    """
    n, h, w = images.shape
    ens = Ensemble.replicate(model, 1)
    grid = ens.make_input((h, w))  # (1, C_in, H, W)
    y = (images.mean(0) * 2 - 1)[None, None, None]  # (1, 1, 1, H, W) the mean image on [-1, 1]
    fc = FitConfig(
        steps=int(steps),
        lr=model_lr(cfg),
        schedule=cfg.get("SCHEDULE", "cosine"),
        final_lr_ratio=cfg.get("FINAL_LR_RATIO", 0.01),
        log_every=max(1, int(steps)),
        progress=False,
    )
    fit(ens, lambda m, step: ((m(grid) - y) ** 2).mean(dim=(1, 2, 3, 4)), fc)
    return ens.member(0)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise UserError(message)


def check_settings(cfg: dict) -> None:
    """A fit_dataset.py header's settings that cannot work together: one-line UserErrors."""
    _check(cfg["TARGET_PSNR"] > 0, f"--target_psnr must be > 0 dB, got {cfg['TARGET_PSNR']}")
    _check(cfg["CHUNK"] > 0, f"--chunk must be > 0, got {cfg['CHUNK']}")
    _check(cfg["LIMIT_TRAIN"] >= 0 and cfg["LIMIT_TEST"] >= 0, "--limit_train / --limit_test must be >= 0")
    _check(cfg.get("VAL", 0) >= 0, f"--val must be >= 0, got {cfg.get('VAL')}")
    seeds = list(cfg.get("SEEDS") or ())
    _check(all(isinstance(s, int) for s in seeds) and len(set(seeds)) == len(seeds),
           f"--seeds must be distinct ints (like 0,1,2), got {cfg.get('SEEDS')!r}")  # fmt: skip
    _check(cfg["SOLVER"] in ("adam", "gauss-newton"), f"--solver must be adam or gauss-newton, got {cfg['SOLVER']!r}")
    _check(cfg["SOLVER"] == "adam" or cfg["LAZY_SCALE"] > 0, "--solver=gauss-newton needs --lazy_scale > 0")
    _check(cfg["LAZY_SCALE"] >= 0 and cfg["REFINE_STEPS"] >= 0, "--lazy_scale and --refine_steps must be >= 0")
    _check(cfg["SOLVER"] == "adam" or cfg["REFINE_STEPS"] == 0 or cfg["REFINE_LR"] > 0, "--refine_lr must be > 0")
    _check(
        not (cfg["LAZY_SCALE"] > 0 and cfg["MEAN_INIT_STEPS"] > 0),
        "--mean_init_steps needs --lazy_scale=0: a centred field starts at zero whatever the init is fitted to",
    )


def header_overrides(text: str, base: dict, what: str = "--set") -> dict:
    """``NAME=value`` pairs (``"LR=5e-3,WIDTHS=(8,8)"``) checked and typed against a header `base`."""
    return {k: v[0] for k, v in _pairs(text, base, what, choices=False).items()}


def header_grid(text: str, base: dict, what: str = "--grid") -> list[dict]:
    """Every combination of ``NAME=a|b`` choices (``"LR=1e-3|5e-3,STEPS=50|150"``: four dicts), in order."""
    pairs = _pairs(text, base, what, choices=True)
    return [dict(zip(pairs, combo)) for combo in itertools.product(*pairs.values())]


def _pairs(text: str, base: dict, what: str, choices: bool) -> dict:
    out = {}
    for pair in filter(None, re.split(r",\s*(?=[A-Za-z_]\w*\s*=)", text.strip())):  # a comma before NAME=
        name, eq, raw = pair.partition("=")
        key = name.strip().upper()
        if not eq or key not in base:
            raise UserError(f"{what}: {pair.strip()!r} is not NAME=value with NAME a setting of the header")
        out[key] = [_typed(key, base[key], r.strip()) for r in (raw.split("|") if choices else [raw])]
    return out


def _typed(key: str, default, raw: str):
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return coerce(key, default, value, raw if isinstance(default, str) else None)
