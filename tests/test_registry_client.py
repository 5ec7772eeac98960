"""The registry client against the real distribution registry: auth, trust and errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

import pytest

from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.registry import (
    AuthenticationFailed,
    CertificateExpired,
    ClientCertificateRequired,
    Forbidden,
    HostnameMismatch,
    NotFound,
    RateLimited,
    RegistryClient,
    RegistryError,
    RegistryUnreachable,
    TrustConfig,
    UnknownCA,
    parse_challenges,
    scopes_for,
)
from jupyter_regauth.registry import client as client_module
from jupyter_regauth.registry.trust import SSLContexts, ca_to_trust, fetch_chain, fingerprint
from jupyter_regauth.registry.upload import push_bytes
from jupyter_regauth.testing.pki import issue
from jupyter_regauth.testing.registry import LocalRegistry

from .conftest import PKI, Registry
from .tls_server import Request, response, scripted, tls_server


def client_for(registry: Registry, **creds: str) -> RegistryClient:
    assert registry.ca_file is not None
    trust = TrustConfig(
        ca_pem=registry.ca_file.read_bytes(),
        client_cert=registry.extra.get("client_cert"),  # type: ignore[arg-type]
        client_key=registry.extra.get("client_key"),  # type: ignore[arg-type]
    )
    return RegistryClient(registry.host, credentials=Credentials(**creds), trust=trust)


def test_a_registry_that_never_finishes_the_handshake_is_given_up_after_the_timeout() -> None:
    """A timeout shorter than the 10 s a connection may take bounds the connection too: a
    server's RegAuthApp.timeout of 2 s is not 10 s for a registry behind a dead proxy."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        held: list[socket.socket] = []
        threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
        host = f"127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()
        with (
            RegistryClient(host, timeout=1.0) as client,
            pytest.raises(RegistryUnreachable, match="did not answer in time"),
        ):
            client.ping()
        assert time.monotonic() - started < 5, "waited for the fixed 10 s, not the timeout"
        for connection in held:
            connection.close()


def test_basic_login_right(basic_registry: Registry) -> None:
    with client_for(basic_registry, username="alice", password=basic_registry.password) as client:
        stored = client.check_login()
        assert stored.password == basic_registry.password
        assert client.auth.challenge is not None and client.auth.challenge.scheme == "basic"
        assert client.ping(authenticate=True).status == 200


def test_basic_login_wrong(basic_registry: Registry) -> None:
    with client_for(basic_registry, username="alice", password="wrong") as client:
        with pytest.raises(AuthenticationFailed) as info:
            client.check_login()
    assert info.value.status == 401
    assert "refused the credentials for 'alice'" in info.value.message
    assert "wrong" not in str(info.value)


def test_anonymous_needs_login(basic_registry: Registry) -> None:
    with client_for(basic_registry) as client, pytest.raises(AuthenticationFailed) as info:
        client.catalog()
    assert f"log in to {basic_registry.host} first" in str(info.value)


def test_token_login_trades_password_for_identity_token(token_registry: Registry) -> None:
    with client_for(token_registry, username="carol", password=token_registry.password) as client:
        stored = client.check_login()
    assert stored.identity_token and not stored.password
    assert stored.username == "carol"
    # The identity token alone works, through the OAuth2 POST refresh flow.
    issuer = token_registry.extra["issuer"]
    before = len(issuer.requests)  # type: ignore[attr-defined]
    with client_for(token_registry, username="carol", identity_token=stored.identity_token) as c:
        assert isinstance(c.catalog(), list)
        assert c.auth.token_expiry() is not None
    posts = [r for r in issuer.requests[before:] if r["method"] == "POST"]  # type: ignore[attr-defined]
    assert posts and posts[0]["grant_type"] == "refresh_token"


def test_token_wrong_password(token_registry: Registry) -> None:
    with client_for(token_registry, username="carol", password="nope") as client:
        with pytest.raises(AuthenticationFailed, match="token service"):
            client.check_login()


