"""Deterministic layers: files and directories to a gzip tar, hashed in one streaming pass.

The tar is reproducible: entries sorted by path, a fixed mtime (``SOURCE_DATE_EPOCH`` or 0),
owner 0:0 without names, modes normalised (directories 0755, files 0644 or 0755 when executable),
symlinks and hard links kept as such, PAX headers. One thread reads the files into the tar and
hashes it (the diff_id) while ISA-L threads deflate blocks and the result is hashed (the digest):
ISA-L and hashlib release the GIL, so the cores work at once and memory stays at a few chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import queue
import stat
import tarfile
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from isal import igzip_threaded

from . import media
from .errors import ImageError
from .ignore import Excludes
from .layout import BlobWriter
from .manifest import Descriptor
from .progress import ProgressCallback, ProgressEvent, State, emit

CHUNK = 1 << 20
_QUEUE_DEPTH = 4
_PROGRESS_STEP = 8 << 20
_END_OF_ARCHIVE = b"\0" * 1024  # two zero blocks, no record padding (as Go's archive/tar)


@dataclass(frozen=True)
class LayerSource:
    """``src`` (a file or directory) placed at ``dest`` in the image.

    A directory's contents go under ``dest``; a file becomes ``dest``, or ``dest/<name>`` when
    ``dest`` ends with ``/``. ``exclude`` holds ``.dockerignore``-style patterns, relative to
    ``src``.
    """

    src: str | os.PathLike[str]
    dest: str = "/"
    exclude: Sequence[str] = ()


@dataclass(frozen=True)
class LayerInfo:
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


def source_date_epoch() -> int:
    """The fixed timestamp for reproducible output: ``SOURCE_DATE_EPOCH`` or 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        raise ImageError(
            f"SOURCE_DATE_EPOCH={value!r} is not a number",
            hint="set it to seconds since 1970, e.g. $(git log -1 --format=%ct)",
        ) from None


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


def _walk(source: LayerSource) -> Iterator[Entry]:
    src = Path(source.src)
    try:
        st = src.stat()  # the top-level source is followed if it is a symlink
    except OSError as exc:
        raise ImageError(
            f"Cannot read layer source {src}: {exc.strerror}",
            hint="check the path in the layer's src",
        ) from None
    prefix = _dest_prefix(source.dest)
    excludes = Excludes(source.exclude)
    if stat.S_ISDIR(st.st_mode):
        if prefix:
            yield Entry(prefix, tarfile.DIRTYPE)
        yield from _walk_dir(src, prefix, "", excludes)
        return
    if source.dest.endswith("/") or not prefix:
        prefix = posixpath.join(prefix, src.name) if prefix else src.name
    if not excludes.excluded(src.name):
        yield _entry(str(src), prefix, st)


def _walk_dir(root: Path, prefix: str, rel: str, excludes: Excludes) -> Iterator[Entry]:
    try:
        children = sorted(os.scandir(root / rel if rel else root), key=lambda d: d.name)
    except OSError as exc:
        raise ImageError(
            f"Cannot list {root / rel}: {exc.strerror}", hint="check permissions"
        ) from None
    for child in children:
        child_rel = f"{rel}/{child.name}" if rel else child.name
        st = child.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        excluded = excludes.excluded(child_rel)
        if excluded and not (is_dir and excludes.has_negations):
            continue
        path = f"{prefix}/{child_rel}" if prefix else child_rel
        if not excluded:
            yield _entry(child.path, path, st)
        if is_dir:
            yield from _walk_dir(root, prefix, child_rel, excludes)


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


def _header(entry: Entry, mtime: int) -> bytes:
    info = tarfile.TarInfo(entry.path)
    info.type = entry.type
    info.mode = entry.mode
    info.size = entry.size if entry.type == tarfile.REGTYPE else 0
    info.mtime = mtime
    info.linkname = entry.linkname
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_chunks(entries: Sequence[Entry], mtime: int | None = None) -> Iterator[bytes]:
    """The uncompressed tar of ``entries``, in pieces of up to about :data:`CHUNK` bytes."""
    mtime = source_date_epoch() if mtime is None else mtime
    buf = bytearray()
    for entry in entries:
        buf += _header(entry, mtime)
        if entry.type != tarfile.REGTYPE or entry.source is None:
            continue
        with open(entry.source, "rb") as f:
            left = entry.size
            while left:
                data = f.read(min(CHUNK, left))
                if not data:
                    raise ImageError(
                        f"{entry.source} shrank while it was being read",
                        hint="do not modify the files while building",
                    )
                left -= len(data)
                if buf:
                    buf += data
                    if len(buf) >= CHUNK:
                        yield bytes(buf)
                        buf.clear()
                else:
                    yield data
        buf += b"\0" * (-entry.size % 512)
        if len(buf) >= CHUNK:
            yield bytes(buf)
            buf.clear()
    buf += _END_OF_ARCHIVE
    yield bytes(buf)


