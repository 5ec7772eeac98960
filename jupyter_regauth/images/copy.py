"""Copy an image, index or artifact from a registry or an OCI layout to a registry or a layout.

Manifests are copied as the exact bytes the source served, so every digest is preserved. Blobs
are mounted when source and target are the same registry, skipped when the target has them, and
otherwise streamed straight across (verified on both ends), several at a time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from ..errors import DigestMismatch
from ..reference import InvalidReference, Reference, parse
from ..registry.client import RegistryClient
from ..registry.upload import push_blob
from .errors import ImageError
from .layout import OCILayout
from .manifest import Descriptor, Document, Platform, check_platform, select_platform
from .progress import ProgressCallback, ProgressEvent, State, bytes_sent, emit
from .push import DEFAULT_JOBS


@dataclass
class CopyResult:
    """What a copy wrote, by digest, and how many blobs were sent, mounted or found."""

    source: str
    reference: str  # where it went, by digest (or the layout path and ref name)
    digest: str
    media_type: str
    manifests: int = 0
    blobs: dict[str, int] = field(default_factory=dict)  # state -> count

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class CopySource(Protocol):
    """Where a copy reads from: a registry repository (:class:`RegistrySource`), or an OCI
    layout on disk (:class:`LayoutCopySource`)."""

    @property
    def label(self) -> str:
        """What to call the source in results and messages."""
        ...

    @property
    def identifier(self) -> str:
        """The tag or digest to copy."""
        ...

    def fetch_manifest(self, reference: str) -> Document: ...

    def iter_blob(self, digest: str, offset: int = 0) -> Iterator[bytes]: ...

    def mountable_from(self, client: RegistryClient) -> list[str]:
        """Repositories of ``client``'s registry that already hold this source's blobs."""
        ...


class LayoutCopySource:
    def __init__(self, layout: OCILayout, ref: str | None) -> None:
        self.layout = layout
        self.label = f"oci:{layout.root}" + (f":{ref}" if ref else "")
        self.identifier = layout.resolve(ref).digest

    def fetch_manifest(self, reference: str) -> Document:
        desc = next((d for d in self.layout.index().manifests() if d.digest == reference), None)
        return Document.parse(self.layout.read_blob(reference), desc.media_type if desc else None)

    def iter_blob(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        yield from self.layout.iter_blob(digest, offset)

    def mountable_from(self, client: RegistryClient) -> list[str]:
        return []


class Target(Protocol):
    def put_blob(
        self, desc: Descriptor, source: CopySource, sent: Callable[[int], None] | None
    ) -> str:
        """Make the target hold the blob, telling ``sent`` how many of its bytes have been
        sent as they go (see ``registry.upload.Progress``); returns "exists", "mounted" or
        "uploaded"."""
        ...

    def put_manifest(self, doc: Document, tag: str | None, *, top: bool) -> None:
        """Store ``doc`` under ``tag`` or by digest; ``top``: the image asked for, else a
        manifest of the index being copied."""
        ...


class RegistryTarget:
    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository

    def put_blob(
        self, desc: Descriptor, source: CopySource, sent: Callable[[int], None] | None
    ) -> str:
        result = push_blob(
            self.client,
            self.repository,
            desc.digest,
            lambda offset: source.iter_blob(desc.digest, offset),
            mount_from=source.mountable_from(self.client),
            progress=sent,
        )
        return result.state

    def put_manifest(self, doc: Document, tag: str | None, *, top: bool) -> None:
        self.client.put_manifest(self.repository, tag or doc.digest, doc.raw, doc.media_type)


class LayoutTarget:
    def __init__(self, layout: OCILayout) -> None:
        self.layout = layout

    def put_blob(
        self, desc: Descriptor, source: CopySource, sent: Callable[[int], None] | None
    ) -> str:
        if self.layout.has_blob(desc.digest):
            return "exists"
        self.layout.write_blob(_counted(source.iter_blob(desc.digest), sent), desc.digest)
        return "uploaded"

    def put_manifest(self, doc: Document, tag: str | None, *, top: bool) -> None:
        # The image asked for is listed in index.json, without a name when it has no tag (as
        # skopeo does), or nothing could find it; an index's manifests are found through it.
        if top:
            self.layout.put_manifest(doc, tag)
        else:
            self.layout.write_blob(doc.raw, doc.digest)


def _counted(chunks: Iterable[bytes], sent: Callable[[int], None] | None) -> Iterator[bytes]:
    """``chunks``, telling ``sent`` how many bytes have passed, as an upload's counter does."""
    done = 0
    for chunk in chunks:
        done += len(chunk)
        if sent is not None:
            sent(done)
        yield chunk


