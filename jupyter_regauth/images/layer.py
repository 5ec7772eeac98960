"""Deterministic layers: files and directories to a gzip tar, hashed in one streaming pass.

The tar is reproducible: entries sorted by path, a fixed mtime (``SOURCE_DATE_EPOCH`` or 0),
owner 0:0 without names, modes normalised (directories 0755, files 0644 or 0755 when executable),
symlinks and hard links kept as such, ustar headers with a PAX header first where a long or
non-ASCII name or a large size needs one. Files are read into 1 MiB blocks, which are
hashed (the diff_id), deflated in parallel by :mod:`.deflate`, and hashed again (the digest) as
they leave: ISA-L and hashlib release the GIL, so the cores work at once, and memory stays at a
few blocks.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import struct
import tarfile
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from . import media
from .compression import LayerCompressor
from .deflate import BLOCK, Compressor
from .errors import ImageError
from .ignore import Excludes
from .layout import BlobWriter
from .manifest import Descriptor
from .progress import ProgressCallback, ProgressEvent, State, emit

_PROGRESS_STEP = 8 << 20
_END_OF_ARCHIVE = b"\0" * 1024  # two zero blocks, no record padding (as Go's archive/tar)


@dataclass(frozen=True)
class LayerSource:
    """``src`` (a file or directory) placed at ``dest`` in the image.

    A directory's contents go under ``dest``; a file becomes ``dest``, or ``dest/<name>`` when
    ``dest`` ends with ``/``. ``exclude`` holds ``.dockerignore``-style patterns, relative to
    ``src`` (compiled by the walk, unless they are an :class:`~.ignore.Excludes` already).
    """

    src: str | os.PathLike[str]
    dest: str = "/"
    exclude: Sequence[str] = ()


@dataclass(frozen=True)
class LayerInfo:
    """A layer blob as made: its digest and diff_id, sizes and media type."""

    digest: str  # sha256 of the compressed blob
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # compressed bytes
    uncompressed_size: int
    media_type: str = media.OCI_LAYER_GZIP

    def descriptor(self, media_type: str | None = None) -> Descriptor:
        return Descriptor(media_type or self.media_type, self.digest, self.size)


@dataclass(frozen=True)
class Entry:
    """One tar entry: ``path`` in the archive, and where its content comes from."""

    path: str
    type: bytes  # tarfile.DIRTYPE, REGTYPE, SYMTYPE or LNKTYPE
    mode: int = 0o755
    size: int = 0
    source: str | None = None  # the file's path on disk, for regular files
    linkname: str = ""
    inode: tuple[int, int] | None = field(default=None, compare=False)
    # (device, inode, mtime ns, ctime ns) from the walk's one stat: the diff_id cache's key.
    stamp: tuple[int, int, int, int] | None = field(default=None, compare=False)


# 9999-12-31T23:59:59Z: an image's "created" time has a four-digit year.
_LATEST_EPOCH = 253402300799


def source_date_epoch() -> int:
    """The fixed timestamp for reproducible output: ``SOURCE_DATE_EPOCH`` or 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    hint = "set it to seconds since 1970, e.g. $(git log -1 --format=%ct)"
    try:
        seconds = int(value)
    except ValueError:
        raise ImageError(f"SOURCE_DATE_EPOCH={value!r} is not a number", hint=hint) from None
    if not 0 <= seconds <= _LATEST_EPOCH:
        raise ImageError(
            f"SOURCE_DATE_EPOCH={value!r} is not a time from 1970 to the year 9999", hint=hint
        )
    return seconds


