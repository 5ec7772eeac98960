"""The layer compressions a build can use, behind one interface: gzip (:mod:`.deflate`, the
default, which every runtime reads) and zstd (:mod:`.zstd`, which only :data:`ZSTD_RUNTIMES`
read)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

GZIP = "gzip"
ZSTD = "zstd"
COMPRESSIONS = (GZIP, ZSTD)
ZSTD_RUNTIMES = "containerd 1.5+, CRI-O, podman, Docker 23+"


class LayerCompressor(Protocol):
    """Compresses layer streams, several at once; ``close`` when the build is done."""

    media_type: str
    threads: int

    def compress(self, blocks: Iterable[bytes | bytearray]) -> Iterator[bytes]: ...
    def close(self) -> None: ...
    def __enter__(self) -> LayerCompressor: ...
    def __exit__(self, *exc: object) -> None: ...


def layer_compressor(
    compression: str = GZIP, level: int = 1, threads: int | None = None
) -> LayerCompressor:
    """A compressor for ``compression`` (see :data:`COMPRESSIONS`) at ``level``."""
    if compression == ZSTD:
        from .zstd import ZstdCompressor

        return ZstdCompressor(level, threads)
    if compression != GZIP:
        raise ValueError(f"unknown layer compression {compression!r}")
    from .deflate import Compressor

    return Compressor(level, threads)