# A token service's usual lifetime, and one shorter than the margin kept before expiry.
@pytest.mark.parametrize("lifetime", [300, 8])
def test_token_cached_per_scope(
    token_registry: Registry, lifetime: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = token_registry.extra["issuer"]
    monkeypatch.setattr(issuer, "lifetime", lifetime)
    with client_for(token_registry, username="carol", password=token_registry.password) as client:
        client.ping()
        before = len(issuer.requests)  # type: ignore[attr-defined]
        for _ in range(3):
            assert client.head_manifest("team/model", "latest") is None
        assert len(issuer.requests) - before == 1  # type: ignore[attr-defined]


def test_token_forbidden_scope(token_registry: Registry) -> None:
    password = str(token_registry.extra["reader_password"])
    with client_for(token_registry, username="reader", password=password) as client:
        client.check_login()
        with pytest.raises(Forbidden, match="does not grant registry:catalog"):
            client.catalog()
    # The same as the first request: its token is fetched on the 401 and refused in turn.
    with client_for(token_registry, username="reader", password=password) as client:
        with pytest.raises(Forbidden, match="does not grant registry:catalog"):
            client.catalog()


def test_anonymous_token(token_registry: Registry) -> None:
    issuer = token_registry.extra["issuer"]
    with client_for(token_registry) as client:
        assert client.head_manifest("public/model", "v1") is None  # allowed, and not there
        gets = [r for r in issuer.requests if r["method"] == "GET"]  # type: ignore[attr-defined]
        assert gets[-1]["user"] is None  # the token was asked for without credentials
        with pytest.raises(Forbidden, match="does not grant repository:team/model:pull"):
            client.get_manifest("team/model", "v1")


def test_not_found(basic_registry: Registry) -> None:
    with client_for(basic_registry, username="alice", password=basic_registry.password) as client:
        with pytest.raises(NotFound) as info:
            client.get_manifest("nothing/here", "v1")
    assert info.value.status == 404
    assert "MANIFEST_UNKNOWN" in info.value.message or "NAME_UNKNOWN" in info.value.message
    # The hint says what the registry's code means.
    if "NAME_UNKNOWN" in info.value.message:
        assert info.value.hint and "no repository of that name" in info.value.hint
    else:
        assert info.value.hint and "no image of that tag or digest" in info.value.hint
    digest = "sha256:" + "0" * 64
    with client_for(basic_registry, username="alice", password=basic_registry.password) as client:
        with pytest.raises(NotFound) as info:
            client.get_manifest("nothing/here", digest)
    assert f"manifest nothing/here@{digest}" in info.value.message, "named as a digest reference"
    with client_for(basic_registry, username="alice", password=basic_registry.password) as client:
        with pytest.raises(NotFound) as info:
            with client.open_blob("nothing/here", "sha256:" + "0" * 64) as chunks:
                b"".join(chunks)
    assert "BLOB_UNKNOWN" in info.value.message
    assert info.value.hint and "lacks content the image names" in info.value.hint


def test_unknown_ca_shows_fingerprint(basic_registry: Registry) -> None:
    chain = fetch_chain(basic_registry.host)
    client = RegistryClient(basic_registry.host, trust=TrustConfig())
    with client, pytest.raises(UnknownCA) as info:
        client.ping()
    error = info.value
    assert error.fingerprint == fingerprint(chain[0])
    assert error.fingerprint is not None and error.fingerprint in str(error)
    assert "CN=registry" in str(error)
    # Worded for every front end; each names its own command or control from the host.
    assert error.host == basic_registry.host and error.to_dict()["host"] == basic_registry.host
    assert error.hint and "trust its CA" in error.hint
    assert "regauth" not in error.hint and "--" not in error.hint


def test_chain_offers_the_root(basic_registry: Registry, pki: PKI) -> None:
    chain = fetch_chain(basic_registry.host)
    assert ca_to_trust(chain) == pki.ca.cert


def test_trusted_through_certs_d(
    basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGAUTH_CERTS_D", str(tmp_path))
    host_dir = tmp_path / basic_registry.host
    host_dir.mkdir()
    assert basic_registry.ca_file is not None
    (host_dir / "ca.crt").write_bytes(basic_registry.ca_file.read_bytes())
    with RegistryClient(basic_registry.host) as client:
        assert client.ping().auth_scheme == "basic"


@pytest.fixture
def odd_registry(pki: PKI, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    server = LocalRegistry(tmp_path / "odd", ca=pki.ca, server_cert=request.param(pki))
    with server:
        yield server.host


def _wrong_name(pki: PKI):  # type: ignore[no-untyped-def]
    return issue(pki.ca, "elsewhere", names=("registry.invalid",))


def _expired(pki: PKI):  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.timezone.utc)
    return issue(
        pki.ca,
        "old",
        names=("127.0.0.1",),
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )


@pytest.mark.parametrize("odd_registry", [_wrong_name], indirect=True)
def test_hostname_mismatch(odd_registry: str, pki: PKI) -> None:
    with RegistryClient(odd_registry, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        with pytest.raises(HostnameMismatch, match="not valid for that name") as info:
            client.ping()
    assert "(it lists registry.invalid)" in info.value.message, info.value.message


@pytest.mark.parametrize("odd_registry", [_expired], indirect=True)
def test_expired_certificate(odd_registry: str, pki: PKI) -> None:
    with RegistryClient(odd_registry, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        with pytest.raises(CertificateExpired, match="expired or not yet valid"):
            client.ping()


def test_client_certificate_required(mtls_registry: Registry) -> None:
    assert mtls_registry.ca_file is not None
    trust = TrustConfig(ca_pem=mtls_registry.ca_file.read_bytes())
    with RegistryClient(mtls_registry.host, trust=trust) as client:
        with pytest.raises(ClientCertificateRequired, match="requires a client certificate"):
            client.ping()
    with client_for(mtls_registry, username="dave", password=mtls_registry.password) as client:
        assert client.check_login().username == "dave"
        assert client.ping(authenticate=True).api_version == "registry/2.0"


def test_client_certificate_from_certs_d(
    mtls_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGAUTH_CERTS_D", str(tmp_path))
    host_dir = tmp_path / mtls_registry.host
    host_dir.mkdir()
    assert mtls_registry.ca_file is not None
    (host_dir / "ca.crt").write_bytes(mtls_registry.ca_file.read_bytes())
    for name, suffix in (("client_cert", "cert"), ("client_key", "key")):
        source = mtls_registry.extra[name]
        assert isinstance(source, Path)
        (host_dir / f"client.{suffix}").write_bytes(source.read_bytes())
    creds = Credentials(username="dave", password=mtls_registry.password)
    with RegistryClient(mtls_registry.host, credentials=creds) as client:
        assert client.ping(authenticate=True).status == 200


def test_clients_share_one_tls_context_per_trust(mtls_registry: Registry, tmp_path: Path) -> None:
    """A service's clients take their TLS context from one cache: the same trust gives the
    same context, a renewed client certificate (same path) a new one, and each works."""
    assert mtls_registry.ca_file is not None
    cert, key = tmp_path / "client.cert", tmp_path / "client.key"
    for name, path in (("client_cert", cert), ("client_key", key)):
        source = mtls_registry.extra[name]
        assert isinstance(source, Path)
        path.write_bytes(source.read_bytes())
    trust = TrustConfig(mtls_registry.ca_file.read_bytes(), cert, key)
    contexts = SSLContexts()
    creds = Credentials(username="dave", password=mtls_registry.password)
    for _ in range(2):
        with RegistryClient(
            mtls_registry.host, credentials=creds, trust=trust, ssl_contexts=contexts
        ) as client:
            assert client.ping(authenticate=True).status == 200
            assert client._verify is contexts.get(trust)  # the one context, not a new one
    assert contexts.get(trust) is contexts.get(replace(trust, sources=("elsewhere",)))
    before = contexts.get(trust)
    cert.write_bytes(cert.read_bytes() + b"\n")  # renewed in place: new size and mtime
    assert contexts.get(trust) is not before
    assert contexts.get(replace(trust, insecure=True)) is not contexts.get(trust)


class _RateLimitedHandler(http.server.BaseHTTPRequestHandler):
    """distribution has no rate limiting; this stands in for a registry that does."""

    calls: ClassVar[list[str]] = []
    retry_after = "1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.calls.append(self.path)
        if len(self.calls) == 1 or self.retry_after == "3600":
            self.send_response(429)
            self.send_header("Retry-After", self.retry_after)
            self.end_headers()
            return
        body = b'{"repositories": ["a"]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_registry_that_answers_in_plain_http_is_named_so() -> None:
    handler = type("H", (_RateLimitedHandler,), {"calls": [], "retry_after": "1"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        with RegistryClient(host) as client, pytest.raises(RegistryError) as info:
            client.ping()
        with pytest.raises(RegistryError) as fetched:  # what regauth trust does first
            fetch_chain(host)
    finally:
        server.shutdown()
        server.server_close()
    for error in (info.value, fetched.value):
        assert error.message == f"{host} does not speak TLS: it answered in plain HTTP"
        assert error.hint and "over HTTPS only" in error.hint


# A number of seconds, too long to wait, an HTTP date (past), and nonsense (waited as unknown).
@pytest.mark.parametrize("retry_after", ["1", "3600", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
def test_rate_limit_honours_retry_after(retry_after: str) -> None:
    handler = type("H", (_RateLimitedHandler,), {"calls": [], "retry_after": retry_after})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        with RegistryClient(host, plain_http=True) as client:
            if retry_after != "3600":
                assert client.catalog() == ["a"]
                assert len(handler.calls) == 2
            else:
                with pytest.raises(RateLimited) as info:
                    client.catalog()
                assert info.value.retry_after == 3600
                assert "retry after 3600 s" in str(info.value)
    finally:
        server.shutdown()


def test_parse_challenges() -> None:
    [bearer] = parse_challenges(
        'Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull,push",'
        'error="insufficient_scope"'
    )
    assert bearer.scheme == "bearer" and bearer.realm == "https://auth/token"
    assert bearer.scope == "repository:a/b:pull,push"
    assert bearer.params["error"] == "insufficient_scope"
    basic, token = parse_challenges('Basic realm="r", Bearer realm="t",service=s')
    assert (basic.scheme, basic.realm, token.scheme, token.service) == ("basic", "r", "bearer", "s")
    [escaped] = parse_challenges(r'Basic realm="say \"hi\""')
    assert escaped.realm == 'say "hi"'
    # Two WWW-Authenticate headers, the first a scheme with no parameters (as httpx joins them).
    negotiate, bearer = parse_challenges('Negotiate, Bearer realm="https://auth/token",service=s')
    assert (negotiate.scheme, bearer.scheme, bearer.realm) == (
        "negotiate",
        "bearer",
        "https://auth/token",
    )


def test_scopes_for() -> None:
    assert scopes_for("GET", "/v2/a/b/manifests/v1") == ["repository:a/b:pull"]
    assert scopes_for("PUT", "/v2/a/manifests/v1") == ["repository:a:pull,push"]
    assert scopes_for("POST", "/v2/x/blobs/uploads/", "mount=sha256:1&from=y/z") == [
        "repository:x:pull,push",
        "repository:y/z:pull",
    ]
    assert scopes_for("DELETE", "/v2/a/manifests/sha256:1") == ["repository:a:delete"]
    assert scopes_for("GET", "/v2/_catalog") == ["registry:catalog:*"]
    assert scopes_for("GET", "/v2/") == []
    # Repository names may hold the words that mark what follows them.
    assert scopes_for("HEAD", "/v2/team/manifests/x/blobs/sha256:1") == [
        "repository:team/manifests/x:pull"
    ]
    assert scopes_for("PATCH", "/v2/a/blobs/b/blobs/uploads/1") == [
        "repository:a/blobs/b:pull,push"
    ]
    assert scopes_for("GET", "/v2/a/tags/manifests/v1") == ["repository:a/tags:pull"]


def test_local_registry_refuses_a_taken_port(pki: PKI, tmp_path: Path) -> None:
    with LocalRegistry(tmp_path / "first", ca=pki.ca) as first:
        second = LocalRegistry(tmp_path / "second", ca=pki.ca, port=first.port)
        with pytest.raises(RuntimeError, match=f"port {first.port} .* already in use"):
            second.start()


def test_a_blob_redirect_to_another_host_gets_no_credentials(pki: PKI, tmp_path: Path) -> None:
    data = b"blob bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    seen: list[str | None] = []

    def storage(request: Request) -> bytes:
        seen.append(request.headers.get("authorization"))
        return response("200 OK", {"Content-Type": "application/octet-stream"}, data)

    with tls_server(pki.ca, tmp_path / "storage", scripted(storage)) as other:

        def registry(request: Request) -> bytes:
            if "authorization" not in request.headers:
                return response("401 Unauthorized", {"WWW-Authenticate": 'Basic realm="r"'})
            return response("307 Temporary Redirect", {"Location": f"https://{other}/b?sig=1"})

        with tls_server(pki.ca, tmp_path / "registry", scripted(registry)) as host:
            creds = Credentials(username="alice", password="throwaway")
            trust = TrustConfig(ca_pem=pki.ca.cert_pem)
            with RegistryClient(host, credentials=creds, trust=trust) as client:
                with client.open_blob("team/a", digest) as chunks:
                    assert b"".join(chunks) == data
    assert seen == [None]


def test_no_credentials_go_to_a_plain_http_token_realm(pki: PKI, tmp_path: Path) -> None:
    """A TLS registry naming an http:// realm would have the password sent in clear text; ggcr
    refuses such a realm too."""
    handler = type("H", (_RateLimitedHandler,), {"calls": [], "retry_after": "3600"})
    realm = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=realm.serve_forever, daemon=True).start()
    challenge = f'Bearer realm="http://127.0.0.1:{realm.server_address[1]}/token",service=r'

    def registry(request: Request) -> bytes:
        return response("401 Unauthorized", {"WWW-Authenticate": challenge})

    try:
        with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
            creds = Credentials(username="alice", password="throwaway")
            trust = TrustConfig(ca_pem=pki.ca.cert_pem)
            with RegistryClient(host, credentials=creds, trust=trust) as client:
                with pytest.raises(RegistryError, match="plain HTTP") as info:
                    client.check_login()
    finally:
        realm.shutdown()
    assert handler.calls == [] and info.value.hint


def test_a_manifest_over_the_limit_is_refused(
    pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry cannot make the client hold an arbitrarily large "manifest" in memory (ggcr
    stops at 100 MiB too), whether it says the size up front or not."""
    monkeypatch.setattr(client_module, "MANIFEST_LIMIT", 1000)
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * 2000 + b'"}'

    def registry(request: Request) -> bytes:
        if request.path.endswith("/chunked"):
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            return head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return response("200 OK", {"Content-Type": "application/json"}, body)

    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            for tag in ("sized", "chunked"):
                with pytest.raises(RegistryError, match="larger than"):
                    client.get_manifest("team/a", tag)


def test_a_refused_connection_is_named_in_words(pki: PKI) -> None:
    """Both ways in (the client, and the chain fetch of trust) say why in the system's words,
    without the socket error's [Errno N]."""
    with socket.socket() as held:  # a port with nothing listening on it
        held.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{held.getsockname()[1]}"
    with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        with pytest.raises(RegistryUnreachable) as by_client:
            client.ping()
    with pytest.raises(RegistryUnreachable) as by_trust:
        fetch_chain(host)
    for error in (by_client.value, by_trust.value):
        assert error.message == f"cannot connect to {host}: Connection refused"
        assert error.hint == "check the host name and port, and that the registry is running"


def test_a_body_cut_short_is_a_registry_error(pki: PKI, tmp_path: Path) -> None:
    """A connection that breaks while a manifest or a blob is read is RegistryUnreachable (which
    an upload resumes from), not an error of the HTTP library escaping every front end."""
    data = b"0123456789"
    digest = "sha256:" + hashlib.sha256(data * 100).hexdigest()

    def registry(request: Request) -> bytes:
        kind = "application/json" if "/manifests/" in request.path else "application/octet-stream"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: 1000\r\n"
        return (head + "Connection: close\r\n\r\n").encode() + data  # then the server hangs up

    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            with pytest.raises(RegistryUnreachable, match=host):
                client.get_manifest("team/a", "v1")
            with pytest.raises(RegistryUnreachable, match=host):
                with client.open_blob("team/a", digest) as chunks:
                    b"".join(chunks)


def test_a_token_renewed_after_a_refusal_serves_the_next_request(pki: PKI, tmp_path: Path) -> None:
    """The token fetched after a 401 replaces the refused one for the request's own scopes too,
    also where the challenge spells them otherwise (distribution lists push,pull in either
    order): the next request is not sent the refused token again."""
    issued = itertools.count()
    refused: list[str | None] = []
    realm: list[str] = []

    def registry(request: Request) -> bytes:
        if request.path.startswith("/token"):
            body = json.dumps({"token": f"t{next(issued)}", "expires_in": 300}).encode()
            return response("200 OK", {"Content-Type": "application/json"}, body)
        if request.headers.get("authorization") in (None, "Bearer t1"):  # t1 lapsed early
            refused.append(request.headers.get("authorization"))
            scope = ',scope="repository:team/a:push,pull"' if "/v2/team/" in request.path else ""
            challenge = f'Bearer realm="{realm[0]}",service="reg"{scope}'
            return response("401 Unauthorized", {"WWW-Authenticate": challenge})
        return response("201 Created", {"Docker-Content-Digest": digest})

    manifest = b'{"schemaVersion": 2}'
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        realm.append(f"https://{host}/token")
        creds = Credentials(username="alice", password="throwaway")
        trust = TrustConfig(ca_pem=pki.ca.cert_pem)
        with RegistryClient(host, credentials=creds, trust=trust) as client:
            client.ping()
            for _ in range(2):
                client.put_manifest("team/a", "v1", manifest, "application/json")
    assert refused == [None, "Bearer t1"]
    assert next(issued) == 3  # t0 for the ping, t1 refused, t2 for both PUTs


def test_relative_next_links_are_resolved_against_their_request(pki: PKI, tmp_path: Path) -> None:
    """A Link without a leading '/' (a query alone, or a relative path) goes on with the list it
    was sent with (RFC 3986), as ggcr follows it."""
    pages = {
        "/v2/team/a/tags/list?n=1": ("a", "?n=1&last=a"),
        "/v2/team/a/tags/list?n=1&last=a": ("b", "list?n=1&last=b"),
        "/v2/team/a/tags/list?n=1&last=b": ("c", ""),
    }

    def registry(request: Request) -> bytes:
        if request.path not in pages:
            return response("404 Not Found")
        tag, link = pages[request.path]
        headers = {"Content-Type": "application/json"}
        if link:
            headers["Link"] = f'<{link}>; rel="next"'
        return response("200 OK", headers, json.dumps({"tags": [tag]}).encode())

    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            assert client.tags("team/a", page_size=1) == ["a", "b", "c"]


def test_the_catalog_is_paged_through_the_links_of_the_registry(basic_registry: Registry) -> None:
    """distribution's own next links (an absolute path with the query) page through the list."""
    config = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    creds = {"username": "alice", "password": basic_registry.password}
    with client_for(basic_registry, **creds) as client:
        for repository in ("team/paged-a", "team/paged-b"):
            push_bytes(client, repository, config)
            client.put_manifest(repository, "v1", manifest, json.loads(manifest)["mediaType"])
        paged = client.catalog(page_size=1)
        assert paged == client.catalog(page_size=None)
        assert {"team/paged-a", "team/paged-b"} <= set(paged)


@contextmanager
def bearer_registry(
    pki: PKI, tmp_path: Path, token_answer: bytes, challenge: str = 'realm="{realm}",service="reg"'
) -> Iterator[tuple[str, list[Request]]]:
    """A scripted registry that takes "Bearer t", challenging with ``challenge`` (``{realm}``:
    the address of /token on the same server, which answers ``token_answer``). Yields its host
    and the token requests it was sent."""
    asked: list[Request] = []
    realm: list[str] = []

    def registry(request: Request) -> bytes:
        if request.path.startswith("/token"):
            asked.append(request)
            return response("200 OK", {"Content-Type": "application/json"}, token_answer)
        if request.headers.get("authorization") != "Bearer t":
            header = "Bearer " + challenge.format(realm=realm[0])
            return response("401 Unauthorized", {"WWW-Authenticate": header})
        return response("200 OK", {"Content-Type": "application/json"}, b"{}")

    with tls_server(pki.ca, tmp_path, scripted(registry)) as host:
        realm.append(f"https://{host}/token")
        yield host, asked


def _rfc3339(seconds_ago: float, form: str) -> str:
    issued = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds_ago)
    return issued.strftime(form).replace("NANOS", f"{issued.microsecond:06d}123")


# (the token service's answer, how long the token then lives by the client's count)
TOKEN_ANSWERS = [
    # expires_in counts from issued_at, in each of RFC 3339's spellings (Go sends nanoseconds)
    pytest.param(
        {"token": "t", "expires_in": 300, "issued_at": "200 s ago %Y-%m-%dT%H:%M:%SZ"},
        100,
        id="issued-before",
    ),
    pytest.param(
        {"token": "t", "expires_in": 300, "issued_at": "200 s ago %Y-%m-%dT%H:%M:%S.NANOSZ"},
        100,
        id="issued-before-nanoseconds",
    ),
    pytest.param(
        {"token": "t", "expires_in": 300, "issued_at": "200 s ago %Y-%m-%dT%H:%M:%S+00:00"},
        100,
        id="issued-before-offset",
    ),
    # an issued_at that says nothing by our clock: Go's zero time, a time yet to come, nonsense
    pytest.param(
        {"token": "t", "expires_in": 300, "issued_at": "0001-01-01T00:00:00Z"}, 300, id="zero"
    ),
    pytest.param(
        {"token": "t", "expires_in": 300, "issued_at": "-30 s ago %Y-%m-%dT%H:%M:%SZ"},
        300,
        id="issued-later",
    ),
    pytest.param({"token": "t", "expires_in": 300, "issued_at": "soon"}, 300, id="not-a-time"),
    # OAuth2's access_token alone; no expires_in, or one that is no lifetime: 60 s, as the spec
    pytest.param({"access_token": "t"}, 60, id="access-token"),
    pytest.param({"token": "t", "expires_in": 0}, 60, id="zero-lifetime"),
    pytest.param({"token": "t", "expires_in": -5}, 60, id="negative-lifetime"),
    pytest.param({"token": "t", "expires_in": "Infinity"}, 60, id="infinite-lifetime"),
]


@pytest.mark.parametrize(("answer", "lifetime"), TOKEN_ANSWERS)
def test_a_token_lives_as_long_as_the_token_service_said(
    pki: PKI, tmp_path: Path, answer: dict[str, object], lifetime: int
) -> None:
    """distribution's token spec: expires_in counts from issued_at where it is given (a service
    may hand out a token it issued before), else from now, and is 60 s where it is absent."""
    body = dict(answer)
    issued = str(body.get("issued_at", ""))
    if " s ago " in issued:
        ago, _, form = issued.partition(" s ago ")
        body["issued_at"] = _rfc3339(float(ago), form)
    text = json.dumps(body).replace('"Infinity"', "Infinity").encode()
    with bearer_registry(pki, tmp_path, text) as (host, _):
        trust = TrustConfig(ca_pem=pki.ca.cert_pem)
        with RegistryClient(host, trust=trust) as client:
            assert client.ping(authenticate=True).status == 200
            expiry = client.auth.token_expiry()
    assert expiry is not None and abs(expiry - time.time() - lifetime) < 5


@pytest.mark.parametrize("answer", [b'{"access_token": null}', b'{"token": ""}', b"[]"])
def test_a_token_answer_without_a_token_is_an_error(
    pki: PKI, tmp_path: Path, answer: bytes
) -> None:
    with bearer_registry(pki, tmp_path, answer) as (host, _):
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            with pytest.raises(RegistryError, match="sent no token") as info:
                client.ping(authenticate=True)
    assert info.value.hint


# (the challenge, the query the token realm is then sent, as docker sends it)
CHALLENGES = [
    pytest.param('realm="{realm}",service=""', {}, id="empty-service"),
    pytest.param(
        'realm="{realm}?service=reg&x=1"', {"service": ["reg"], "x": ["1"]}, id="realm-query"
    ),
    pytest.param(
        'realm="{realm}?x=1",service="reg",scope="repository:team/b:pull  repository:team/c:pull"',
        {
            "x": ["1"],
            "service": ["reg"],
            "scope": ["repository:team/b:pull", "repository:team/c:pull"],
        },
        id="scope-list",
    ),
    pytest.param(r'realm="{realm}",service="r\"e\\g"', {"service": ['r"e\\g']}, id="escapes"),
]


@pytest.mark.parametrize(("challenge", "query"), CHALLENGES)
def test_the_token_realm_is_sent_what_docker_sends(
    pki: PKI, tmp_path: Path, challenge: str, query: dict[str, list[str]]
) -> None:
    """docker keeps the realm's own query, adds service only where the challenge names one,
    and a scope for each the request needs and the challenge asked for."""
    with bearer_registry(pki, tmp_path, b'{"token": "t"}', challenge) as (host, asked):
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            client.head_manifest("team/a", "v1")
    [request] = asked
    sent = parse_qs(request.path.partition("?")[2], keep_blank_values=True)
    scopes = sorted(["repository:team/a:pull", *query.get("scope", [])])
    assert sent == {**query, "scope": scopes}
