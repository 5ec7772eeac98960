"""Build and push in one streaming pass: no OCI layout, no temporary files.

New layers are tarred, compressed and uploaded at once (the digest is known only at the end, so
the upload is closed with it); base layers are mounted from the base's repository on the same
registry, found already present, or streamed registry to registry. Layers go in parallel; then
the config, then the manifest. Before anything is compressed, the target tag's config is compared
with the build's content digest (a hash-only pass over the files): an unchanged image uploads
nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace

from ..reference import Reference
from ..registry.client import RegistryClient
from ..registry.errors import NotFound
from ..registry.upload import (
    UploadResult,
    UploadSession,
    find_or_mount,
    push_blob,
    push_bytes,
    push_stream,
    skip,
)
from .build import (
    CONTENT_DIGEST_LABEL,
    BaseImage,
    assemble,
    content_digest,
    created_timestamp,
    in_workdir,
)
from .cache import KnownLayer, layer_key, lookup, remember
from .compression import LayerCompressor, layer_compressor
from .layer import LayerInfo, LayerStream
from .manifest import Descriptor, Document
from .progress import ProgressCallback, ProgressEvent, State, bytes_sent, emit, layer_name
from .pydeps import with_python
from .remote import RegistrySource
from .source import BlobSource, LayoutSource
from .spec import BuildSpec, LayerSpec
from .walks import Walks

DEFAULT_JOBS = 4


@dataclass(frozen=True)
class PushResult:
    """Where a push left the image (by digest), and what its blobs needed."""

    reference: str  # host/repository@sha256:...
    digest: str
    media_type: str
    size: int
    uploaded: int = 0  # blobs sent
    mounted: int = 0
    existing: int = 0
    bytes_sent: int = 0
    unchanged: bool = False  # the tag already held this exact build: nothing was sent

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class _Tally:
    """Counts what each blob needed, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.states: dict[str, int] = {"uploaded": 0, "mounted": 0, "exists": 0}
        self.bytes_sent = 0

    def add(self, result: UploadResult) -> None:
        with self._lock:
            self.states[result.state] += 1
            if result.state == "uploaded":
                self.bytes_sent += result.size


def digest_reference(target: Reference, digest: str) -> str:
    return f"{target.repository}@{digest}"


def push_build(
    spec: BuildSpec,
    target: Reference,
    client: RegistryClient,
    *,
    base: BlobSource | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = DEFAULT_JOBS,
    level: int = 1,
    threads: int | None = None,
    walks: Walks | None = None,
) -> PushResult:
    """Build ``spec`` on ``base`` and push it to ``target`` (tag or ``latest``) through
    ``client``, a client for ``target``'s registry. ``walks``: those of ``spec``'s layers
    started already (see :class:`Walks`)."""
    with Walks() if walks is None else nullcontext(walks) as walked:
        return _push_build(spec, target, client, base, progress, jobs, level, threads, walked)


def _push_build(
    spec: BuildSpec,
    target: Reference,
    client: RegistryClient,
    base: BlobSource | None,
    progress: ProgressCallback | None,
    jobs: int,
    level: int,
    threads: int | None,
    walks: Walks,
) -> PushResult:
    repo = target.path
    base_image = BaseImage.load(base, spec.platform)
    spec = with_python(spec, base_image, progress)
    spec = in_workdir(spec, base_image)  # and a ${VAR:?message} fails before any upload
    created = created_timestamp()
    tag = target.tag or target.identifier

    existing = _unchanged(client, repo, tag, spec, base_image.manifest, created, walks, progress)
    if existing is not None:
        emit(progress, ProgressEvent("image", existing.digest, "exists"))
        return PushResult(
            digest_reference(target, existing.digest),
            existing.digest,
            existing.media_type,
            len(existing.raw),
            unchanged=True,
        )

    tally = _Tally()
    base_layers = base_image.manifest.layers() if base_image.manifest else []
    # One set of deflate threads for all new layers, and as many new layers at a time as it
    # has threads: each one made and sent is CPU work (tar, two hashes, deflate, TLS), and more
    # at once would only take turns on the cores. Base blobs, only copied, go up to ``jobs``.
    compressor = layer_compressor(spec.compression, level, threads)
    with (
        compressor,
        ThreadPoolExecutor(max(1, jobs), thread_name_prefix="push") as pool,
        ThreadPoolExecutor(
            max(1, min(jobs, compressor.threads)), thread_name_prefix="push-layer"
        ) as layer_pool,
    ):
        base_jobs = [
            pool.submit(_push_base_blob, client, repo, base, d, progress, tally)
            for d in base_layers
            if base is not None
        ]
        new_jobs = [
            layer_pool.submit(
                _push_new_layer,
                client,
                repo,
                lay,
                walks,
                layer_name(i),
                compressor,
                progress,
                tally,
            )
            for i, lay in enumerate(spec.layers)
        ]
        for job in base_jobs:
            job.result()
        added = [job.result() for job in new_jobs]

    image = assemble(spec, base_image, added, created)
    _push_small(client, repo, image.config.raw, "config", progress, tally)
    manifest = image.manifest
    client.put_manifest(repo, tag, manifest.raw, manifest.media_type)
    emit(progress, ProgressEvent("manifest", manifest.digest, "done", len(manifest.raw)))
    return PushResult(
        digest_reference(target, manifest.digest),
        manifest.digest,
        manifest.media_type,
        len(manifest.raw),
        uploaded=tally.states["uploaded"],
        mounted=tally.states["mounted"],
        existing=tally.states["exists"],
        bytes_sent=tally.bytes_sent,
    )


