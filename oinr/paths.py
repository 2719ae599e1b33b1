"""Where the repository lies, and data paths that work from any folder."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_path(p: str | Path) -> Path:
    """A data path as given, or relative to the repository root when it does not exist from here.

    So ``DATA = 'data/camera.png'`` works whether the script runs from the repository root or not.
    """
    p = Path(p).expanduser()
    if p.exists() or p.is_absolute():
        return p
    alt = REPO_ROOT / p
    return alt if alt.exists() else p