def plan(sources: Iterable[LayerSource]) -> list[Entry]:
    """The sorted tar entries for ``sources``, with parent directories and hard links resolved."""
    entries: dict[str, Entry] = {}
    for source in sources:
        for entry in _walk(source):
            # The walk yields a directory before its contents: only the dest's own parents
            # (and a single file's) are missing, so most entries need no parent list.
            if entry.path.rpartition("/")[0] not in entries:
                for parent in _parents(entry.path):
                    entries.setdefault(parent, Entry(parent, tarfile.DIRTYPE))
            old = entries.get(entry.path)
            if old is not None and (old.type != tarfile.DIRTYPE or entry.type != tarfile.DIRTYPE):
                raise ImageError(
                    f"Two sources write /{entry.path} in the same layer",
                    hint="change a dest or exclude one of them",
                )
            entries[entry.path] = entry
    ordered = [entries[k] for k in sorted(entries)]
    # The first path (in archive order) of a multiply-linked file carries the data; the rest
    # are hard link entries pointing at it.
    first: dict[tuple[int, int], str] = {}
    out = []
    for e in ordered:
        if e.inode is not None:
            target = first.setdefault(e.inode, e.path)
            if target != e.path:
                e = Entry(e.path, tarfile.LNKTYPE, e.mode, linkname=target)
        out.append(e)
    return out


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _dest_prefix(dest: str) -> str:
    norm = posixpath.normpath("/" + dest.strip()).lstrip("/")
    if norm.startswith("..") or norm == ".":
        return ""
    return norm


def stat_source(src: str | Path) -> os.stat_result:
    """A layer's source, followed if it is a symlink; an ImageError naming it if unreadable."""
    try:
        return Path(src).stat()
    except OSError as exc:
        raise ImageError(
            f"Cannot read layer source {src}: {exc.strerror}",
            hint="check the path in the layer's src",
        ) from None


def _walk(source: LayerSource) -> Iterator[Entry]:
    src = Path(source.src)
    st = stat_source(src)
    prefix = _dest_prefix(source.dest)
    excludes = Excludes(source.exclude)
    if stat.S_ISDIR(st.st_mode):
        if prefix:
            yield Entry(prefix, tarfile.DIRTYPE)
        yield from _walk_dir(src, prefix, excludes)
        return
    if source.dest.endswith("/") or not prefix:
        prefix = posixpath.join(prefix, src.name) if prefix else src.name
    if not excludes.excluded(src.name):
        yield _entry(str(src), prefix, st)


def _walk_dir(root: Path, prefix: str, excludes: Excludes) -> Iterator[Entry]:
    """Every entry under ``root``, a directory before its contents, in no set order otherwise
    (:func:`plan` sorts them): a loop over one list of pending directories, as a recursion of
    generators would pass each entry up through every level above it."""
    pending = [(os.fspath(root), "")]
    while pending:
        fs_dir, rel = pending.pop()
        try:
            with os.scandir(fs_dir) as listing:
                children = list(listing)
        except OSError as exc:
            raise ImageError(
                f"Cannot list {fs_dir}: {exc.strerror}", hint="check permissions"
            ) from None
        for child in children:
            child_rel = f"{rel}/{child.name}" if rel else child.name
            st = child.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            excluded = excludes.excluded(child_rel)
            if excluded and not (is_dir and excludes.has_negations):
                continue
            if not excluded:
                yield _entry(child.path, f"{prefix}/{child_rel}" if prefix else child_rel, st)
            if is_dir:
                pending.append((child.path, child_rel))


def _entry(fs_path: str, path: str, st: os.stat_result) -> Entry:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return Entry(path, tarfile.DIRTYPE)
    if stat.S_ISLNK(mode):
        return Entry(path, tarfile.SYMTYPE, 0o777, linkname=os.readlink(fs_path))
    if stat.S_ISREG(mode):
        return Entry(
            path,
            tarfile.REGTYPE,
            0o755 if mode & 0o111 else 0o644,
            st.st_size,
            fs_path,
            inode=(st.st_dev, st.st_ino) if st.st_nlink > 1 else None,
            stamp=(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns),
        )
    raise ImageError(
        f"{fs_path} is a special file (socket, device or pipe) and cannot go in a layer",
        hint="exclude it",
    )


# A ustar header without its checksum (filled in last): name, mode, uid, gid, size, mtime,
# checksum, type, linkname, magic and version, uname, gname, devmajor, devminor, prefix.
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_OCTAL_MAX = 8**11  # size and mtime: 11 octal digits


