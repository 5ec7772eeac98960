"""A cache of layers keyed by the files' metadata: their diff_id, so an unchanged re-push reads
no file, and the blob last pushed of them, so a registry that holds it already is not sent it
again (the same files under a changed config, or pushed to another repository).

The key covers every tar entry (path, type, mode, size, link target) and, for each regular file,
its device, inode, mtime and ctime in nanoseconds. ctime changes on any write and cannot be set
back by user tools, so a file edited in place (even with its mtime restored) misses the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..fileio import cache_root
from . import media
from .layer import Entry, diff_id_of, source_date_epoch
from .progress import ProgressCallback, ProgressEvent, emit, layer_name

_MAX_ENTRIES = 256


def cache_path() -> Path:
    return cache_root() / "diff-ids.json"


def layer_key(entries: Sequence[Entry], mtime: int | None = None) -> str:
    """A digest of what determines the tar of ``entries`` (a :func:`plan`), from metadata only."""
    h = hashlib.sha256(str(source_date_epoch() if mtime is None else mtime).encode())
    for e in entries:
        # A file name that is not UTF-8 holds surrogates, which the tar keeps as its bytes.
        text = f"{e.path}\0{e.type!r}\0{e.mode}\0{e.size}\0{e.linkname}\0"
        h.update(text.encode("utf-8", "surrogateescape"))
        if e.stamp is not None:
            h.update("{}:{}:{}:{}\n".format(*e.stamp).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class KnownLayer:
    """What a walk's key is known to stand for: the diff_id, and the blob last pushed of these
    files (its digest, sizes, compression, and the ``host/repository`` it is in), if any."""

    diff_id: str
    digest: str = ""
    size: int = 0
    uncompressed_size: int = 0
    pushed_to: str = ""
    media_type: str = media.OCI_LAYER_GZIP  # what entries written before zstd layers were


def _load() -> dict[str, object]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lookup(key: str) -> KnownLayer | None:
    """The cache's entry for ``key``: a diff_id alone (as older versions wrote), or with a blob."""
    entry = _load().get(key)
    if isinstance(entry, str):
        return KnownLayer(entry)
    if isinstance(entry, dict):
        try:
            return KnownLayer(**entry)
        except TypeError:  # written by another version: only its diff_id is sure
            return KnownLayer(entry["diff_id"]) if isinstance(entry.get("diff_id"), str) else None
    return None


def remember(key: str, known: KnownLayer) -> None:
    """Record what ``key`` stands for (best effort: a cache that cannot be written only costs
    speed)."""
    data = _load()
    data.pop(key, None)
    data[key] = asdict(known) if known.digest else known.diff_id
    kept = dict(list(data.items())[-_MAX_ENTRIES:])
    path = cache_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f)
        os.replace(tmp, path)


def cached_diff_id(
    entries: Sequence[Entry], report: Callable[[int], None] | None = None
) -> tuple[str, str]:
    """``(key, diff_id)`` of the layer ``entries`` (a :func:`plan`): from the cache when the
    files are unchanged, else hashed now (``report``: as :func:`diff_id_of`)."""
    key = layer_key(entries)
    known = lookup(key)
    if known:
        return key, known.diff_id
    diff_id = diff_id_of(entries=entries, report=report)
    remember(key, KnownLayer(diff_id))
    return key, diff_id


def layer_diff_ids(
    layers: Iterable[Sequence[Entry]], progress: ProgressCallback | None
) -> list[str]:
    """The diff_ids of a spec's layers (their :func:`plan`), by :func:`cached_diff_id`; files
    hashed for want of a cache entry are reported as the layer ``hashing``."""
    diff_ids = []
    for i, entries in enumerate(layers):
        name, total = layer_name(i), sum(e.size for e in entries)

        def hashing(done: int, name: str = name, total: int = total) -> None:
            emit(progress, ProgressEvent("layer", name, "hashing", min(done, total), total))

        diff_ids.append(cached_diff_id(entries, hashing if progress else None)[1])
    return diff_ids