def copy_image(
    source: CopySource,
    target: Target,
    tag: str | None,
    *,
    all_platforms: bool = True,
    platform: Platform | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = DEFAULT_JOBS,
    top: Document | None = None,
    digest: str | None = None,
) -> tuple[Document, CopyResult]:
    """Copy ``source``'s reference to ``target`` under ``tag`` (or by digest only); ``top``:
    the reference's manifest, where the caller fetched it already; ``digest``: the one the
    target names, which the copied manifest must have.

    An index is copied whole (every platform) unless ``all_platforms`` is false, in which case
    only the manifest for ``platform`` is copied, and tagged."""
    top = top or source.fetch_manifest(source.identifier)
    if top.is_index and not all_platforms:
        top = source.fetch_manifest(select_platform(top, platform).digest)
    elif not top.is_index and platform is not None and "config" in top.data:
        config = json.loads(b"".join(source.iter_blob(top.config().digest)))
        check_platform(config, platform, source.label)
    if digest is not None and digest != top.digest:
        # Checked before anything is sent: the copy could never be found by that digest.
        raise DigestMismatch(
            f"{source.label} is {top.digest}, not the {digest} the destination names",
            hint="name the destination by tag, or by the source's digest",
        )
    counts: dict[str, int] = {}
    lock = threading.Lock()
    seen: set[str] = set()

    def blob(desc: Descriptor) -> None:
        state = target.put_blob(desc, source, bytes_sent(progress, "blob", desc.digest, desc.size))
        with lock:
            counts[state] = counts.get(state, 0) + 1
        shown: State = "done" if state == "uploaded" else state  # type: ignore[assignment]
        emit(progress, ProgressEvent("blob", desc.digest, shown, desc.size, desc.size))

    manifests = 0
    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="copy") as pool:

        def copy_manifest(doc: Document, tag: str | None, top: bool) -> None:
            nonlocal manifests
            if doc.is_index:
                for child in doc.manifests():
                    copy_manifest(source.fetch_manifest(child.digest), None, False)
            else:
                blobs = [d for d in _blobs_of(doc) if d.digest not in seen and not d.urls]
                seen.update(d.digest for d in blobs)
                for future in [pool.submit(blob, d) for d in blobs]:
                    future.result()
            target.put_manifest(doc, tag, top=top)
            manifests += 1
            emit(progress, ProgressEvent("manifest", doc.digest, "done", len(doc.raw)))

        copy_manifest(top, tag, True)
    return top, CopyResult(source.label, "", top.digest, top.media_type, manifests, counts)


def _blobs_of(doc: Document) -> Iterable[Descriptor]:
    if "config" in doc.data:
        yield doc.config()
    yield from doc.layers()


def copy_between(
    source: CopySource,
    source_tag: str | None,
    dst_client: RegistryClient,
    dst: Reference,
    **kwargs: object,
) -> CopyResult:
    """To a registry; the target tag is ``dst``'s, else the source's, else ``latest`` as skopeo
    and docker have it (none when ``dst`` names a digest)."""
    tag = dst.tag or (None if dst.digest else source_tag or "latest")
    top, result = copy_image(
        source,
        RegistryTarget(dst_client, dst.path),
        tag,
        digest=dst.digest,
        **kwargs,  # type: ignore[arg-type]
    )
    result.reference = f"{dst.repository}@{top.digest}"
    return result


class MirrorLine(NamedTuple):
    src: str
    dst: str
    number: int  # of the line in the list, for an error about it


def parse_mirror_list(text: str, target_host: str, prefix: str = "") -> list[MirrorLine]:
    """Lines ``SRC [DST]`` (``#`` comments); DST defaults to SRC's path in ``target_host``,
    under the repository ``prefix`` when one is given."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise ImageError(
                f"mirror list line {number} has {len(words)} words",
                hint="write each line as SOURCE [DESTINATION]",
            )
        try:
            src = parse(words[0])
            # Made, not parsed: a host such as "registry", with neither dot nor port, would read
            # as a Docker Hub namespace.
            path = f"{prefix}/{src.path}" if prefix else src.path
            dst = (
                parse(words[1])
                if len(words) == 2
                else Reference(target_host, path, src.tag, src.digest)
            )
        except InvalidReference as exc:  # which line, in a list of many
            raise InvalidReference(
                f"mirror list line {number}: {exc.message}", hint=exc.hint
            ) from None
        pairs.append(MirrorLine(str(src), str(dst), number))
    return pairs
