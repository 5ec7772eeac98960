"""Concurrent writers in separate processes: the lock and atomic rename keep every entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jupyter_regauth.credentials import Credentials, DockerConfig

REPO = Path(__file__).resolve().parent.parent
WRITER = """
import sys
from pathlib import Path
from jupyter_regauth.credentials import Credentials, DockerConfig
config = DockerConfig(Path(sys.argv[1]))
index = int(sys.argv[2])
config.store(f"reg{index}.example:5000", Credentials(f"user{index}", f"pw:{index}:secret"))
if index % 2:
    config.erase("shared.example")
"""


def test_twenty_processes_store_concurrently(tmp_path: Path) -> None:
    directory = tmp_path / "docker"
    directory.mkdir()
    (directory / "config.json").write_text(
        json.dumps({"auths": {"shared.example": {"auth": "dTpw"}}, "psFormat": "keep"})
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(directory), str(i)], env=env)
        for i in range(20)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 20

    data = json.loads((directory / "config.json").read_text())
    assert data["psFormat"] == "keep"
    assert sorted(data["auths"]) == sorted(f"reg{i}.example:5000" for i in range(20))
    config = DockerConfig(directory)
    for i in range(20):
        assert config.get(f"reg{i}.example:5000") == Credentials(f"user{i}", f"pw:{i}:secret")
    # No temporary file is left behind.
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "config.json.lock"]
