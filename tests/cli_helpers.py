"""Run ``regauth`` as a real process and check that no secret reaches its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import SECRETS


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


# The checkout under test: the child imports it, whatever its working directory.
SOURCE = Path(__file__).resolve().parents[1]


def regauth(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    path = os.pathsep.join(filter(None, [str(SOURCE), os.environ.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "jupyter_regauth", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )
    run = Run(completed.returncode, completed.stdout, completed.stderr)
    output = run.stdout + run.stderr
    assert not any(s in output for s in SECRETS), "a secret reached the CLI's output"
    return run


def config_json(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "config.json").read_text())
    return data
