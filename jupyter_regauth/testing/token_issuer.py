"""A token issuer for distribution's token auth: the registry verifies the JWTs it signs for real.

It implements both ways clients ask for a token (distribution's docs, "Token Authentication
Specification" and "OAuth2 Token"): GET with Basic auth (or anonymously) and POST with
``grant_type=password`` or ``grant_type=refresh_token``. Users and what they may do are given as
``{"user": ("password", {"repo/prefix*": ["pull", "push"]})}``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .pki import KeyPair

Grants = Mapping[str, list[str]]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key ID distribution matches a JWT's ``kid`` against: libtrust's fingerprint format."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


@dataclass
class TokenIssuer:
    signer: KeyPair
    service: str
    issuer: str = "jupyter-regauth-test-issuer"
    users: dict[str, tuple[str, Grants]] = field(default_factory=dict)
    anonymous: Grants = field(default_factory=dict)
    lifetime: int = 300
    requests: list[dict[str, object]] = field(default_factory=list)
    on_secret: Callable[[str], None] = lambda secret: None  # tests collect issued secrets
    _refresh_tokens: dict[str, str] = field(default_factory=dict)

    def sign(self, subject: str, access: list[dict[str, object]]) -> str:
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "kid": libtrust_key_id(self.signer.key.public_key()),
        }
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        der = self.signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def grant(self, subject: str | None, scopes: list[str]) -> list[dict[str, object]]:
        grants = self.users[subject][1] if subject else self.anonymous
        access: list[dict[str, object]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed: set[str] = set()
            for pattern, granted in grants.items():
                if fnmatch.fnmatchcase(f"{kind}:{name}", pattern) or fnmatch.fnmatchcase(
                    name, pattern
                ):
                    allowed.update(granted)
            wanted = [a for a in actions.split(",") if a in allowed or "*" in allowed]
            access.append({"type": kind, "name": name, "actions": wanted})
        return access

    def authenticate(self, username: str, password: str) -> bool:
        user = self.users.get(username)
        return user is not None and secrets.compare_digest(user[0], password)

    def respond(
        self, subject: str | None, scopes: list[str], *, offline: bool
    ) -> dict[str, object]:
        token = self.sign(subject or "", self.grant(subject, scopes))
        self.on_secret(token)
        body: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": self.lifetime,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if offline and subject:
            refresh = secrets.token_urlsafe(24)
            self._refresh_tokens[refresh] = subject
            self.on_secret(refresh)
            body["refresh_token"] = refresh
        return body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: requests are recorded in ``TokenIssuer.requests`` instead."""

    def _send(self, status: int, body: Mapping[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _basic_user(self) -> tuple[str | None, bool]:
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None, True
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return username, self.server.issuer.authenticate(username, password)

    def _body(self) -> bytes:
        """The request body, plain or chunked (Go clients, skopeo among them, send it chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return body

    def do_GET(self) -> None:
        issuer = self.server.issuer
        query = parse_qs(urlsplit(self.path).query)
        username, ok = self._basic_user()
        issuer.requests.append({"method": "GET", "user": username, "query": query})
        if not ok:
            self._send(401, {"details": "incorrect username or password"})
            return
        offline = query.get("offline_token", ["false"])[0] == "true"
        self._send(200, issuer.respond(username, query.get("scope", []), offline=offline))

    def do_POST(self) -> None:
        issuer = self.server.issuer
        form = parse_qs(self._body().decode())
        grant_type = form.get("grant_type", [""])[0]
        issuer.requests.append({"method": "POST", "grant_type": grant_type})
        scopes = " ".join(form.get("scope", [])).split()
        if grant_type == "password":
            username = form.get("username", [""])[0]
            if not issuer.authenticate(username, form.get("password", [""])[0]):
                self._send(401, {"error": "invalid_grant"})
                return
            subject: str | None = username
        elif grant_type == "refresh_token":
            subject = issuer._refresh_tokens.get(form.get("refresh_token", [""])[0])
            if subject is None:
                self._send(401, {"error": "invalid_grant"})
                return
        else:
            self._send(400, {"error": "unsupported_grant_type"})
            return
        offline = form.get("access_type", [""])[0] == "offline"
        self._send(200, issuer.respond(subject, scopes, offline=offline))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    issuer: TokenIssuer


class TokenServer:
    """Serves a ``TokenIssuer`` over HTTPS on 127.0.0.1."""

    def __init__(self, issuer: TokenIssuer, cert_file: Path, key_file: Path) -> None:
        self.issuer = issuer
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.issuer = issuer
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}/token"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
