"""Header constants -> command-line overrides and preset files.

A script keeps its hyperparameters as UPPER_CASE constants in its header and calls
``configure(globals())``. Arguments are then, in order:

    python 2dimage/train.py [PRESET.py ...] [--name=value ...]

* a preset file holds plain ``NAME = literal`` lines (parsed, never executed); a bare file name is
  also looked for beside the script;
* ``--name=value`` overrides one constant; names are case-insensitive, values are Python literals
  (``--widths=64,128`` is a tuple, ``--lr=1e-3`` a float) or bare strings for string constants;
* an int is accepted for a float, a single value for a tuple, 1/0/true/false/yes/no for a boolean;
  unknown names and wrong types are a
  `UserError` (one line, exit 2);
* a script whose header has ``MODEL`` also takes every model setting of the registry (``--hidden=128``
  for a baseline) that its header does not carry; the run's config.json lists those the chosen model
  ignores;
* ``--resume=<run folder>`` starts from that run's saved config; other overrides still apply
  (``--steps`` extends the run);
* ``--help`` prints the header and exits.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from oinr.errors import UserError
from oinr.models.registry import model_settings

_ALLOWED = (bool, int, float, str, tuple, list, type(None))


def header_names(namespace: dict) -> dict:
    """The UPPER_CASE constants of a script namespace that configure() manages: those of its header (assigned
    before the script's first import, when its file can be read), not module-level tables further down."""
    names = {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_") and isinstance(v, _ALLOWED)}
    header = _header_block(namespace.get("__file__"))
    return names if header is None else {k: v for k, v in names.items() if k in header}


def _header_block(file) -> set | None:
    """Names assigned at the top of `file` before its first import statement (None if it cannot be read)."""
    try:
        tree = ast.parse(Path(file).read_text())
    except (TypeError, OSError, SyntaxError, ValueError):
        return None
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            break
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _type_name(v) -> str:
    return {bool: "true/false", int: "an int", float: "a float", str: "a string"}.get(type(v), "a tuple")


def coerce(name: str, default, value, raw: str | None = None):
    """Check `value` against the type of `default`; return it converted (int->float, list->tuple)."""
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):  # --gray=1
            return bool(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        return raw if raw is not None else value if isinstance(value, str) else _fail(name, default, value)
    elif isinstance(default, (tuple, list)):
        if isinstance(value, str):  # --models=oinr,siren: bare words are not literals
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        items = value if isinstance(value, (tuple, list)) else (value,)
        if default:
            items = [coerce(name, default[0], v) for v in items]
        return type(default)(items)
    return _fail(name, default, value if raw is None else raw)


def _fail(name, default, value):
    raise UserError(f"--{name.lower()} expects {_type_name(default)} (like {default!r}), got {value!r}")


def _literal(raw: str):
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return raw


def read_preset(path: Path) -> dict:
    """The ``NAME = literal`` assignments of a preset file (comments and blank lines allowed)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError) as e:
        raise UserError(f"cannot read preset {path}: {e}") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # docstring
            continue
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise UserError(f"preset {path}:{node.lineno}: only 'NAME = value' lines are allowed")
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise UserError(f"preset {path}:{node.lineno}: the value must be a literal") from None
    return out


def _find_preset(arg: str, script: Path) -> Path:
    p = Path(arg)
    for cand in (p, script.parent / p, script.parent / p.name):
        if cand.is_file():
            return cand
    raise UserError(f"preset file {arg} not found (looked in the current folder and beside {script.name})")


def _print_help(script: Path, defaults: dict) -> None:
    """The script's docstring and its header (the lines before the first import), nothing from its body."""
    doc, lines = [], script.read_text().splitlines()
    for line in lines:
        s = line.strip()
        if s.startswith(("import ", "from ")):
            break
        if s.startswith("# ") or (s.split("=")[0].strip() in defaults and "=" in s):
            doc.append(line)
    print(f"usage: python {script.name} [PRESET.py ...] [--name=value ...]\n")
    print("\n".join(doc))


def configure(namespace: dict, argv: list[str] | None = None, base: str | Path | None = None) -> dict:
    """Apply presets and ``--name=value`` overrides to the header constants in `namespace` (in place).

    `base`: another script (a path relative to this one's folder) whose header supplies every setting this
    header does not define (2dimage/denoise.py takes its model and optimiser settings from train.py's).
    Returns the resolved config as a plain dict (also written back into `namespace`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    defaults = header_names(namespace)
    if base is not None:
        here = Path(namespace.get("__file__", sys.argv[0] or ".")).resolve().parent
        defaults = {**script_defaults(here / base, with_models=False), **defaults}
    script = Path(namespace.get("__file__", sys.argv[0] or ".")).resolve()
    cfg = dict(defaults)
    if "MODEL" in defaults:  # the registry's model settings are overridable where the header does not carry them
        defaults = {**model_settings(), **defaults}
    lower = {k.lower(): k for k in defaults}
    explicit: dict = {}

    def assign(name: str, value, raw, origin: str):
        key = lower.get(name.lower())
        if key is None:
            raise UserError(f"unknown setting {name!r} in {origin}; known: {', '.join(sorted(lower))}")
        explicit[key] = coerce(key, defaults[key], value, raw)

    for arg in argv:
        if arg in ("-h", "--help"):
            _print_help(script, defaults)
            sys.exit(0)
        if arg.startswith("--"):
            name, eq, raw = arg[2:].partition("=")
            if not eq:
                raise UserError(f"expected --name=value, got {arg!r}")
            key = lower.get(name.lower())
            is_str = key is not None and isinstance(defaults[key], str)
            assign(name, _literal(raw), raw if is_str else None, "the command line")
        else:
            for name, value in read_preset(_find_preset(arg, script)).items():
                assign(name, value, None, arg)

    resume = explicit.get("RESUME", cfg.get("RESUME"))
    if resume:
        saved = load_run_config(Path(resume))
        for k, v in saved.items():
            if k in defaults and k not in explicit and v is not None:
                cfg[k] = coerce(k, defaults[k], v)
    cfg.update(explicit)
    namespace.update(cfg)
    return cfg


def load_run_config(run: Path) -> dict:
    """The resolved config stored in a run folder's config.json."""
    f = run / "config.json"
    if not run.is_dir():
        raise UserError(f"{run} is not a run folder")
    try:
        return json.loads(f.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"cannot read {f} ({e.__class__.__name__}); is {run} a run folder?") from None


def script_defaults(script: Path, with_models: bool = True) -> dict:
    """The header constants (top-level ``NAME = literal`` lines) of an experiment script, without running it.

    A script that picks a MODEL also gets the registry's model settings its header does not carry, where
    every model that reads one agrees on its default (HIDDEN, LAYERS, HASH_LOG2_T, ...).
    """
    tree = ast.parse(Path(script).read_text(), filename=str(script))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                try:
                    out[name] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    if with_models and "MODEL" in out:  # the peers' settings a run of this script would use: the registry's
        out = {**model_settings(unambiguous=True), **out}
    return out
