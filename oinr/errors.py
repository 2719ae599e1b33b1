"""User-facing errors: a bad input or config ends the script with one line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A mistake in the user's input or config; the message says what is wrong and what to do."""


def cli(main: Callable[[], object]) -> None:
    """Run `main`; a UserError becomes ``error: <message>`` on stderr and exit status 2 (no traceback)."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume=<run folder>", file=sys.stderr)
        sys.exit(130)
