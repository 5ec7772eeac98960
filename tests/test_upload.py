"""Blob and manifest uploads against the real registry: exists, mount, stream, resume."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest

from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.registry import DigestMismatch, RegistryClient, TrustConfig
from jupyter_regauth.registry.upload import (
    UploadSession,
    file_opener,
    find_or_mount,
    push_blob,
    push_bytes,
    push_stream,
    skip,
    start_upload,
)
from jupyter_regauth.testing.registry import LocalRegistry
from jupyter_regauth.testing.token_issuer import TokenIssuer

from .conftest import PKI, Registry, new_password
from .tls_server import Request, response, scripted, tls_server


def _client(registry: Registry) -> RegistryClient:
    assert registry.ca_file is not None
    return RegistryClient(
        registry.host,
        credentials=Credentials(username=registry.username, password=registry.password),
        trust=TrustConfig(ca_pem=registry.ca_file.read_bytes()),
    )


def _blob(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(size))
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _pulled(client: RegistryClient, repository: str, digest: str) -> bytes:
    with client.open_blob(repository, digest) as chunks:
        return b"".join(chunks)


def test_upload_then_exists_then_mount(token_registry: Registry, tmp_path: Path) -> None:
    path, digest = _blob(tmp_path, 3 << 20)
    sent: list[int] = []
    with _client(token_registry) as client:
        first = push_blob(client, "team/a", digest, file_opener(str(path)), progress=sent.append)
        assert (first.state, first.size, sent[-1]) == ("uploaded", 3 << 20, 3 << 20)
        assert sent == sorted(sent)  # how much has been sent, so far
        again = push_blob(client, "team/a", digest, file_opener(str(path)))
        assert again.state == "exists"
        mounted = push_blob(client, "team/b", digest, file_opener(str(path)), mount_from=["team/a"])
        assert (mounted.state, mounted.size) == ("mounted", 3 << 20)
        assert _pulled(client, "team/b", digest) == path.read_bytes()


def test_wrong_content_is_refused(basic_registry: Registry, tmp_path: Path) -> None:
    path, _ = _blob(tmp_path, 1000)
    claimed = "sha256:" + "0" * 64
    with _client(basic_registry) as client:
        with pytest.raises(DigestMismatch):
            push_blob(client, "team/bad", claimed, file_opener(str(path)))
        assert client.head_blob("team/bad", claimed) is None


# Restarted after 3 MiB were handed to the connection (the registry holds some of them), or
# before the first byte: then distribution reports "Range: 0-0", which also means one byte.
def test_a_failing_producer_cancels_its_upload(basic_registry: Registry) -> None:
    """A layer whose bytes cannot be made (a file unreadable halfway) leaves no open upload."""
    from jupyter_regauth.images.errors import ImageError

    def failing(offset: int) -> Iterator[bytes]:
        yield b"x" * (1 << 20)
        raise ImageError("Cannot read /model/w.bin: Permission denied")

    uploads = basic_registry.server.workdir / "data/docker/registry/v2/repositories/team/cut"
    with _client(basic_registry) as client, pytest.raises(ImageError, match="Cannot read"):
        push_stream(client, "team/cut", failing, lambda: "sha256:" + "0" * 64)
    # The registry had the upload with its first MiB; the DELETE removed its data (distribution
    # leaves only an empty hash state behind, which its purge removes).
    assert (uploads / "_uploads").is_dir()
    assert not list(uploads.glob("_uploads/*/data")) and not list(
        uploads.glob("_uploads/*/startedat")
    )


@pytest.mark.parametrize("restart_at", [3, 0])
def test_upload_resumes_after_registry_restart(pki: PKI, tmp_path: Path, restart_at: int) -> None:
    server = LocalRegistry(tmp_path / "restarting", ca=pki.ca)
    path, digest = _blob(tmp_path, 8 << 20)
    restarted: list[bool] = []

    def opener(offset: int) -> Iterator[bytes]:
        for i, chunk in enumerate(file_opener(str(path), 1 << 20)(offset)):
            if i == restart_at and not restarted:
                restarted.append(True)
                server.restart()  # the PATCH in flight loses its connection
            yield chunk

    sent: list[int] = []
    with server:
        trust = TrustConfig(ca_pem=pki.ca.cert_pem)
        with RegistryClient(server.host, trust=trust) as client:
            result = push_blob(client, "team/big", digest, opener, progress=sent.append)
            assert restarted and result.attempts == 2 and result.state == "uploaded"
            assert _pulled(client, "team/big", digest) == path.read_bytes()
    # Progress goes back to what the registry kept, then on to the size: never past it.
    back = next(i for i in range(1, len(sent)) if sent[i] <= sent[i - 1])
    assert sent[:back] == sorted(sent[:back]) and sent[back:] == sorted(sent[back:])
    assert sent[-1] == max(sent) == 8 << 20


def test_skip_resumes_a_restarted_stream() -> None:
    assert b"".join(skip([b"abc", b"def", b"gh"], 4)) == b"efgh"
    assert b"".join(skip([b"abc"], 0)) == b"abc"


def test_manifest_round_trip(basic_registry: Registry, tmp_path: Path) -> None:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    with _client(basic_registry) as client:
        push_blob(client, "team/m", config_digest, lambda offset: [config[offset:]])
        digest = client.put_manifest(
            "team/m", "v1", manifest, "application/vnd.oci.image.manifest.v1+json"
        )
        fetched = client.get_manifest("team/m", "v1")
        assert (fetched.digest, fetched.data) == (digest, manifest)
        assert client.head_manifest("team/m", digest) == digest


def test_small_blob_is_one_put(basic_registry: Registry) -> None:
    data = b'{"architecture":"amd64"}'
    lines_before = len(basic_registry.server.log_path.read_text().splitlines())
    with _client(basic_registry) as client:
        first = push_bytes(client, "team/small", data)
        again = push_bytes(client, "team/small", data)
        assert (first.state, again.state) == ("uploaded", "exists")
        assert _pulled(client, "team/small", first.digest) == data
    log = basic_registry.server.log_path.read_text().splitlines()[lines_before:]
    requests = [line for line in log if "/v2/team/small/blobs/uploads/" in line and "HTTP/" in line]
    methods = sorted({m for line in requests for m in ("POST", "PATCH", "PUT") if f'"{m} ' in line})
    assert methods == ["POST", "PUT"]  # monolithic: no PATCH


def test_credentials_stay_with_the_registry_host(pki: PKI, tmp_path: Path) -> None:
    """An upload Location on another host (a storage front end) is sent no Authorization: the
    credentials are the registry's, as ggcr and docker keep them."""
    seen: dict[str, str | None] = {}
    data = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    challenge = {"WWW-Authenticate": 'Basic realm="registry"'}

    def storage(request: Request) -> bytes:
        seen[request.method] = request.headers.get("authorization")
        return response("201 Created", {"Docker-Content-Digest": digest})

    with tls_server(pki.ca, tmp_path / "storage", scripted(storage)) as other:

        def registry(request: Request) -> bytes:
            if "authorization" not in request.headers:
                return response("401 Unauthorized", challenge)
            if request.method == "HEAD":
                return response("404 Not Found")
            return response("202 Accepted", {"Location": f"https://{other}/upload/1?_state=s"})

        with tls_server(pki.ca, tmp_path / "registry", scripted(registry)) as host:
            creds = Credentials(username="alice", password="throwaway")
            trust = TrustConfig(ca_pem=pki.ca.cert_pem)
            with RegistryClient(host, credentials=creds, trust=trust) as client:
                assert push_bytes(client, "team/a", data).state == "uploaded"
    assert seen == {"PUT": None}


