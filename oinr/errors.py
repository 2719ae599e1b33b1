"""User-facing errors: a bad input or config ends the script with one line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A mistake in the user's input or config; the message says what is wrong and what to do."""


def _out_of_memory(e: BaseException) -> bool:
    if isinstance(e, MemoryError) or e.__class__.__name__ == "OutOfMemoryError":
        return True
    return "can't allocate memory" in str(e) or "out of memory" in str(e).lower()


def cli(main: Callable[[], object]) -> None:
    """Run `main`; a UserError becomes ``error: <message>`` on stderr and exit status 2 (no traceback)."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except (MemoryError, RuntimeError) as e:  # the estimate (oinr.fit.memory) missed: still one line, not a traceback
        if not _out_of_memory(e):
            raise
        print(f"error: out of memory ({e.__class__.__name__}); use a smaller --size / --resolution or fewer "
              "samples per step", file=sys.stderr, flush=True)  # fmt: skip
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume=<run folder>", file=sys.stderr)
        sys.exit(130)
