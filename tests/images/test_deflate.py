from __future__ import annotations

import gzip
import os
import subprocess
import threading
import zlib
from collections.abc import Iterator

import pytest
from isal import isal_zlib

from jupyter_regauth.images import deflate
from jupyter_regauth.images.deflate import BLOCK, Compressor, stored

TEXT = b"".join(b"%d,%d;%s\n" % (i, i * 7 % 13, b"x" * (i % 9)) for i in range(200_000))


def blocks_of(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]


def gzip_all(data: bytes, threads: int = 2, level: int = 1) -> bytes:
    with Compressor(level, threads) as compressor:
        return b"".join(compressor.gzip(blocks_of(data)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"tiny",
        os.urandom(BLOCK),  # exactly one block, stored
        TEXT[:BLOCK] * 2 + os.urandom(BLOCK + 3),  # compressed blocks, then stored ones
        os.urandom(BLOCK // 2) + TEXT[: BLOCK // 2] + os.urandom(2 * BLOCK),  # a mixed block
    ],
    ids=["empty", "tiny", "random-block", "text-then-random", "mixed"],
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
    assert deflate._incompressible(noise[:BLOCK], 1)
    assert not deflate._incompressible(TEXT[:BLOCK], 1)


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
        first, second = shared.gzip(blocks_of(data)), shared.gzip(blocks_of(data[::-1]))
        out1, out2 = bytearray(), bytearray()
        for a, b in zip(first, second, strict=False):
            out1 += a
            out2 += b
        out1 += b"".join(first)
        out2 += b"".join(second)
    assert bytes(out1) == alone
    assert gzip.decompress(bytes(out2)) == data[::-1]


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
            b"".join(compressor.gzip(failing()))
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
        out = compressor.gzip(endless())
        next(out)
        out.close()
        reads = endless_reads
    assert reads < 10
    assert set(threading.enumerate()) - before == set()


def test_level_is_checked() -> None:
    with pytest.raises(ValueError, match="0-3"):
        Compressor(9)
