from __future__ import annotations

import gzip
import os
import random
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator

import pytest
from isal import isal_zlib

from jupyter_regauth.images import deflate
from jupyter_regauth.images.deflate import BLOCK, Compressor, stored

TEXT = b"".join(b"%d,%d;%s\n" % (i, i * 7 % 13, b"x" * (i % 9)) for i in range(200_000))


def float_array(size: int) -> bytes:
    """float32 values in [1, 2) with a few bits of the mantissa's top set: what model weights
    and activations look like to deflate (skewed bytes, no repeats but chance ones)."""
    data = bytearray(os.urandom(size))
    data[3::4] = b"\x3f" * (size // 4)
    data[2::4] = bytes(0x80 | (b & 0x0F) for b in data[2::4])
    return bytes(data)


def repeating(size: int) -> bytes:
    """Text whose repeats lie 6 KB back: only the full window finds them. Fixed, as how many
    of them ISA-L's hash table finds depends on the bytes (from a fourteenth to a seventh of
    the short window's output over 40 random paragraphs)."""
    paragraph = random.Random(6001).randbytes(3000).hex().encode() + b"\n"
    return (paragraph * (size // len(paragraph) + 1))[:size]


def blocks_of(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]


def gzip_all(data: bytes, threads: int = 2, level: int = 1) -> bytes:
    with Compressor(level, threads) as compressor:
        return b"".join(compressor.compress(blocks_of(data)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"tiny",
        os.urandom(BLOCK),  # exactly one block, stored
        TEXT[:BLOCK] * 2 + os.urandom(BLOCK + 3),  # compressed blocks, then stored ones
        os.urandom(BLOCK // 2) + TEXT[: BLOCK // 2] + os.urandom(2 * BLOCK),  # a mixed block
        float_array(2 * BLOCK) + repeating(BLOCK) + float_array(BLOCK + 9),  # short, full window
    ],
    ids=["empty", "tiny", "random-block", "text-then-random", "mixed", "windows"],
)
def test_output_is_one_valid_gzip_member(data: bytes) -> None:
    out = gzip_all(data)
    assert out[:3] == b"\x1f\x8b\x08"
    assert gzip.decompress(out) == data  # checks the CRC-32 and length trailer too
    d = zlib.decompressobj(31)
    assert d.decompress(out) == data and d.eof and not d.unused_data
    proc = subprocess.run(["gzip", "-dc"], input=out, capture_output=True, check=True)
    assert proc.stdout == data


def test_random_data_is_stored_and_text_is_compressed() -> None:
    noise = os.urandom(4 * BLOCK)
    out = gzip_all(noise)
    # Stored blocks: 5 bytes of header per 64 KiB, plus the gzip header and trailer.
    assert len(out) <= len(noise) + 5 * (len(noise) // 0xFFFF + 4) + 20
    assert len(gzip_all(TEXT)) < len(TEXT) // 3
    assert deflate._window(noise[:BLOCK], 1) == 0
    assert deflate._window(TEXT[:BLOCK], 1) == 15
    # Random records that repeat 4 KiB apart: compressed, though a short window finds nothing.
    assert deflate._window(os.urandom(4096) * (BLOCK // 4096), 1) == 15


def test_number_arrays_get_the_short_window_and_lose_nothing_by_it() -> None:
    numbers = float_array(4 * BLOCK)
    assert deflate._window(numbers[:BLOCK], 1) == deflate.SHORT_WINDOW
    full = [isal_zlib.compress(b, 1, -15) for b in blocks_of(numbers)]
    out = gzip_all(numbers)
    assert gzip.decompress(out) == numbers
    assert len(out) <= 1.01 * sum(map(len, full)) + 20


def test_text_repeating_beyond_the_short_window_keeps_the_full_one() -> None:
    text = repeating(2 * BLOCK)
    assert deflate._window(text[:BLOCK], 1) == 15
    # The repeats are found: a fraction of what a 512-byte window would leave.
    short = isal_zlib.compress(text, 1, -deflate.SHORT_WINDOW)
    assert len(gzip_all(text)) < len(short) // 4


def test_stored_blocks_are_raw_deflate() -> None:
    data = os.urandom(3 * 0xFFFF + 10)
    raw = stored(data) + b"\x03\x00"  # close with an empty final block
    assert zlib.decompress(raw, -15) == data


def test_output_does_not_depend_on_threads_or_sharing() -> None:
    data = TEXT[: 3 * BLOCK] + os.urandom(2 * BLOCK) + TEXT[: BLOCK + 77]
    alone = gzip_all(data, threads=1)
    assert gzip_all(data, threads=3) == alone
    # Two streams through one compressor at once, read in turns.
    with Compressor(1, 2) as shared:
        first, second = shared.compress(blocks_of(data)), shared.compress(blocks_of(data[::-1]))
        out1, out2 = bytearray(), bytearray()
        for a, b in zip(first, second, strict=False):
            out1 += a
            out2 += b
        out1 += b"".join(first)
        out2 += b"".join(second)
    assert bytes(out1) == alone
    assert gzip.decompress(bytes(out2)) == data[::-1]


def test_streams_are_served_in_the_order_they_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """A block of the first stream queued after blocks of a second one is still deflated
    before them (the one thread is held at two points so the queue's order is known)."""
    order: list[bytes] = []
    held = [(threading.Event(), threading.Event()) for _ in range(2)]  # (busy, release)
    real = deflate.deflate_block

    def recording(block: bytes, zdict: bytes, level: int) -> deflate.Deflated:
        if len(order) < len(held):
            busy, release = held[len(order)]
            busy.set()
            release.wait(10)
        order.append(block[:1])
        return real(block, zdict, level)

    monkeypatch.setattr(deflate, "deflate_block", recording)
    outputs: dict[bytes, bytes] = {}

    def consume(letter: bytes, stream: Iterator[bytes]) -> None:
        outputs[letter] = b"".join(stream)

    def queued(n: int) -> None:
        deadline = time.monotonic() + 10
        while compressor._jobs.qsize() < n and time.monotonic() < deadline:
            time.sleep(0.005)
        assert compressor._jobs.qsize() == n

    with Compressor(1, 1) as compressor:
        streams = {letter: compressor.compress([letter * BLOCK] * 8) for letter in (b"a", b"b")}
        consumers = [
            threading.Thread(target=consume, args=item, daemon=True) for item in streams.items()
        ]
        # Each reader hands its consumer one block and queues three more ahead of it.
        consumers[0].start()
        assert held[0][0].wait(10)  # the thread holds a1; a2-a4 are queued
        queued(3)
        consumers[1].start()
        queued(7)  # and b1-b4
        held[0][1].set()  # a1 done: the thread holds a2, and the reader of a queues a5
        assert held[1][0].wait(10)
        queued(7)  # a3-a5, b1-b4
        held[1][1].set()
        for consumer in consumers:
            consumer.join(10)
    assert order[:5] == [b"a"] * 5  # a5 went before b1
    assert sorted(order) == [b"a"] * 8 + [b"b"] * 8
    assert {k: gzip.decompress(v) for k, v in outputs.items()} == {
        b"a": b"a" * 8 * BLOCK,
        b"b": b"b" * 8 * BLOCK,
    }


def test_without_isal_parallel_compressor_output_still_decompresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(isal_zlib, "_ParallelCompress")
    monkeypatch.setattr(deflate, "_local", threading.local())
    data = TEXT[: 2 * BLOCK + 5] + os.urandom(BLOCK)
    assert gzip.decompress(gzip_all(data)) == data


def test_error_while_reading_reaches_the_consumer_and_threads_stop() -> None:
    before = set(threading.enumerate())

    def failing() -> Iterator[bytes]:
        yield TEXT[:BLOCK]
        raise OSError("disk went away")

    with Compressor(1, 2) as compressor:
        with pytest.raises(OSError, match="disk went away"):
            b"".join(compressor.compress(failing()))
    assert set(threading.enumerate()) - before == set()


def test_closing_early_stops_the_reader() -> None:
    before = set(threading.enumerate())
    endless_reads = 0

    def endless() -> Iterator[bytes]:
        nonlocal endless_reads
        while True:
            endless_reads += 1
            yield os.urandom(BLOCK)

    with Compressor(1, 2) as compressor:
        out = compressor.compress(endless())
        next(out)
        out.close()
        reads = endless_reads
    assert reads < 10
    assert set(threading.enumerate()) - before == set()


def test_deflate_threads_run_at_a_lower_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = deflate.deflate_block

    def recording(block: bytes, zdict: bytes, level: int) -> deflate.Deflated:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(block, zdict, level)

    monkeypatch.setattr(deflate, "deflate_block", recording)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert gzip.decompress(gzip_all(TEXT[: 2 * BLOCK])) == TEXT[: 2 * BLOCK]
    assert seen == [min(19, mine + 10)] * 2
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_a_closed_compressor_says_so() -> None:
    compressor = Compressor(1, 1)
    compressor.close()
    with pytest.raises(RuntimeError, match="closed"):
        b"".join(compressor.compress([TEXT[:BLOCK]]))


def test_level_is_checked() -> None:
    with pytest.raises(ValueError, match="0-3"):
        Compressor(9)
