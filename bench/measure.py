"""Run a command and measure its wall time and peak memory.

The peak resident set comes from GNU time (``%M``): it forks the command from its own small
process and reads the child's ``ru_maxrss`` from ``wait4``, which on Linux covers the command and
every descendant it waited for, with no polling that could miss a short peak. (Forking straight
from this Python process would not do: Python spawns with vfork, and the kernel then records the
parent's high-water mark at exec as the child's.)
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TIME = "/usr/bin/time"


class ToolFailed(RuntimeError):
    """A measured command exited non-zero (or timed out); the message holds its output's tail."""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str = ""


def run(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 1800,
) -> Run:
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [TIME, "-f", "%M", "-o", rss.name, *map(str, argv)],
                input=stdin,
                capture_output=True,
                env=dict(env) if env is not None else None,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolFailed(f"{Path(str(argv[0])).name} timed out after {timeout:.0f} s") from None
        seconds = time.perf_counter() - start
        peak_kib = rss.read().strip().splitlines()[-1]
    stdout = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        tail = (stdout + proc.stderr.decode(errors="replace")).strip().splitlines()[-15:]
        raise ToolFailed(
            f"{Path(str(argv[0])).name} exited with {proc.returncode}:\n" + "\n".join(tail)
        )
    return Run(seconds, int(peak_kib) / 1024, stdout, proc.stderr.decode(errors="replace"))


def shell(script: str, *, env: Mapping[str, str] | None = None) -> Run:
    """Measure a whole ``bash -e`` script (several commands a user would type) as one run."""
    return run(["bash", "-euo", "pipefail", "-c", script], env=env)
