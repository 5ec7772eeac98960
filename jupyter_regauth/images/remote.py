"""A base image in a registry, as a :class:`~.source.BlobSource`.

The manifest (an index resolved to one platform) and config are small and fetched whole; layers
are streamed, never downloaded to disk. A push to the same registry does not read them at all: it
mounts them (see :mod:`.push`), which is why the source keeps its client and repository.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, BinaryIO, cast

from ..reference import Reference
from ..registry.client import RegistryClient
from ..registry.upload import skip
from .manifest import Document, Platform, select_platform


class RegistrySource:
    def __init__(
        self, client: RegistryClient, ref: Reference, platform: Platform | None = None
    ) -> None:
        self.client = client
        self.ref = ref
        self.platform = platform
        self.name: str | None = str(ref)
        self._manifest: Document | None = None

    @property
    def repository(self) -> str:
        return self.ref.path

    @property
    def label(self) -> str:
        return str(self.ref)

    @property
    def identifier(self) -> str:
        return self.ref.identifier

    def mountable_from(self, client: RegistryClient) -> list[str]:
        """A copy within one registry mounts blobs from this repository instead of sending them."""
        return [self.repository] if client.host == self.client.host else []

    def manifest(self) -> Document:
        if self._manifest is None:
            doc = self.fetch_manifest(self.ref.identifier)
            while doc.is_index:
                doc = self.fetch_manifest(select_platform(doc, self.platform).digest)
            self._manifest = doc
        return self._manifest

    def fetch_manifest(self, reference: str) -> Document:
        """A manifest or index by tag or digest, exactly as the registry serves it."""
        got = self.client.get_manifest(self.ref.path, reference)
        return Document.parse(got.data, got.media_type or None)

    def iter_blob(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        """Stream a blob (verified as it is read) from ``offset``."""
        with self.client.open_blob(self.ref.path, digest) as chunks:
            yield from skip(chunks, offset)

    def open_blob(self, digest: str) -> BinaryIO:
        return cast(BinaryIO, io.BufferedReader(_ChunkReader(self.iter_blob(digest)), 1 << 20))


class _ChunkReader(io.RawIOBase):
    """A raw, readable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self._stack = ExitStack()
        self._stack.callback(getattr(chunks, "close", lambda: None))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._stack.close()
        super().close()
