"""Parallel gzip in independent blocks (pigz style), storing what does not compress.

Each block of the input is deflated on its own, primed with the previous block's last 32 KiB,
and ends byte-aligned (a sync flush), so the compressed blocks simply concatenate into one gzip
member. A block whose samples do not shrink (random weights, already compressed files) is written
as stored deflate blocks instead: ISA-L would still search it for matches (at about 1.4 GB/s on
the test machine, against 5 GB/s for storing) to output the same bytes. A block that a 512-byte
window shrinks as well as the full 32 KiB does (arrays of numbers, whose repeats are chance ones)
is deflated with the short window: on the benchmark's float arrays ISA-L then runs at 700 MB/s
instead of 400, for the same output size. The output depends only on the input, the level and
:data:`BLOCK`, never on timing or the number of threads.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import struct
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from isal import isal_zlib

from . import media

BLOCK = 1 << 20
WINDOW = 32 << 10  # deflate's dictionary
_STORED_MAX = 0xFFFF  # bytes in one stored block
_SAMPLE = 8 << 10
_STORE_ABOVE = 0.97  # sample ratio above which a block is stored
SHORT_WINDOW = 9  # 512 bytes, the least deflate allows
_SHORT_WITHIN = 1.01  # how much more the short window may output than the full one
# Magic, deflate, no flags, mtime 0, no extra flags, OS unknown: what Go's gzip writes.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_LAST = b"\x03\x00"  # an empty final block with fixed codes

Deflated = tuple[bytes, int]  # raw deflate of a block, CRC-32 of the block


def deflate_block(block: bytes | bytearray, zdict: bytes | memoryview, level: int) -> Deflated:
    """Raw deflate of ``block`` (not final, ending on a byte boundary) and its CRC-32."""
    window = _window(block, level)
    if window == 0:
        return stored(block), isal_zlib.crc32(block)
    compressor = _thread_compressor(level) if window == 15 else None
    if compressor is not None:
        return compressor.compress_and_crc(block, zdict)  # type: ignore[no-any-return]
    zdict = zdict[-(1 << window) :]
    c = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -window, zdict=zdict) if zdict else None
    c = c or isal_zlib.compressobj(level, isal_zlib.DEFLATED, -window)
    return c.compress(block) + c.flush(isal_zlib.Z_SYNC_FLUSH), isal_zlib.crc32(block)


_local = threading.local()


def _thread_compressor(level: int) -> Any:
    """This thread's reusable ISA-L stream with an output buffer (what ``igzip_threaded`` uses:
    about a third faster than ``compressobj`` on blocks, which grows its output as it goes), or
    None when this version of isal does not have it."""
    kind = getattr(isal_zlib, "_ParallelCompress", None)
    if kind is None:
        return None
    cache: dict[int, Any] = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        # Deflate never grows data by more than 10% at levels 1-3; level 0 codes everything
        # with one fixed table and can nearly double it.
        room = 2 * BLOCK + 500 if level == 0 else BLOCK + BLOCK // 10
        cache[level] = kind(buffersize=room, level=level)
    return cache[level]


def _window(block: bytes | bytearray, level: int) -> int:
    """The deflate window (in bits) for ``block``, from samples at its start, middle and end
    (a few percent of the work of deflating it): 0 to store it, when the samples do not shrink;
    :data:`SHORT_WINDOW` when it shrinks them within 1% of what the full window does; else 15."""
    if len(block) < 4 * _SAMPLE:
        return 15
    view, last = memoryview(block), len(block) - _SAMPLE
    samples = [view[start : start + _SAMPLE] for start in (0, last // 2, last)]
    full = sum(len(isal_zlib.compress(s, level, -15)) for s in samples)
    if full >= _STORE_ABOVE * _SAMPLE * len(samples):
        return 0
    short = sum(len(isal_zlib.compress(s, level, -SHORT_WINDOW)) for s in samples)
    return SHORT_WINDOW if short <= _SHORT_WITHIN * full else 15


def stored(data: bytes | bytearray) -> bytes:
    """``data`` as stored deflate blocks (not final): 5 bytes of header per 64 KiB."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(view), _STORED_MAX):
        piece = view[start : start + _STORED_MAX]
        parts += (struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF), piece)
    return b"".join(parts)  # one copy


