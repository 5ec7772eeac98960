"""Blob uploads (distribution's "Pushing An Image"): check, mount, stream, resume, complete.

A blob the repository already has is not sent (HEAD); one another repository of the registry has
is mounted; otherwise it is streamed in one PATCH (chunked transfer encoding, so a layer can be
compressed while it is sent and its digest known only at the end) and closed with
``PUT ?digest=``. A PATCH interrupted, or refused a token that lapsed early, is resumed from
the offset the registry reports.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx

from .client import RegistryClient, resolve
from .errors import (
    DigestMismatch,
    Forbidden,
    Reauthenticated,
    RegistryError,
    RegistryUnreachable,
)

log = logging.getLogger(__name__)

#: Opens the blob's bytes from an offset; called again to resume after an interruption.
Opener = Callable[[int], Iterable[bytes]]
# Called with how many bytes of the blob have been sent: from the registry's offset on after a
# resume, so a progress bar goes back to what the registry holds rather than past the total.
Progress = Callable[[int], None]


@dataclass
class UploadResult:
    """How a blob got into a repository: found, mounted or uploaded, and in how many tries."""

    digest: str
    size: int
    state: str  # "exists", "mounted" or "uploaded"
    attempts: int = 1


class UploadSession:
    """One upload in progress at ``location``: the absolute URL of what the registry handed
    out (see :func:`resolve`)."""

    def __init__(self, client: RegistryClient, repository: str, location: str) -> None:
        self.client = client
        self.repository = repository
        self.location = location

    def _follow(self, response: httpx.Response) -> None:
        """Go on at the Location the registry answered with, where it named one."""
        location = response.headers.get("location")
        if location:
            self.location = resolve(response, location)

    def offset(self) -> int | None:
        """How many bytes the registry holds: the end of its ``Range: 0-N`` (or ``bytes=0-N``)
        plus one, or None when it cannot tell. distribution answers ``0-0`` both for one byte
        and for none (the common case after a restart), so ``0-0`` and a missing or odd header
        are unknown."""
        response = self.client.send("GET", self.location, what="upload status")
        self._follow(response)
        held = response.headers.get("range", "").removeprefix("bytes=")
        start, _, end = held.partition("-")
        if start != "0" or not end.isdigit() or end == "0":
            return None
        return int(end) + 1

    def patch(self, chunks: Iterable[bytes]) -> None:
        response = self.client.send(
            "PATCH",
            self.location,
            content=chunks,
            headers={"Content-Type": "application/octet-stream"},
            what=f"upload to {self.repository}",
        )
        self._follow(response)

    def complete(self, digest: str, body: bytes = b"") -> None:
        url = httpx.URL(self.location).copy_merge_params({"digest": digest})
        response = self.client.send(
            "PUT",
            str(url),
            content=body,
            headers={"Content-Type": "application/octet-stream"},
            what=f"blob {digest}",
        )
        if response.status_code != 201:
            raise RegistryError(
                f"the registry did not accept blob {digest} ({response.status_code})"
            )
        returned = response.headers.get("docker-content-digest")
        if returned and returned != digest:
            raise DigestMismatch(f"the registry stored {returned} for blob {digest}")

    def cancel(self) -> None:
        try:
            self.client.send("DELETE", self.location, what="cancel upload")
        except RegistryError:
            log.debug("could not cancel upload at %s", self.location)


def _open(client: RegistryClient, repository: str, params: dict[str, str] | None) -> httpx.Response:
    return client.send(
        "POST", f"/v2/{repository}/blobs/uploads/", params=params, what=f"upload to {repository}"
    )


def _session(client: RegistryClient, repository: str, response: httpx.Response) -> UploadSession:
    location = response.headers.get("location")
    if not location:
        raise RegistryError(f"the registry opened an upload to {repository} without a Location")
    return UploadSession(client, repository, resolve(response, location))


def start_upload(client: RegistryClient, repository: str) -> UploadSession:
    return _session(client, repository, _open(client, repository, None))


def try_mount(
    client: RegistryClient, repository: str, digest: str, source: str
) -> UploadSession | None:
    """Ask for a cross-repository mount: None when it worked, else the plain upload the
    registry opened instead (for a blob the source does not have, or no pull access there)."""
    try:
        response = _open(client, repository, {"mount": digest, "from": source})
    except Forbidden:
        # No pull access on the source: distribution then refuses the request as a whole
        # (401 insufficient_scope) rather than opening a plain upload. Send the blob instead.
        log.debug("cannot mount %s from %s into %s: uploading it", digest, source, repository)
        return start_upload(client, repository)
    return None if response.status_code == 201 else _session(client, repository, response)


class _Counted:
    """Passes chunks through, counting them and (with ``hashing``) hashing them, so a digest
    claimed up front is checked end to end."""

    def __init__(
        self, chunks: Iterable[bytes], progress: Progress | None, hashing: bool, offset: int = 0
    ) -> None:
        self.chunks = chunks
        self.progress = progress
        self.offset = offset  # where in the blob the chunks start
        self.hasher = hashlib.sha256() if hashing else None
        self.size = 0
        self.failed: Exception | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.chunks:
                if self.hasher:
                    self.hasher.update(chunk)
                self.size += len(chunk)
                if self.progress:
                    self.progress(self.offset + self.size)
                yield chunk
        except Exception as exc:
            # The bytes could not be made (an unreadable file, a cancelled job). The request
            # ends here, whole, rather than cut: distribution answers a cut PATCH with nothing
            # and then refuses the upload's old location, so it could never be cancelled.
            self.failed = exc


def skip(chunks: Iterable[bytes], offset: int) -> Iterator[bytes]:
    """Drop the first ``offset`` bytes: resumes a deterministic stream that can only restart."""
    for chunk in chunks:
        if offset >= len(chunk):
            offset -= len(chunk)
            continue
        yield chunk[offset:] if offset else chunk
        offset = 0


def file_opener(path: str, chunk_size: int = 1 << 20) -> Opener:
    def open_at(offset: int) -> Iterator[bytes]:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(chunk_size):
                yield chunk

    return open_at


def push_blob(
    client: RegistryClient,
    repository: str,
    digest: str,
    opener: Opener,
    *,
    mount_from: Iterable[str] = (),
    progress: Progress | None = None,
    retries: int = 3,
) -> UploadResult:
    """Make ``repository`` hold blob ``digest``: HEAD, then mount, then stream with resume.

    ``opener(offset)`` yields the blob's bytes from ``offset``. The bytes are hashed as they are
    sent and checked against ``digest``; the registry checks the whole blob again on completion."""
    if not digest.startswith("sha256:"):
        raise RegistryError(f"cannot verify {digest} while sending it: only sha256 is supported")
    found = find_or_mount(client, repository, digest, mount_from)
    if isinstance(found, UploadResult):
        return found
    session = found or start_upload(client, repository)
    return _finish(digest, *_send(client, session, opener, progress, retries, hashing=True))


def find_or_mount(
    client: RegistryClient, repository: str, digest: str, mount_from: Iterable[str] = ()
) -> UploadResult | UploadSession | None:
    """Whether ``repository`` holds blob ``digest`` (HEAD) or got it mounted from the first of
    ``mount_from`` that is another repository: the result then. Else the plain upload the
    registry opened instead of the mount (for the blob to be sent into), or None."""
    existing = client.head_blob(repository, digest)
    if existing is not None:
        return UploadResult(digest, existing, "exists")
    for source in mount_from:
        if source != repository:
            session = try_mount(client, repository, digest, source)
            if session is None:
                return UploadResult(digest, client.head_blob(repository, digest) or 0, "mounted")
            return session
    return None


def push_bytes(client: RegistryClient, repository: str, data: bytes) -> UploadResult:
    """A small blob held in memory (a config, a manifest's empty config): HEAD, then a
    monolithic upload, POST then PUT with the body, two requests instead of three."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    existing = client.head_blob(repository, digest)
    if existing is not None:
        return UploadResult(digest, existing, "exists")
    start_upload(client, repository).complete(digest, data)
    return UploadResult(digest, len(data), "uploaded")


def push_stream(
    client: RegistryClient,
    repository: str,
    opener: Opener,
    digest_of: Callable[[], str],
    *,
    session: UploadSession | None = None,
    progress: Progress | None = None,
    retries: int = 3,
) -> UploadResult:
    """Upload a blob whose digest is known only once it has been produced (a layer compressed
    while it is sent). ``digest_of()`` is called after the last byte: the digest the producer
    computed, which the registry checks against what it received when the upload is closed.
    ``opener(offset)`` must reproduce the same bytes on a resume (the layer is deterministic).
    ``session``: an upload the registry opened already (instead of a mount), else a new one."""
    session = session or start_upload(client, repository)
    # No second hash here: the producer hashed these very bytes, and the registry checks them.
    sent = _send(client, session, opener, progress, retries, hashing=False)
    return _finish(digest_of(), *sent)


def _finish(
    digest: str, session: UploadSession, offset: int, counted: _Counted, attempts: int
) -> UploadResult:
    """Close the upload under ``digest``, after checking what was sent where we saw all of it
    (the registry checks the whole blob again)."""
    hasher = counted.hasher
    if hasher and offset == 0 and f"sha256:{hasher.hexdigest()}" != digest:
        session.cancel()
        raise DigestMismatch(
            f"the content sent as {digest} hashes to something else; nothing was stored",
            hint="the source's copy of that blob is corrupt (or changed while it was read): "
            "copy or fetch it again",
        )
    session.complete(digest)
    return UploadResult(digest, offset + counted.size, "uploaded", attempts)


def _send(
    client: RegistryClient,
    session: UploadSession,
    opener: Opener,
    progress: Progress | None,
    retries: int,
    *,
    hashing: bool,
) -> tuple[UploadSession, int, _Counted, int]:
    """PATCH the bytes, resuming from the registry's offset after an interruption."""
    attempts, offset = 0, 0
    while True:
        attempts += 1
        counted = _Counted(opener(offset), progress, hashing, offset)
        try:
            session.patch(counted)
            if counted.failed is not None:
                raise counted.failed
            return session, offset, counted, attempts
        except (RegistryUnreachable, Reauthenticated) as exc:
            # Cut off, or refused a token since renewed: the bytes sent are spent either way.
            if attempts > retries:
                raise
            if isinstance(exc, RegistryUnreachable):
                time.sleep(0.5 * attempts)
            offset, session = _resume(client, session.repository, session)
            log.info(
                "resuming upload to %s at byte %d (attempt %d)",
                session.repository,
                offset,
                attempts + 1,
            )
        except Exception:
            # The bytes could not be made, or were refused: without this the registry would
            # keep the half-sent upload until it purges old ones.
            session.cancel()
            raise


def _resume(
    client: RegistryClient, repository: str, session: UploadSession
) -> tuple[int, UploadSession]:
    """Where to go on after an interruption: the registry's offset in the same upload, or a new
    upload from 0 when the registry no longer knows the old one or cannot say how much of it
    it holds (resuming at a wrong offset would store a corrupt blob)."""
    for attempt in range(20):
        try:
            offset = session.offset()
        except RegistryUnreachable:
            time.sleep(0.25 * (attempt + 1))  # e.g. the registry is restarting
            continue
        except RegistryError:
            return 0, start_upload(client, repository)
        if offset is None:
            session.cancel()
            return 0, start_upload(client, repository)
        return offset, session
    raise RegistryUnreachable(f"{client.host} did not come back to resume the upload")