def _header(entry: Entry, mtime: int) -> bytes:
    """The entry's header: a plain ustar block where the fields fit (ASCII names of up to 100
    bytes: nearly always), byte for byte what tarfile's PAX format writes for it (tested) at
    a fifth of the cost; tarfile itself for the rest, which need a PAX header first."""
    name = entry.path + "/" if entry.type == tarfile.DIRTYPE else entry.path
    size = entry.size if entry.type == tarfile.REGTYPE else 0
    if (
        len(name) <= 100
        and len(entry.linkname) <= 100
        and name.isascii()
        and entry.linkname.isascii()
        and size < _OCTAL_MAX
        and 0 <= mtime < _OCTAL_MAX
    ):
        block = _USTAR.pack(
            name.encode(),
            b"%07o\0" % (entry.mode & 0o7777),
            b"0000000\0",
            b"0000000\0",
            b"%011o\0" % size,
            b"%011o\0" % mtime,
            b" " * 8,
            entry.type,
            entry.linkname.encode(),
            tarfile.POSIX_MAGIC,
            b"",
            b"",
            b"",
            b"",
            b"",
        )
        # The checksum is the sum of the bytes with its own field as spaces.
        return block[:148] + b"%06o\0" % sum(block) + block[155:]
    info = tarfile.TarInfo(entry.path)
    info.type = entry.type
    info.mode = entry.mode
    info.size = size
    info.mtime = mtime
    info.linkname = entry.linkname
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _tar_pieces(entries: Sequence[Entry], mtime: int) -> Iterator[bytes | Entry]:
    """The tar in order: header bytes (with the previous file's padding before them) and the
    regular files whose content follows, then the end of the archive."""
    pad = 0
    for entry in entries:
        yield bytes(pad) + _header(entry, mtime)
        pad = 0
        if entry.type == tarfile.REGTYPE and entry.source is not None:
            yield entry
            pad = -entry.size % 512
    yield bytes(pad) + _END_OF_ARCHIVE


def tar_blocks(entries: Sequence[Entry], mtime: int | None = None) -> Iterator[bytes | bytearray]:
    """The uncompressed tar of ``entries`` in blocks of exactly :data:`BLOCK` bytes (the last
    one shorter). A block that lies wholly inside one file is that file's read, as it is; the
    others are put together in a buffer that files are read straight into (a new buffer is
    zeroed first, which for a model of large files would be a pass over every byte)."""
    buf, pos = bytearray(BLOCK), 0
    for piece in _tar_pieces(entries, source_date_epoch() if mtime is None else mtime):
        if isinstance(piece, bytes):
            data = memoryview(piece)
            while data:
                if pos == BLOCK:
                    yield buf
                    buf, pos = bytearray(BLOCK), 0
                n = min(len(data), BLOCK - pos)
                buf[pos : pos + n] = data[:n]
                pos += n
                data = data[n:]
            continue
        try:
            opened = open(str(piece.source), "rb", buffering=0)  # noqa: SIM115 (with, below)
        except OSError as exc:
            raise ImageError(
                f"Cannot read {piece.source}: {exc.strerror}",
                hint="make it readable, or exclude it from the layer",
            ) from None
        with opened as f:
            left = piece.size
            while left:
                if pos == BLOCK:
                    yield buf
                    short = b""
                    while left >= BLOCK:
                        whole = f.read(BLOCK)
                        if len(whole) < BLOCK:
                            short = whole  # read on into the buffer
                            break
                        left -= BLOCK
                        yield whole
                    buf, pos = bytearray(BLOCK), len(short)
                    buf[:pos] = short
                    left -= pos
                    continue
                n = f.readinto(memoryview(buf)[pos : pos + min(left, BLOCK - pos)])
                if not n:
                    raise ImageError(
                        f"{piece.source} shrank while it was being read",
                        hint="do not modify the files while building",
                    )
                pos += n
                left -= n
    yield buf if pos == BLOCK else buf[:pos]


def diff_id_of(
    sources: Iterable[LayerSource] = (),
    mtime: int | None = None,
    *,
    entries: Sequence[Entry] | None = None,
    report: Callable[[int], None] | None = None,
) -> str:
    """The diff_id the layer would have, without compressing it (a cheap up-to-date check).
    ``entries``, a :func:`plan` made already, stand for ``sources``; ``report`` is given the
    bytes of tar hashed so far."""
    h = hashlib.sha256()
    done = 0
    for block in tar_blocks(plan(sources) if entries is None else entries, mtime):
        h.update(block)
        if report is not None:
            done += len(block)
            report(done)
    return "sha256:" + h.hexdigest()


