"""A registry that never answers holds up only the requests about it: the event loop, the
server's other endpoints and the server's shared thread pool go on serving meanwhile."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_server_openapi import Fetch, checked

#: More registries than asyncio's default executor has threads (min(32, cores + 4)), so a
#: listing that ran its calls there would take every one of them.
SILENT = min(32, (os.cpu_count() or 1) + 4) + 2
TIMEOUT = 8  # seconds the server waits for a registry
PROMPT = 2.0  # seconds a cheap request may take meanwhile


@pytest.fixture
def silent_hosts() -> Iterator[list[str]]:
    """Registries that accept connections (the kernel's backlog) and never say a word."""
    listeners = [socket.create_server(("127.0.0.1", 0), backlog=64) for _ in range(SILENT)]
    try:
        yield [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    finally:
        for listener in listeners:
            listener.close()


@pytest.fixture
def jp_server_config(docker_config: Path, silent_hosts: list[str]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
        "RegAuthApp": {"docker_config_dir": str(docker_config), "timeout": TIMEOUT},
        "RegistryProfiles": {"registries": [{"host": h} for h in silent_hosts]},
    }


async def _timed(call: Any) -> float:
    start = time.monotonic()
    await call
    return time.monotonic() - start


async def test_silent_registries_block_nothing_else(
    jp_fetch: Fetch, silent_hosts: list[str]
) -> None:
    listing = asyncio.ensure_future(checked(jp_fetch, "GET", "registries"))
    one = asyncio.ensure_future(checked(jp_fetch, "GET", "registries", silent_hosts[0]))
    await asyncio.sleep(1.0)  # every status call is waiting on its registry now
    assert not listing.done() and not one.done()

    loop = asyncio.get_running_loop()
    # The default executor is the server's (tornado resolves names there, other extensions
    # run their work there): it has threads to spare.
    assert await _timed(loop.run_in_executor(None, time.sleep, 0)) < PROMPT
    assert await _timed(checked(jp_fetch, "GET", "version")) < PROMPT
    quick = checked(jp_fetch, "GET", "registries", params={"live": "false"})
    assert await _timed(quick) < PROMPT
    assert await _timed(checked(jp_fetch, "GET", "jobs")) < PROMPT
    assert not one.done(), "the registry is still being waited for"

    rows = (await listing)["registries"]
    assert {r["host"] for r in rows} == set(silent_hosts)
    assert all(r["reachable"] is False and r["error"]["code"] == "unreachable" for r in rows)
    assert (await one)["error"]["code"] == "unreachable"