def diff_id_of(sources: Iterable[LayerSource], mtime: int | None = None) -> str:
    """The diff_id the layer would have, without compressing it (a cheap up-to-date check)."""
    h = hashlib.sha256()
    for chunk in tar_chunks(plan(sources), mtime):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def default_threads() -> int:
    """Compression threads: one per core, at most 4 (the tar reader needs a core too)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class _Stopped(Exception):
    """Raised into the compressor's writer when the consumer went away."""


def _compress(
    entries: Sequence[Entry],
    sink: Callable[[bytes], object],
    *,
    level: int,
    threads: int,
    mtime: int,
    report: Callable[[int], None],
) -> LayerInfo:
    """Tar ``entries`` and gzip them into ``sink``, hashing both sides on the way.

    Blocks of :data:`CHUNK` are deflated in parallel (pigz style, each primed with the previous
    32 KiB), so the output depends only on the input and the level, not on the thread count.
    """
    digest = hashlib.sha256()
    size = 0

    class Out(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            nonlocal size
            digest.update(b)
            size += len(b)
            sink(bytes(b))
            return len(b)

    diff = hashlib.sha256()
    usize = done = 0
    gz = igzip_threaded.open(  # type: ignore[no-untyped-call]
        Out(), "wb", compresslevel=level, threads=threads, block_size=CHUNK
    )
    try:
        for chunk in tar_chunks(entries, mtime):
            diff.update(chunk)
            usize += len(chunk)
            gz.write(chunk)
            if usize - done >= _PROGRESS_STEP:
                done = usize
                report(usize)
    finally:
        gz.close()
    return LayerInfo("sha256:" + digest.hexdigest(), "sha256:" + diff.hexdigest(), size, usize)


class LayerStream:
    """Compressed layer bytes as an iterator; :attr:`result` is known once it is exhausted.

    Suits a chunked upload (POST, PATCH..., PUT ``?digest=``) where the digest is sent last. The
    tar is read and compressed in a worker thread, at most a few chunks ahead of the consumer.
    ``close()`` (or leaving a ``with`` block) stops it early. Progress callbacks run in the worker.
    """

    def __init__(
        self,
        sources: Iterable[LayerSource],
        *,
        level: int = 1,
        threads: int | None = None,
        mtime: int | None = None,
        progress: ProgressCallback | None = None,
        name: str = "layer",
    ) -> None:
        self.entries = plan(sources)
        self.total = sum(e.size for e in self.entries)
        self._level = level
        self._threads = threads or default_threads()
        self._mtime = source_date_epoch() if mtime is None else mtime
        self._progress = progress
        self._name = name
        self._result: LayerInfo | None = None
        self._stop = threading.Event()
        self._queue: queue.Queue[bytes | LayerInfo | BaseException] = queue.Queue(_QUEUE_DEPTH)
        self._thread: threading.Thread | None = None

    @property
    def result(self) -> LayerInfo:
        if self._result is None:
            raise ImageError("The layer has not been fully read yet", hint="exhaust the stream")
        return self._result

    def _put(self, item: bytes | LayerInfo | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _run(self) -> None:
        try:
            self._put(
                _compress(
                    self.entries,
                    self._put,
                    level=self._level,
                    threads=self._threads,
                    mtime=self._mtime,
                    report=lambda n: emit(self._progress, self._event("compressing", n)),
                )
            )
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, which raises it
            with contextlib.suppress(_Stopped):
                self._put(exc)

    def __iter__(self) -> Generator[bytes, None, None]:
        if self._thread is not None:
            raise ImageError("A layer stream can be read only once", hint="make a new one")
        emit(self._progress, self._event("compressing", 0))
        self._thread = threading.Thread(target=self._run, name=f"tar {self._name}", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, BaseException):
                    emit(self._progress, self._event("error", 0, str(item)))
                    raise item
                if isinstance(item, LayerInfo):
                    self._result = item
                    break
                yield item
        finally:
            self.close()
        emit(self._progress, self._event("done", self.total, item.digest))

    def _event(self, state: State, done: int, message: str = "") -> ProgressEvent:
        return ProgressEvent("layer", self._name, state, min(done, self.total), self.total, message)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

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
    mtime: int | None = None,
    progress: ProgressCallback | None = None,
    name: str = "layer",
) -> LayerInfo:
    """Write the compressed layer to ``out`` (a file, or a layout's BlobWriter)."""
    entries = plan(sources)
    total = sum(e.size for e in entries)

    def report(n: int, state: State = "compressing", message: str = "") -> None:
        emit(progress, ProgressEvent("layer", name, state, min(n, total), total, message))

    report(0)
    try:
        info = _compress(
            entries,
            out.write,
            level=level,
            threads=threads or default_threads(),
            mtime=source_date_epoch() if mtime is None else mtime,
            report=report,
        )
    except BaseException as exc:
        report(0, "error", str(exc))
        raise
    report(total, "done", info.digest)
    return info
