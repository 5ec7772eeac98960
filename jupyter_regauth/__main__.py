"""The ``regauth`` command (also ``python -m jupyter_regauth``).

Kept free of imports until the command runs, so the settings below take effect before anything
imports httpx: a command line tool pays for every module it loads on every run, and a re-push of
an unchanged image is mostly interpreter start.
"""

from __future__ import annotations

import gc
import sys

ZSTANDARD = "zstandard"
# Modules the CLI keeps from being imported (see console_main).
UNUSED_IN_CLI = ("trio", "anyio", "httpx._main", ZSTANDARD)
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def keep_freed_memory() -> None:
    """Have glibc keep freed blocks of up to 32 MiB for reuse.

    A push allocates and frees megabyte buffers thousands of times (layer blocks, deflate output,
    TLS writes). By default glibc maps many of them afresh and returns freed memory to the
    kernel, so each reuse faults in zeroed pages: about a third of a push's system time. This is
    the command's own process; the library leaves the allocator of its host process alone."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 32 << 20)
    # Two arenas, not eight per core: each would keep freed blocks of its own.
    mallopt(_M_ARENA_MAX, 2)


def console_main() -> int:
    # The CLI is synchronous: keep httpcore from importing trio and anyio (where installed, for
    # async support never used here), and httpx from loading its own command line (click,
    # pygments, rich): 60-70 ms, a fifth of a re-push. httpx also imports zstandard (8 ms) to
    # decode zstd responses, which a registry sends only to a client that asks for them, as
    # this one then does not; zstd layers import it themselves (images/zstd.py lifts the block).
    for unused in UNUSED_IN_CLI:
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]
    keep_freed_memory()
    # Importing makes objects that live as long as the process, not garbage: without the
    # collector, its passes over them as they pile up (a tenth of a re-push) are saved.
    gc.disable()
    from .cli import main

    # The collector leaves frozen objects alone. The modules just imported live as long as the
    # process, so full collections need not scan them; and exiting, the interpreter would search
    # every object left for cycles once more, for nothing as the process ends (40-70 ms of a
    # re-push on 2 cores). Frozen objects are still freed by their reference counts.
    gc.freeze()
    gc.enable()
    try:
        return main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    sys.exit(console_main())