def _compressed_layer(
    entries: Sequence[Entry],
    compressor: LayerCompressor,
    mtime: int,
    report: Callable[[int], None],
) -> Generator[bytes, None, LayerInfo]:
    """The compressed layer in pieces; returns its digests and sizes once all is yielded.

    The tar is hashed (the diff_id) as the compressor takes it in (on gzip's reader thread),
    and the output (the digest) as it leaves, in the consumer's thread."""
    diff = hashlib.sha256()
    usize = done = 0

    def blocks() -> Iterator[bytes | bytearray]:
        nonlocal usize, done
        for block in tar_blocks(entries, mtime):
            diff.update(block)
            usize += len(block)
            if usize - done >= _PROGRESS_STEP:
                done = usize
                report(usize)
            yield block

    digest = hashlib.sha256()
    size = 0
    for piece in compressor.compress(blocks()):
        digest.update(piece)
        size += len(piece)
        yield piece
    return LayerInfo(
        "sha256:" + digest.hexdigest(),
        "sha256:" + diff.hexdigest(),
        size,
        usize,
        compressor.media_type,
    )


class LayerStream:
    """Compressed layer bytes as an iterator; :attr:`result` is known once it is exhausted.

    Suits a chunked upload (POST, PATCH..., PUT ``?digest=``) where the digest is sent last.
    Blocks are read and hashed a few blocks ahead of the consumer and deflated by
    ``compressor`` (shared, e.g. by the layers of one build) or by threads of the stream's own.
    ``close()`` (or leaving a ``with`` block) stops it early. Progress callbacks run in the
    reader thread while compressing, in the consumer's at the start and the end. ``entries``, a
    :func:`plan` made already, stand for ``sources``.
    """

    def __init__(
        self,
        sources: Iterable[LayerSource] = (),
        *,
        entries: Sequence[Entry] | None = None,
        level: int = 1,
        threads: int | None = None,
        compressor: LayerCompressor | None = None,
        mtime: int | None = None,
        progress: ProgressCallback | None = None,
        name: str = "layer",
    ) -> None:
        self.entries = plan(sources) if entries is None else entries
        self.total = sum(e.size for e in self.entries)
        self._level = level
        self._threads = threads
        self._compressor = compressor
        self._mtime = source_date_epoch() if mtime is None else mtime
        self._progress = progress
        self._name = name
        self._result: LayerInfo | None = None
        self._pieces: Generator[bytes, None, None] | None = None

    @property
    def result(self) -> LayerInfo:
        if self._result is None:
            raise ImageError("The layer has not been fully read yet", hint="exhaust the stream")
        return self._result

    def __iter__(self) -> Iterator[bytes]:
        if self._pieces is not None:
            raise ImageError("A layer stream can be read only once", hint="make a new one")
        self._pieces = self._run()
        return self._pieces

    def _run(self) -> Generator[bytes, None, None]:
        emit(self._progress, self._event("compressing", 0))
        own = self._compressor is None
        compressor = self._compressor or Compressor(self._level, self._threads)
        try:
            info = yield from _compressed_layer(
                self.entries,
                compressor,
                self._mtime,
                lambda n: emit(self._progress, self._event("compressing", n)),
            )
        except Exception as exc:
            emit(self._progress, self._event("error", 0, str(exc)))
            raise
        finally:
            if own:
                compressor.close()
        self._result = info
        emit(self._progress, self._event("done", self.total, info.digest))

    def _event(self, state: State, done: int, message: str = "") -> ProgressEvent:
        return ProgressEvent("layer", self._name, state, min(done, self.total), self.total, message)

    def close(self) -> None:
        if self._pieces is not None:
            self._pieces.close()

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_layer(
    sources: Iterable[LayerSource],
    out: BinaryIO | BlobWriter,
    *,
    level: int = 1,
    threads: int | None = None,
    compressor: LayerCompressor | None = None,
    mtime: int | None = None,
    progress: ProgressCallback | None = None,
    name: str = "layer",
) -> LayerInfo:
    """Write the compressed layer to ``out`` (a file, or a layout's BlobWriter)."""
    stream = LayerStream(
        sources,
        level=level,
        threads=threads,
        compressor=compressor,
        mtime=mtime,
        progress=progress,
        name=name,
    )
    with stream:
        for piece in stream:
            out.write(piece)
    return stream.result