def test_a_mount_from_a_repository_one_cannot_read_becomes_an_upload(
    token_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """distribution refuses a mount without pull access on its source (401 insufficient_scope)
    instead of opening a plain upload; the blob is then sent, as docker and containerd do."""
    path, digest = _blob(tmp_path, 1000)
    with _client(token_registry) as client:
        push_blob(client, "private/src", digest, file_opener(str(path)))
    issuer = token_registry.extra["issuer"]
    password = new_password()
    monkeypatch.setitem(issuer.users, "pusher", (password, {"team/*": ["pull", "push"]}))  # type: ignore[attr-defined]
    pusher = replace(token_registry, username="pusher", password=password)
    with _client(pusher) as client:
        pushed = push_blob(
            client, "team/dst", digest, file_opener(str(path)), mount_from=["private/src"]
        )
        assert pushed.state == "uploaded"
        assert _pulled(client, "team/dst", digest) == path.read_bytes()


REGISTRY_LEEWAY = 60  # seconds distribution still takes a token after its exp (clock skew)


def _first_push_token_lapses(
    issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch, accepted_for: int
) -> list[str]:
    """Make the registry refuse the first push token ``accepted_for`` seconds after it is issued,
    while the token service says it lives for ``issuer.lifetime`` (as when their clocks
    disagree). Returns the scopes of that token once it has been issued."""
    respond = issuer.respond
    lapsing: list[str] = []

    def first_lapses(subject: str | None, scopes: list[str], *, offline: bool) -> dict[str, object]:
        body = respond(subject, scopes, offline=offline)
        if not lapsing and any(s.endswith(":pull,push") for s in scopes):
            lapsing.extend(scopes)
            with monkeypatch.context() as short:
                short.setattr(issuer, "lifetime", accepted_for - REGISTRY_LEEWAY)
                token = issuer.sign(subject or "", issuer.grant(subject, scopes))
            issuer.on_secret(token)
            body.update(token=token, access_token=token)
        return body

    monkeypatch.setattr(issuer, "respond", first_lapses)
    return lapsing


def test_a_token_refused_to_a_streamed_upload_is_renewed_and_the_upload_resumed(
    token_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed PATCH refused its token (lapsed sooner than the token service said) gets a new
    token and goes on from what the registry holds, as after a dropped connection: its consumed
    stream is not sent again."""
    issuer = token_registry.extra["issuer"]
    assert isinstance(issuer, TokenIssuer)
    lapsing = _first_push_token_lapses(issuer, monkeypatch, accepted_for=3)
    path, digest = _blob(tmp_path, 3 << 20)
    with _client(token_registry) as client:
        session = start_upload(client, "team/lapsing")  # taken with the lapsing token
        push = "repository:team/lapsing:pull,push"
        assert push in lapsing
        before = len(issuer.requests)
        time.sleep(4)
        result = push_stream(
            client, "team/lapsing", file_opener(str(path)), lambda: digest, session=session
        )
        assert (result.state, result.attempts, result.size) == ("uploaded", 2, 3 << 20)
        asked = [r.get("query", {}).get("scope", []) for r in issuer.requests[before:]]  # type: ignore[attr-defined]
        assert sum(push in scopes for scopes in asked) == 1  # the one renewal
        assert _pulled(client, "team/lapsing", digest) == path.read_bytes()


@pytest.mark.parametrize(
    ("held", "offset"), [("0-99", 100), ("bytes=0-99", 100), ("0-0", None), ("", None)]
)
def test_upload_status_range(pki: PKI, tmp_path: Path, held: str, offset: int | None) -> None:
    """The spec's ``Range: 0-<end>``, and the ``bytes=`` form some registries send."""

    def registry(request: Request) -> bytes:
        return response("204 No Content", {"Range": held} if held else {})

    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            location = f"{client.base_url}/v2/team/a/blobs/uploads/1"
            assert UploadSession(client, "team/a", location).offset() == offset


def test_relative_upload_locations_are_resolved_against_their_request(
    pki: PKI, tmp_path: Path
) -> None:
    """A Location without a leading '/' is relative to the URL of the request it answers
    (RFC 3986), as docker and ggcr resolve it: a mount's answer, a PATCH's and a status's."""
    data = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    uploads = "/v2/team/a/blobs/uploads/"
    answers = {  # each request the client must send, and the registry's answer to it
        ("POST", f"{uploads}?mount={quote(digest)}&from=team%2Fb"): ("202 Accepted", "1?_state=a"),
        ("PATCH", f"{uploads}1?_state=a"): ("202 Accepted", "2?_state=b"),
        ("GET", f"{uploads}2?_state=b"): ("204 No Content", "../uploads/3?_state=c"),
        ("PUT", f"{uploads}3?_state=c&digest={quote(digest)}"): ("201 Created", ""),
    }
    seen: list[tuple[str, str]] = []

    def registry(request: Request) -> bytes:
        seen.append((request.method, request.path))
        if request.method == "HEAD":
            return response("404 Not Found")
        status, location = answers.get((request.method, request.path), ("404 Not Found", ""))
        return response(status, {"Location": location, "Range": "0-10"} if location else {})

    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            session = find_or_mount(client, "team/a", digest, ["team/b"])
            assert isinstance(session, UploadSession)
            session.patch([data])
            assert session.offset() == len(data)
            session.complete(digest)
    assert seen[1:] == list(answers)
