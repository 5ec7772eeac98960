"""The ``regauth`` command (also ``python -m jupyter_regauth``).

Kept free of imports until the command runs, so the blocks below take effect before anything
imports httpx: a command line tool pays for every module it loads on every run, and a re-push of
an unchanged image is mostly interpreter start.
"""

from __future__ import annotations

import sys


def console_main() -> int:
    # The CLI is synchronous: keep httpcore from importing trio (where installed, for async
    # support never used here), and httpx from loading its own command line (click, pygments,
    # rich); together about a tenth of a re-push.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from .cli import main

    return main()


if __name__ == "__main__":
    sys.exit(console_main())
