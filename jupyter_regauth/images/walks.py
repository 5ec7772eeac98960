"""Walks of a build's layer files, started before the registry is asked.

A model of a few thousand files takes tens of milliseconds to stat, in Python. Started early, the
walk overlaps connecting to the registry and fetching the tag's config, and a re-push of an
unchanged image waits for neither in turn.

Where the process has one thread (the command line, on Linux), the walks run in a forked child,
which answers with each layer's diff_id from the layer cache: on a thread, the walk would take
turns under the GIL with the imports and the TLS handshake it is meant to overlap, while a child
runs on another core. The child sends no entries back (pickling them would cost what the walk
saves), so a build that needs them (the image changed) walks again; that costs little beside
compressing and uploading. Elsewhere (a kernel, the server, which have threads and must not
fork), the walks run on a thread and keep their entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .cache import layer_diff_ids, layer_key, lookup
from .layer import Entry, plan
from .progress import ProgressCallback
from .spec import LayerSpec


def can_fork() -> bool:
    """Whether a child can be forked safely: on Linux, with no other thread that could hold a
    lock the child would need (macOS system libraries are not safe to use after a fork)."""
    return sys.platform == "linux" and threading.active_count() == 1


class Walks:
    """The walks of ``layers``, started now; a layer whose walk was not started is walked when
    asked for. ``fork``: run them in a child process (default: where :func:`can_fork`)."""

    def __init__(self, layers: Iterable[LayerSpec] = (), *, fork: bool | None = None) -> None:
        started = list(layers)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="walk")
        self._child: _Child | None = None
        if started and (can_fork() if fork is None else fork):
            self._child = _Child.start(started)
        walked = started if self._child is None else []
        self._walks = [(lay, self._pool.submit(plan, [lay.source()])) for lay in walked]

    def entries(self, lay: LayerSpec) -> list[Entry]:
        if self._child is not None:  # its answer no longer matters: free its core
            self._child.stop()
        walk = next((w for started, w in self._walks if started == lay), None)
        return plan([lay.source()]) if walk is None else walk.result()

    def diff_ids(self, layers: Sequence[LayerSpec], progress: ProgressCallback | None) -> list[str]:
        """The diff_ids of ``layers``: the child's answer when it walked exactly these and the
        cache knew them all, else from their entries (see :func:`layer_diff_ids`)."""
        if self._child is not None:
            known = self._child.answer(layers)
            if known is not None:
                return known
        return layer_diff_ids((self.entries(lay) for lay in layers), progress)

    def close(self) -> None:
        if self._child is not None:
            self._child.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Walks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _known_diff_id(lay: LayerSpec) -> str:
    known = lookup(layer_key(plan([lay.source()])))
    return known.diff_id if known else ""


class _Child:
    """A forked process that walks ``layers`` and writes their known diff_ids (JSON) to a pipe."""

    def __init__(self, pid: int, pipe: int, layers: list[LayerSpec]) -> None:
        self._pid: int | None = pid
        self._pipe = pipe
        self._layers = layers

    @classmethod
    def start(cls, layers: list[LayerSpec]) -> _Child | None:
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:  # the child
            _answer_and_exit(read_end, write_end, layers)
        os.close(write_end)
        return cls(pid, read_end, layers)

    def answer(self, layers: Sequence[LayerSpec]) -> list[str] | None:
        """The child's diff_ids, once: None when it walked other layers, failed (the caller's
        own walk then reports why) or the cache missed one."""
        if self._pid is None:
            return None
        data = bytearray()
        try:
            while chunk := os.read(self._pipe, 1 << 16):
                data += chunk
        except OSError:
            data.clear()
        self.stop()
        try:
            known = json.loads(data) if data else None
        except ValueError:
            return None
        if list(layers) != self._layers or not isinstance(known, list):
            return None
        return known if len(known) == len(layers) and all(known) else None

    def stop(self) -> None:
        """End the child (when it has not) and reap it; its answer, if unread, is dropped."""
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        os.close(self._pipe)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _answer_and_exit(read_end: int, write_end: int, layers: list[LayerSpec]) -> None:
    """Walk, answer and leave at once: ``os._exit`` skips the parent's exit handlers and
    buffered output, which are the parent's to run and flush."""
    code = 1
    try:
        os.close(read_end)
        answer = json.dumps([_known_diff_id(lay) for lay in layers]).encode()
        with open(write_end, "wb", closefd=True) as out:
            out.write(answer)
        code = 0
    finally:
        os._exit(code)
