"""Fixtures for the credential tests: an isolated docker config dir and a real helper on PATH."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Registered passwords are checked against every log record by the suite's autouse fixture.
from tests.conftest import new_password

__all__ = ["HELPER_SOURCE", "TestHelper", "docker_dir", "new_password", "testhelper"]

HELPER_SOURCE = Path(__file__).with_name("testhelper.py")


@pytest.fixture
def docker_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$DOCKER_CONFIG`` in a fresh temporary directory; no other credential source set (the
    default containers auth files are under ``tmp_path/run`` and ``tmp_path/config``)."""
    directory = tmp_path / "docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_AUTH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return directory


@dataclass
class TestHelper:
    """``docker-credential-testhelper`` on PATH, keeping its store in ``store_path``."""

    __test__ = False
    store_path: Path

    def stored(self) -> dict[str, dict[str, str]]:
        if not self.store_path.exists():
            return {}
        data: dict[str, dict[str, str]] = json.loads(self.store_path.read_text())
        return data


@pytest.fixture
def testhelper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHelper]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker-credential-testhelper"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HELPER_SOURCE}" "$@"\n')
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    store_path = tmp_path / "helper-store.json"
    monkeypatch.setenv("TESTHELPER_STORE", str(store_path))
    yield TestHelper(store_path)
