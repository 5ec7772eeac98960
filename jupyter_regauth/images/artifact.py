"""Arbitrary files (a model) as OCI artifacts, in the shape ORAS writes and reads.

An OCI 1.1 image manifest with ``artifactType``, the empty config (``{}``), and one layer per
path, titled (``org.opencontainers.image.title``) by the path as given, where a pull writes it. A
file is its own blob; a directory is a tar+gzip of it (entries under its title) marked
``io.deis.oras.content.unpack`` with the tar's digest in ``io.deis.oras.content.digest``, so
``oras pull`` unpacks it, and we unpack what ``oras push`` wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import DigestMismatch
from ..reference import Reference
from ..registry.client import RegistryClient
from ..registry.upload import file_opener, push_blob, push_bytes
from . import media
from .errors import ImageError, NotAnArtifact
from .layer import LayerSource, LayerStream, plan
from .manifest import JSON, Descriptor, Document
from .progress import ProgressCallback, ProgressEvent, emit
from .push import PushResult, digest_reference, upload_layer

TITLE = "org.opencontainers.image.title"
UNPACK = "io.deis.oras.content.unpack"
TAR_DIGEST = "io.deis.oras.content.digest"
DEFAULT_ARTIFACT_TYPE = "application/vnd.unknown.artifact.v1"  # what oras push uses
FILE_MEDIA_TYPE = media.OCI_LAYER  # oras' default for files
EMPTY_JSON = b"{}"
EMPTY_DESCRIPTOR: JSON = {
    "mediaType": media.OCI_EMPTY,
    "digest": "sha256:" + hashlib.sha256(EMPTY_JSON).hexdigest(),
    "size": 2,
    "data": "e30=",
}


@dataclass(frozen=True)
class PulledFile:
    """A file of a pulled artifact, where it was written, and whether it was unpacked."""

    title: str
    path: str
    digest: str
    size: int
    unpacked: bool

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ArtifactFile:
    """A file or directory to push, its title (the path a pull writes it to), and its layer's
    media type (None: oras' default, a tar for a file, a tar+gzip for a directory)."""

    path: Path
    title: str
    media_type: str | None = None

    @classmethod
    def parse(cls, arg: str) -> ArtifactFile:
        """``PATH[:MEDIA_TYPE]`` as ``oras push`` reads it on POSIX: split at the last ``:``,
        so that a path with one in it ends with one more (``a:b:`` is ``a:b``, default type).
        The path is the title, normalised (``./a/`` is ``a``, a directory given as ``.`` is the
        pull's target itself). One outside the working directory is refused: absolute, as oras
        refuses it, or above it, which no pull writes."""
        path, colon, media_type = arg.rpartition(":")
        if not colon:
            path, media_type = arg, ""
        if not path:
            raise ImageError(f"No path in {arg!r}", hint="write it as PATH[:MEDIA_TYPE]")
        title = posixpath.normpath(path)
        if posixpath.isabs(title) or title == ".." or title.startswith("../"):
            raise ImageError(
                f"Cannot push {path}: it is outside the working directory, and a file's path "
                "is its title, where a pull writes it",
                hint="run from a directory above it and give the path from there",
            )
        return cls(Path(path), title, media_type or None)


def push_artifact(
    client: RegistryClient,
    target: Reference,
    files: Sequence[ArtifactFile],
    *,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
) -> PushResult:
    """Push files and directories as one artifact; returns its digest reference."""
    if not files:
        raise ImageError("An artifact needs at least one file", hint="name the files to push")
    artifact_type = artifact_type or DEFAULT_ARTIFACT_TYPE
    if not media.is_media_type(artifact_type):
        raise ImageError(
            f"The artifact type {artifact_type!r} is not a media type",
            hint=f"write it as TYPE/SUBTYPE (RFC 6838), e.g. {DEFAULT_ARTIFACT_TYPE}",
        )
    titles: set[str] = set()
    for file in files:  # all checked before anything is uploaded
        if file.title in titles:
            raise ImageError(
                f"Two paths are both titled {file.title!r}", hint="give each path once"
            )
        titles.add(file.title)
        if file.media_type is not None and not media.is_media_type(file.media_type):
            raise ImageError(
                f"Cannot push {file.path}: {file.media_type!r} is not a media type",
                hint="write it as PATH:TYPE/SUBTYPE (RFC 6838); a path with a ':' in it ends "
                f"with one more, as for oras push ({file.path}:{file.media_type}:)",
            )
        if not (file.path.is_dir() or file.path.is_file()):
            raise ImageError(f"Cannot push {file.path}: no such file or directory", hint="check it")
    repo = target.path
    layers: list[JSON] = []
    sent = 0
    for file in files:
        push = _push_directory if file.path.is_dir() else _push_file
        layer, size = push(client, repo, file, progress)
        layers.append(layer)
        sent += size
    push_bytes(client, repo, EMPTY_JSON)
    manifest: JSON = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_DESCRIPTOR,
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    doc = Document.build(media.OCI_MANIFEST, manifest)
    client.put_manifest(repo, target.tag or target.identifier, doc.raw, doc.media_type)
    emit(progress, ProgressEvent("manifest", doc.digest, "done", len(doc.raw)))
    return PushResult(
        digest_reference(target, doc.digest),
        doc.digest,
        doc.media_type,
        len(doc.raw),
        uploaded=len(layers),
        bytes_sent=sent,
    )


def _push_file(
    client: RegistryClient, repo: str, file: ArtifactFile, progress: ProgressCallback | None
) -> tuple[JSON, int]:
    path, title = file.path, file.title
    h = hashlib.sha256()
    for chunk in file_opener(str(path))(0):
        h.update(chunk)
    digest, size = "sha256:" + h.hexdigest(), path.stat().st_size
    result = push_blob(client, repo, digest, file_opener(str(path)))
    emit(progress, ProgressEvent("blob", digest, _shown(result.state), size, size, title))
    layer = {
        "mediaType": file.media_type or FILE_MEDIA_TYPE,
        "digest": digest,
        "size": size,
        "annotations": {TITLE: title},
    }
    return layer, size


def _push_directory(
    client: RegistryClient, repo: str, file: ArtifactFile, progress: ProgressCallback | None
) -> tuple[JSON, int]:
    path, title = file.path, file.title
    # Entries under the title only, not for its parents: oras refuses to unpack those.
    entries = [
        e
        for e in plan([LayerSource(path, title)])
        if title == "." or e.path == title or e.path.startswith(title + "/")
    ]
    result, info = upload_layer(
        client, repo, lambda: LayerStream(entries=entries, progress=progress, name=title)
    )
    emit(progress, ProgressEvent("blob", info.digest, "done", info.size, info.size, title))
    layer = {
        "mediaType": file.media_type or media.OCI_LAYER_GZIP,
        "digest": info.digest,
        "size": info.size,
        "annotations": {TITLE: title, TAR_DIGEST: info.diff_id, UNPACK: "true"},
    }
    return layer, result.size


def _shown(state: str) -> Any:
    return "done" if state == "uploaded" else state


def pull_artifact(
    client: RegistryClient,
    ref: Reference,
    directory: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
) -> tuple[Document, list[PulledFile]]:
    """Write each titled layer of an artifact into ``directory`` (directories unpacked)."""
    got = client.get_manifest(ref.path, ref.identifier)
    doc = Document.parse(got.data, got.media_type or None)
    if doc.is_index:
        raise NotAnArtifact(str(ref), index=True)
    titled = [d for d in doc.layers() if d.annotations.get(TITLE)]
    if not titled:
        raise NotAnArtifact(str(ref), index=False)
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ImageError(
            f"{out} is a file, not a directory to pull into", hint="give a directory's path"
        )
    planned = _planned(titled)  # all checked before one file is written
    with _made_dir(out):
        pulled = []
        for desc, title, unpack in planned:
            raw = desc.annotations[TITLE]
            try:
                with client.open_blob(ref.path, desc.digest) as chunks:
                    if unpack:
                        _unpack(chunks, out, title, desc.annotations.get(TAR_DIGEST))
                    else:
                        _write_file(chunks, out / title)
            except OSError as exc:  # the client's network errors are its own: this is the disk
                raise ImageError(
                    f"Cannot write {out / title}: {exc.strerror}",
                    hint="a directory is in the way, or the directory is not writable",
                ) from None
            emit(progress, ProgressEvent("blob", desc.digest, "done", desc.size, desc.size, raw))
            pulled.append(PulledFile(raw, str(out / title), desc.digest, desc.size, unpack))
    return doc, pulled


def _planned(layers: Sequence[Descriptor]) -> list[tuple[Descriptor, PurePosixPath, bool]]:
    """Each titled layer, the path under the target it is written to, and whether it is
    unpacked. Two layers for one path, or one inside a file's, are refused, as oras refuses a
    name twice: the last would silently replace the first, or fail halfway through the pull."""
    planned = []
    for desc in layers:
        raw = desc.annotations[TITLE]
        unpack = desc.annotations.get(UNPACK, "").lower() == "true"
        planned.append((desc, _safe_title(raw, unpack), unpack))
    for i, (desc, title, unpack) in enumerate(planned):
        for other, other_title, other_unpack in planned[:i]:
            if title == other_title:
                problem = f"{other.annotations[TITLE]!r} is written to the same path"
            elif _inside(title, other_title) and not other_unpack:
                problem = f"it lies inside the file {other.annotations[TITLE]!r}"
            elif _inside(other_title, title) and not unpack:
                problem = f"{other.annotations[TITLE]!r} lies inside it, a file"
            else:
                continue
            raise ImageError(
                f"Refusing the file title {desc.annotations[TITLE]!r}: {problem}",
                hint="the artifact is malformed; inspect it before pulling",
            )
    return planned


def _inside(path: PurePosixPath, parent: PurePosixPath) -> bool:
    return len(path.parts) > len(parent.parts) and path.parts[: len(parent.parts)] == parent.parts


@contextlib.contextmanager
def _made_dir(path: Path) -> Iterator[None]:
    """Make ``path`` (and its missing parents); if the block fails, remove what was made, so
    that a failed pull leaves no directory behind that was not there before."""
    top = next((p for p in reversed((path, *path.parents)) if not p.exists()), None)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(
            f"Cannot make the directory {path} to pull into: {exc.strerror}",
            hint="give a directory that can be made or written to",
        ) from None
    try:
        yield
    except BaseException:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        raise


def _safe_title(title: str, unpack: bool) -> PurePosixPath:
    """The title as a path under the target directory: ``.`` (as ``oras push REF .`` titles
    it) is the target itself, which only a directory can be."""
    path = PurePosixPath(title)
    if path.is_absolute() or ".." in path.parts or "\\" in title:
        raise ImageError(
            f"Refusing the file title {title!r}: it points outside the target directory",
            hint="the artifact may be malicious; inspect it before pulling",
        )
    if not path.parts and not unpack:
        raise ImageError(
            f"Refusing the file title {title!r}: a file cannot be the target directory",
            hint="the artifact is malformed; inspect it before pulling",
        )
    return path


def _write_file(chunks: Iterator[bytes], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        # mkstemp makes it 0600: a pulled file is as readable as one oras or our layout writes.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:  # the digest is checked after the last chunk
                f.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _GunzipReader:
    """A file-like view of the decompressed, hashed stream (for ``tarfile`` in stream mode).

    Inflated no more than a read asks for: a megabyte of gzip'd zeros (a padded checkpoint)
    is a gigabyte once inflated."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._tail = b""  # compressed bytes not yet inflated
        self._leftover = b""  # inflated bytes beyond the last read's size
        self.hash = hashlib.sha256()

    def _more(self, limit: int) -> bytes:
        """Up to about ``limit`` more inflated bytes; b"" at the end of the stream."""
        while True:
            if not self._tail:
                chunk = next(self._chunks, None)
                if chunk is None:
                    return self._inflate.flush()
                self._tail = chunk
            data = self._inflate.decompress(self._tail, limit)
            self._tail = self._inflate.unconsumed_tail
            if data:
                return data

    def read(self, n: int = -1) -> bytes:
        parts, size = [self._leftover], len(self._leftover)
        while n < 0 or size < n:
            data = self._more(1 << 20 if n < 0 else n - size)
            if not data:
                break
            parts.append(data)
            size += len(data)
        joined = b"".join(parts)
        data, self._leftover = (joined, b"") if n < 0 else (joined[:n], joined[n:])
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _unpack(
    chunks: Iterator[bytes], out: Path, title: PurePosixPath, tar_digest: str | None
) -> None:
    """Extract a directory layer into ``out`` (its entries live under ``title``): into a
    directory of its own first, moved into place once all of it is verified, so that an entry
    refused or a corrupt layer leaves nothing behind. What an earlier pull left is replaced
    whole: the directory, or for ``.`` each of its top-level entries."""
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".tmp-pull-"))
    tree, old = staging / "tree", staging / "old"
    try:
        reader = _GunzipReader(chunks)
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                name = PurePosixPath(member.name)
                if name.is_absolute() or name.parts[: len(title.parts)] != title.parts:
                    raise ImageError(
                        f"Entry {member.name!r} of {str(title)!r} lies outside it",
                        hint="the artifact may be malicious; inspect it before pulling",
                    )
                try:
                    tar.extract(member, tree, filter="data")
                except tarfile.FilterError as exc:  # e.g. a link to an absolute path
                    raise ImageError(
                        f"Refusing entry {member.name!r} of {str(title)!r}: {exc}",
                        hint="only files and links that stay inside the directory are unpacked",
                    ) from None
        reader.drain()
        if tar_digest and "sha256:" + reader.hash.hexdigest() != tar_digest:
            raise DigestMismatch(
                f"The unpacked content of {str(title)!r} does not match {tar_digest}",
                hint="the artifact is corrupt; push it again",
            )
        unpacked = tree / title
        if not title.parts:  # the target directory itself
            moves = [(e, out / e.name) for e in unpacked.iterdir()] if unpacked.is_dir() else []
        elif unpacked.exists() or unpacked.is_symlink():
            moves = [(unpacked, out / title)]
        else:
            moves = []
        old.mkdir()
        for source, dest in moves:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists() or dest.is_symlink():  # what an earlier pull left
                dest.rename(old / dest.name)
            source.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