def _unchanged(
    client: RegistryClient,
    repo: str,
    tag: str,
    spec: BuildSpec,
    base_manifest: Document | None,
    created: str,
    walks: Walks,
    progress: ProgressCallback | None,
) -> Document | None:
    """The manifest at ``tag`` when it holds exactly this build (same content digest). Files
    changed since the layer cache saw them are hashed for it, reported as ``hashing``."""
    try:
        got = client.get_manifest(repo, tag)
    except NotFound:
        return None
    manifest = Document.parse(got.data, got.media_type or None)
    if manifest.is_index:
        return None
    try:
        with client.open_blob(repo, manifest.config().digest) as chunks:
            config = json.loads(b"".join(chunks))
    except (NotFound, ValueError):
        return None
    labels = (config.get("config") or {}).get("Labels") or {}
    old = labels.get(CONTENT_DIGEST_LABEL)
    if not old:
        return None
    diff_ids = walks.diff_ids(spec.layers, progress)
    if content_digest(spec, base_manifest, diff_ids, created) != old:
        return None
    return manifest


def _push_base_blob(
    client: RegistryClient,
    repo: str,
    base: BlobSource | None,
    desc: Descriptor,
    progress: ProgressCallback | None,
    tally: _Tally,
) -> None:
    """A base layer into ``repo``: present, mounted (same registry) or streamed across."""
    mount_from: list[str] = []
    opener: Callable[[int], Iterable[bytes]]
    if isinstance(base, RegistrySource):
        if base.client.host == client.host:
            mount_from = [base.repository]
        source = base
        opener = lambda offset: source.iter_blob(desc.digest, offset)  # noqa: E731
    elif isinstance(base, LayoutSource):
        layout = base.layout
        opener = lambda offset: layout.iter_blob(desc.digest, offset)  # noqa: E731
    elif base is not None:
        stream_from = base
        opener = lambda offset: skip(_read_all(stream_from, desc.digest), offset)  # noqa: E731
    result = push_blob(
        client,
        repo,
        desc.digest,
        opener,
        mount_from=mount_from,
        progress=bytes_sent(progress, "blob", desc.digest, desc.size),
    )
    tally.add(result)
    state = {"uploaded": "done"}.get(result.state, result.state)
    emit(progress, ProgressEvent("blob", desc.digest, state, desc.size, desc.size))  # type: ignore[arg-type]


def _read_all(source: BlobSource, digest: str) -> Iterator[bytes]:
    with source.open_blob(digest) as f:
        while chunk := f.read(1 << 20):
            yield chunk


def upload_layer(
    client: RegistryClient,
    repo: str,
    make_stream: Callable[[], LayerStream],
    session: UploadSession | None = None,
) -> tuple[UploadResult, LayerInfo]:
    """Upload a layer while it is made (into ``session``, if the registry opened one already).
    A resume makes the (deterministic) stream again and skips what the registry already holds;
    every stream made is closed at the end."""
    streams: list[LayerStream] = []

    def opener(offset: int) -> Iterator[bytes]:
        for old in streams:
            old.close()
        streams.append(make_stream())
        return skip(streams[-1], offset)

    try:
        result = push_stream(
            client, repo, opener, lambda: streams[-1].result.digest, session=session
        )
    finally:
        for stream in streams:
            stream.close()
    return result, streams[-1].result


def _push_new_layer(
    client: RegistryClient,
    repo: str,
    lay: LayerSpec,
    walks: Walks,
    name: str,
    compressor: LayerCompressor,
    progress: ProgressCallback | None,
    tally: _Tally,
) -> LayerInfo:
    """One layer into ``repo``: found there or mounted, when these very files were pushed before
    (see :func:`_pushed_before`); else tarred, compressed and uploaded at once (see
    :func:`upload_layer`)."""
    # One walk of the files, before reading them: a file written meanwhile changes the key.
    entries = walks.entries(lay)
    key = layer_key(entries)
    known = lookup(key)
    here = f"{client.host}/{repo}"
    opened: UploadSession | None = None
    if known is not None and known.digest and known.media_type == compressor.media_type:
        found = _pushed_before(client, repo, known)
        if isinstance(found, UploadResult):
            tally.add(found)
            # The repository it is in now is the likeliest to keep it: mount from here next.
            remember(key, replace(known, pushed_to=here))
            state: State = "exists" if found.state == "exists" else "mounted"
            # The size this blob was pushed with: a registry's HEAD may lack Content-Length.
            size = known.size or found.size
            emit(progress, ProgressEvent("layer", name, state, size, size))
            return LayerInfo(
                known.digest, known.diff_id, size, known.uncompressed_size, known.media_type
            )
        opened = found
    result, info = upload_layer(
        client,
        repo,
        lambda: LayerStream(entries=entries, compressor=compressor, progress=progress, name=name),
        opened,
    )
    tally.add(result)
    remember(
        key,
        KnownLayer(
            info.diff_id,
            info.digest,
            info.size,
            info.uncompressed_size,
            here,
            info.media_type,
        ),
    )
    emit(progress, ProgressEvent("blob", info.digest, "done", info.size, info.size, name))
    return info


def _pushed_before(
    client: RegistryClient, repo: str, known: KnownLayer
) -> UploadResult | UploadSession | None:
    """The blob last pushed of a layer's files, when ``repo`` has it or can mount it from the
    repository it went to on the same registry (see :func:`find_or_mount`). Any gzip of the
    same tar is a valid layer for these files: the diff_id is what the config names."""
    host, _, source = known.pushed_to.partition("/")
    return find_or_mount(client, repo, known.digest, [source] if host == client.host else [])


def _push_small(
    client: RegistryClient,
    repo: str,
    data: bytes,
    what: str,
    progress: ProgressCallback | None,
    tally: _Tally,
) -> None:
    result = push_bytes(client, repo, data)
    tally.add(result)
    emit(progress, ProgressEvent("config", result.digest, "done", len(data), len(data), what))
