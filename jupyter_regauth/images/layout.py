"""OCI image layout on disk: ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.

Blobs are written to a temporary file in the blob directory, hashed while written, checked against
the expected digest and renamed into place, so a reader never sees a partial or wrong blob. A new
layout gets its ``index.json`` and then its ``oci-layout`` with its first image, after that image's
blobs: a write that fails before leaves verified blobs, which a retry does not fetch again, and
no layout that looks whole (as skopeo writes both only once an image is complete).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import DigestMismatch
from ..fileio import atomic_write
from . import media
from .errors import ImageError
from .manifest import JSON, Descriptor, Document, Platform, check_digest, select_platform

REF_NAME = "org.opencontainers.image.ref.name"
CHUNK = 1 << 20
#: A temporary blob file untouched this long was left by a write that was killed (a live
#: write touches its file with every chunk): removed when the layout is next written to.
STALE_TMP_SECONDS = 86400


class BlobWriter:
    """A file-like sink that hashes what it is given; :meth:`commit` moves it into the layout."""

    def __init__(self, blob_dir: Path) -> None:
        self._blob_dir = blob_dir
        fd, name = tempfile.mkstemp(dir=blob_dir, prefix=".tmp-")
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    def commit(self, expected_digest: str | None = None) -> Descriptor:
        """Verify, fsync and rename into place. Returns a descriptor with an empty media type."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if expected_digest is not None and digest != expected_digest:
            self.discard()
            raise DigestMismatch(
                f"Blob content hashed to {digest}, expected {expected_digest}",
                hint="the source changed or is corrupt; fetch it again",
            )
        os.chmod(self._path, 0o644)
        os.replace(self._path, self._blob_dir / digest.split(":", 1)[1])
        self.digest = digest
        return Descriptor("", digest, self.size)

    def discard(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.digest is None:
            self.discard()


class OCILayout:
    """An OCI image layout directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._blob_dir = self.root / "blobs" / "sha256"
        self._new = False  # created here, and no image put in it yet: no oci-layout file
        self._swept = False

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> OCILayout:
        """Open an existing layout, or raise."""
        layout = cls(root)
        try:
            version = json.loads((layout.root / "oci-layout").read_bytes())["imageLayoutVersion"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ImageError(
                f"{layout.root} is not an OCI image layout",
                hint="it needs an oci-layout file; create it with skopeo copy ... oci:DIR:TAG",
            ) from None
        if not str(version).startswith("1."):
            raise ImageError(f"Unsupported OCI layout version {version}", hint="expected 1.0.0")
        layout.index()  # a broken one is refused before any blob is read or written
        return layout

    @classmethod
    def create(cls, root: str | os.PathLike[str]) -> OCILayout:
        """Open a layout, or start a new one if the directory has none: its blobs directory
        now, its ``index.json`` and ``oci-layout`` files when the first image is put in it."""
        layout = cls(root)
        if (layout.root / "oci-layout").exists():
            return cls.open(root)
        if layout.root.exists() and not layout.root.is_dir():
            raise ImageError(
                f"{layout.root} is a file, not a directory for an OCI layout",
                hint="give the path of a directory (it is created if missing)",
            )
        try:
            layout._blob_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImageError(
                f"Cannot make an OCI layout in {layout.root}: {exc.strerror}",
                hint="give a directory that can be made or written to",
            ) from None
        layout._new = True
        return layout

    # -- blobs ---------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self._blob_dir / check_digest(digest).split(":", 1)[1]

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError:
            raise ImageError(
                f"Blob {digest} is missing from {self.root}",
                hint="the layout is incomplete; copy the image into it again",
            ) from None

    def iter_blob(
        self, digest: str, offset: int = 0, *, chunk_size: int = CHUNK
    ) -> Iterator[bytes]:
        """Stream a blob's bytes from ``offset`` in chunks (not verified: see
        :meth:`verify_blob`)."""
        with self.open_blob(digest) as f:
            f.seek(offset)
            while chunk := f.read(chunk_size):
                yield chunk

    def read_blob(self, digest: str) -> bytes:
        """Read a small blob (manifest, config) whole, verifying its digest."""
        with self.open_blob(digest) as f:
            data = f.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise DigestMismatch(
                f"Blob {digest} in {self.root} is corrupt", hint="copy the image into it again"
            )
        return data

    def verify_blob(self, digest: str) -> None:
        h = hashlib.sha256()
        for chunk in self.iter_blob(digest):
            h.update(chunk)
        if "sha256:" + h.hexdigest() != digest:
            raise DigestMismatch(
                f"Blob {digest} in {self.root} is corrupt", hint="copy the image into it again"
            )

    def blobs(self) -> Iterator[str]:
        """The digests of all blobs present."""
        for p in sorted(self._blob_dir.iterdir()):
            if not p.name.startswith("."):
                yield "sha256:" + p.name

    def blob_writer(self) -> BlobWriter:
        if not self._swept:
            self._swept = True
            self._remove_stale_temporaries()
        return BlobWriter(self._blob_dir)

    def _remove_stale_temporaries(self) -> None:
        stale = time.time() - STALE_TMP_SECONDS
        with contextlib.suppress(OSError):
            for entry in self._blob_dir.glob(".tmp-*"):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < stale:
                        entry.unlink()

    def write_blob(
        self, data: bytes | Iterable[bytes], expected_digest: str | None = None
    ) -> Descriptor:
        """Store bytes or a stream of chunks; a blob already present is not written again."""
        if expected_digest is not None and self.has_blob(expected_digest):
            size = self.blob_path(expected_digest).stat().st_size
            return Descriptor("", expected_digest, size)
        with self.blob_writer() as w:
            for chunk in [data] if isinstance(data, bytes) else data:
                w.write(chunk)
            return w.commit(expected_digest)

    def copy_blob_from(self, other: OCILayout, digest: str) -> None:
        """Bring a blob over from another layout: a hard link when possible (blobs are
        immutable), else a verified streaming copy."""
        if self.has_blob(digest):
            return
        src = other.blob_path(digest)
        with contextlib.suppress(OSError):
            os.link(src, self.blob_path(digest))
            return
        with other.open_blob(digest) as f:
            self.write_blob(iter(partial(f.read, CHUNK), b""), digest)

    # -- index ---------------------------------------------------------------------------------

    def index(self) -> Document:
        path = self.root / "index.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            if self._new:  # none written yet
                return Document.parse(_index_json([]), media.OCI_INDEX)
            raise ImageError(
                f"{self.root} has no index.json", hint="the layout is incomplete"
            ) from None
        # Checked whole here, so that a broken one is named, not a traceback where it is read.
        try:
            doc = Document.parse(raw, media.OCI_INDEX)
            entries = doc.data.get("manifests") or []
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ImageError("its manifests are not a list of descriptors")
            doc.manifests()
        except ImageError as exc:
            raise ImageError(
                f"{path} is corrupt: {exc.message}",
                hint="fix the file, or pull the images into a new layout",
            ) from None
        return doc

    def ref_names(self) -> list[str]:
        return [
            d.annotations[REF_NAME] for d in self.index().manifests() if REF_NAME in d.annotations
        ]

    def resolve(self, ref: str | None = None) -> Descriptor:
        """The index.json entry named ``ref``; with no ref, the only entry."""
        entries = self.index().manifests()
        if ref is None:
            if len(entries) == 1:
                return entries[0]
            raise ImageError(
                f"{self.root} holds {len(entries)} images; say which one",
                hint=f"use one of the names: {', '.join(self.ref_names()) or 'none'}",
            )
        for desc in entries:
            if desc.annotations.get(REF_NAME) == ref:
                return desc
        raise ImageError(
            f"No image named {ref!r} in {self.root}",
            hint=f"available names: {', '.join(self.ref_names()) or 'none'}",
        )

    def read_manifest(self, ref: str | None = None, platform: Platform | None = None) -> Document:
        """The image manifest named ``ref``, choosing ``platform`` from an index if needed."""
        desc = self.resolve(ref)
        doc = Document.parse(self.read_blob(desc.digest), desc.media_type)
        while doc.is_index:
            desc = select_platform(doc, platform)
            doc = Document.parse(self.read_blob(desc.digest), desc.media_type)
        return doc

    def put_manifest(
        self, doc: Document, ref: str | None = None, platform: Platform | None = None
    ) -> Descriptor:
        """Store a manifest or index and list it in index.json under ``ref`` (replacing the
        entry that had that name, and an entry that is this very descriptor)."""
        self.write_blob(doc.raw, doc.digest)
        desc = doc.descriptor(annotations={REF_NAME: ref} if ref else {}, platform=platform)
        index = self.index().data

        def replaced(entry: JSON) -> bool:
            named = (entry.get("annotations") or {}).get(REF_NAME)
            return bool(ref and named == ref) or Descriptor.from_dict(entry) == desc

        # The other entries are kept as written: another tool's fields (artifactType,
        # os.version, the index's own annotations) are not ours to drop.
        kept = [entry for entry in index.get("manifests") or [] if not replaced(entry)]
        self._write_index([*kept, desc.to_dict()], index)
        return desc

    def _write_index(self, entries: list[JSON], index: JSON | None = None) -> None:
        atomic_write(self.root / "index.json", _index_json(entries, index), mode=0o644)
        if self._new:  # last: what marks the directory a layout, now that it has an image
            atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', mode=0o644)
            self._new = False


def _index_json(entries: list[JSON], index: JSON | None = None) -> bytes:
    data = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, **(index or {})}
    data["manifests"] = entries
    return json.dumps(data, indent=2).encode() + b"\n"