def default_threads() -> int:
    """Compression threads: one per core, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


_NICER = 10  # how much lower the deflate and reader threads run than the thread that made them


def run_nicer() -> None:
    """Lower the calling thread's CPU priority (Linux, where priority is per thread; elsewhere
    it would be the whole process's). The deflate and reader threads only fill bounded queues
    ahead of the thread that sends: when the cores are free this costs the push nothing, and
    when they are not the sender, the notebook and a registry on the same machine go first. On
    the benchmark's 2 cores the registry spent about half as long waiting for a core."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    # Where a sandbox forbids it, the thread keeps its priority: merely less polite.
    with contextlib.suppress(OSError):
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, nice + _NICER))


# A block to deflate: the rank of its stream, its number, and the work itself (None: stop).
_Job = tuple[int, int, "tuple[Future[Deflated], bytes | bytearray, bytes | memoryview] | None"]


class Compressor:
    """A gzip level and the threads that deflate blocks, shareable by several layers at once
    (their blocks queue for the same threads, so memory and CPU stay bounded).

    Streams are served in the order they started: a later stream's blocks are deflated only
    while no earlier one has a block waiting. The threads never idle while there is work, and
    layers pushed together finish in turn rather than all at the end, so the registry stores
    (and flushes to disk) the first ones while the last are still arriving."""

    media_type = media.OCI_LAYER_GZIP

    def __init__(self, level: int = 1, threads: int | None = None) -> None:
        if not 0 <= level <= 3:
            raise ValueError(f"gzip level {level} is not 0-3 (ISA-L levels)")
        self.level = level
        self.threads = max(1, threads or default_threads())
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._numbers = itertools.count()  # orders streams, and blocks within a rank
        self._closed = False
        self._workers = [
            threading.Thread(target=self._work, name=f"deflate-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def _work(self) -> None:
        run_nicer()
        while (job := self._jobs.get()[2]) is not None:
            future, block, zdict = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(deflate_block(block, zdict, self.level))
            except BaseException as exc:  # raised again in the stream's consumer
                future.set_exception(exc)

    def _submit(
        self, rank: int, block: bytes | bytearray, zdict: bytes | memoryview
    ) -> Future[Deflated]:
        if self._closed:
            raise RuntimeError("the compressor is closed")
        future: Future[Deflated] = Future()
        self._jobs.put((rank, next(self._numbers), (future, block, zdict)))
        return future

    def compress(self, blocks: Iterable[bytes | bytearray]) -> Iterator[bytes]:
        """One gzip member of the concatenated ``blocks``, in pieces, in order.

        A reader thread takes the blocks (so reading overlaps the consumer's own work, such as
        sending) and hands each to the deflate threads; up to a few are in flight. Blocks must
        be :data:`BLOCK` bytes except the last, for the output to be reproducible. Closing the
        iterator early stops the reader and cancels the blocks not yet started."""
        handed: queue.Queue[tuple[Future[Deflated], int] | BaseException | None] = queue.Queue(
            self.threads + 1
        )
        stop = threading.Event()
        rank = next(self._numbers)

        def hand(item: tuple[Future[Deflated], int] | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    handed.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            run_nicer()
            zdict: bytes | memoryview = b""
            try:
                for block in blocks:
                    future = self._submit(rank, block, zdict)
                    if not hand((future, len(block))):
                        future.cancel()
                        return
                    # A view, not a copy: blocks are never changed once read.
                    zdict = memoryview(block)[-WINDOW:]
                hand(None)
            except BaseException as exc:  # raised again in the consumer
                hand(exc)

        reader = threading.Thread(target=read, name="gzip reader", daemon=True)
        reader.start()
        crc = size = 0
        head = HEADER
        try:
            while (item := handed.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                future, length = item
                deflated, block_crc = future.result()
                crc = isal_zlib.crc32_combine(crc, block_crc, length)
                size += length
                yield head + deflated
                head = b""
            yield head + _LAST + struct.pack("<II", crc, size & 0xFFFFFFFF)
        finally:
            stop.set()
            while not handed.empty():
                item = handed.get_nowait()
                if isinstance(item, tuple):
                    item[0].cancel()
            reader.join()

    def close(self) -> None:
        """Stop the threads once the blocks they are deflating are done; blocks still waiting
        are cancelled."""
        self._closed = True
        for i in range(len(self._workers)):
            self._jobs.put((-1, i, None))  # ahead of any block
        for worker in self._workers:
            worker.join()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()[2]
            if job is not None:
                job[0].cancel()

    def __enter__(self) -> Compressor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
