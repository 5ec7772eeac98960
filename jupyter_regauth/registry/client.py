"""An OCI distribution client for one registry, on httpx.

``RegistryClient`` speaks the distribution API (``/v2/``): ping, catalog, tags, manifests and
blobs. Authentication is ``RegistryAuth``; trust is ``TrustConfig``. Every failure becomes a
specific ``RegistryError`` with the HTTP status and what to do.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__
from ..credentials.types import Credentials
from .auth import RegistryAuth
from .errors import (
    AuthenticationFailed,
    DigestMismatch,
    Forbidden,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryUnreachable,
)
from .trust import SSLContexts, TrustConfig, explain_tls_failure

log = logging.getLogger(__name__)

USER_AGENT = f"jupyter-regauth/{__version__}"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MANIFEST_LIMIT = 100 << 20  # bytes; ggcr's limit too (the OCI spec asks registries for 4 MiB)
MAX_RETRY_WAIT = 30.0  # longest Retry-After we wait out before reporting the rate limit
RETRIES = 3


@dataclass(frozen=True)
class Ping:
    """What ``GET /v2/`` told of a registry: its status and the auth scheme it asks for."""

    status: int
    auth_scheme: str | None  # "basic", "bearer" or None when the registry needs no auth
    api_version: str | None


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it: the bytes, their media type and digest."""

    data: bytes
    media_type: str
    digest: str

    def json(self) -> Any:
        return json.loads(self.data)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        return None  # neither seconds nor an HTTP date: as if the registry had not said
    if parsed.tzinfo is None:  # "-0000": UTC, by RFC 5322
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return max(0.0, parsed.timestamp() - time.time())


def resolve(response: httpx.Response, reference: str) -> str:
    """A URI reference the registry answered with (a Location, a Link) as an absolute URL: one
    without a leading '/' is relative to the request's URL (RFC 3986, section 5), not to the
    registry's root, as docker and ggcr resolve it."""
    return str(response.request.url.join(reference))


def _registry_errors(response: httpx.Response) -> list[tuple[str, str]]:
    """The (code, message) pairs of a distribution error body, which carry no secrets."""
    try:
        errors = response.json().get("errors") or []
        return [(str(e.get("code")), str(e.get("message"))) for e in errors if e]
    except (ValueError, AttributeError):
        return []


# What a 404 means, by the distribution error code it carries.
_NOT_FOUND_HINTS = {
    "NAME_UNKNOWN": "the registry has no repository of that name (or the account may not see "
    "it): check the repository's name",
    "MANIFEST_UNKNOWN": "the repository has no image of that tag or digest: check the tag or "
    "digest (the registry's tag list shows the tags it has)",
    "BLOB_UNKNOWN": "the registry lacks content the image names: push or copy the image again",
}


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class RegistryClient:
    """A client for one registry host (``host[:port]``). Use as a context manager or ``close()``.
    ``ssl_contexts``: where to take the TLS context from, shared with other clients (else one
    is made for this client)."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        trust: TrustConfig | None = None,
        timeout: float = 30.0,
        plain_http: bool = False,
        ssl_contexts: SSLContexts | None = None,
    ) -> None:
        self.host = host
        self.timeout_seconds = timeout
        self.trust = trust or TrustConfig.for_host(host)
        if self.trust.insecure:
            log.warning(
                "TLS verification is OFF for %s (the registry is marked insecure): anyone on the "
                "network path can read and change what is sent, credentials included",
                host,
            )
        self._verify: ssl.SSLContext | None = None
        if not plain_http:
            self._verify = (
                ssl_contexts.get(self.trust) if ssl_contexts else self.trust.ssl_context()
            )
        self.base_url = f"{'http' if plain_http else 'https'}://{host}"
        self.auth = RegistryAuth(credentials, self._token_http, self.base_url)
        self._http = self._client(auth=self.auth)
        self._token_client: httpx.Client | None = None  # made when a token is first needed

    def _token_http(self) -> httpx.Client:
        """The client for the token service (no registry auth on it); Basic registries never
        need one, so it is made on first use."""
        if self._token_client is None:
            self._token_client = self._client()
        return self._token_client

    def _client(self, auth: httpx.Auth | None = None) -> httpx.Client:
        # Imported here, as httpx imports httpcore: only when a client is made, which lets the
        # CLI keep httpcore from importing trio and anyio (see jupyter_regauth.__main__).
        from .transport import Transport

        return httpx.Client(
            base_url=self.base_url,
            verify=self._verify if self._verify is not None else True,
            transport=Transport(self._verify) if self._verify is not None else None,
            auth=auth,
            # Connecting (TCP and TLS) within 10 s, or the whole timeout when that is shorter.
            timeout=httpx.Timeout(self.timeout_seconds, connect=min(10.0, self.timeout_seconds)),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()
        if self._token_client is not None:
            self._token_client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient({self.host!r}, credentials={self.auth.credentials!r})"

    # -- transport ---------------------------------------------------------------------------

    def send(
        self, method: str, path: str, *, what: str = "", stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send one request; map transport and HTTP failures to specific errors.

        GET and HEAD requests are retried on 429 (honouring ``Retry-After``) and on 5xx."""
        what = what or f"{method} {path}"
        for attempt in range(RETRIES):
            with self._network_errors():
                request = self._http.build_request(method, path, **kwargs)
                response = self._http.send(request, stream=stream)
            retryable = method in ("GET", "HEAD") and attempt + 1 < RETRIES
            if response.status_code == 429:
                wait = _retry_after(response)
                if retryable and (wait or 1.0) <= MAX_RETRY_WAIT:
                    response.close()
                    time.sleep(wait or 1.0)
                    continue
            elif response.status_code >= 500 and retryable:
                response.close()
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code >= 400:
                if stream:
                    response.read()
                self._raise_for(response, what)
            return response
        raise AssertionError("unreachable")

    @contextmanager
    def _network_errors(self) -> Iterator[None]:
        """httpx's network failures, sending or reading a streamed body, as our errors."""
        try:
            yield
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise self._transport_error(exc) from None
        except httpx.TimeoutException as exc:
            raise RegistryUnreachable(
                f"{self.host} did not answer in time ({type(exc).__name__})",
                hint="check the network path to the registry, or retry later",
            ) from None

    def _transport_error(self, exc: httpx.HTTPError) -> RegistryError:
        tls = _ssl_error(exc)
        # What a TLS client reads when the server answers in plain HTTP; checked before the
        # TLS failure it also is, whose message would say nothing useful.
        if any(s in str(tls or exc) for s in ("WRONG_VERSION_NUMBER", "record layer failure")):
            return RegistryError.plain_http(self.host)
        if tls is not None:
            return explain_tls_failure(self.host, tls, client_cert=self.trust.client_cert)
        return RegistryUnreachable.connecting(self.host, exc)

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        errors = _registry_errors(response)
        detail = "; ".join(f"{code}: {message}" for code, message in errors)
        suffix = f": {detail}" if detail else ""
        if status == 401:
            challenge = self.auth.challenge
            if challenge and challenge.params.get("error") == "insufficient_scope":
                raise Forbidden(
                    f"{what} on {self.host}: the token does not grant {challenge.scope}",
                    hint="ask the registry admin for access to that repository",
                    status=401,
                )
            if self.auth.credentials.anonymous:
                raise AuthenticationFailed(
                    f"{what} on {self.host} needs authentication",
                    hint=f"log in to {self.host} first",
                    status=401,
                )
            raise AuthenticationFailed(
                f"{self.host} refused the credentials for {self.auth.credentials.username!r}",
                hint="check the username and password (or token) and log in again",
                status=401,
            )
        if status == 403:
            raise Forbidden(
                f"{what} on {self.host} is forbidden{suffix}",
                hint="the account lacks permission for this repository or action",
                status=403,
            )
        if status == 404:
            raise NotFound(
                f"{what} on {self.host}: not found{suffix}",
                hint=next((_NOT_FOUND_HINTS[c] for c, _ in errors if c in _NOT_FOUND_HINTS), None),
                status=404,
            )
        if status == 429:
            wait = _retry_after(response)
            raise RateLimited(
                f"{self.host} is rate limiting requests",
                retry_after=wait,
                hint=f"retry after {wait:.0f} s" if wait is not None else "retry later",
            )
        raise RegistryError(f"{what} on {self.host} failed with {status}{suffix}", status=status)

    # -- API ---------------------------------------------------------------------------------

    def ping(self, *, authenticate: bool = False) -> Ping:
        """``GET /v2/``: is this a registry, and which auth does it want? Learns the challenge.

        A 401 is an answer here (the registry wants auth), unless ``authenticate`` asks that the
        credentials be accepted."""
        try:
            response = self.send("GET", "/v2/")
            status = response.status_code
        except AuthenticationFailed:
            if authenticate or not self.auth.credentials.anonymous or not self.auth.challenge:
                raise
            status = 401
        challenge = self.auth.challenge
        return Ping(
            status,
            challenge.scheme if challenge else None,
            response.headers.get("docker-distribution-api-version") if status < 400 else None,
        )

    def check_login(self) -> Credentials:
        """Verify the credentials against the registry, as ``docker login`` does.

        Returns what to store: where the token service hands out a refresh token, that identity
        token replaces the password (the password is then not written anywhere)."""
        self.ping(authenticate=True)
        challenge = self.auth.challenge
        creds = self.auth.credentials
        if challenge is None:
            return creds
        if challenge.scheme == "bearer" and not creds.registry_token:
            token = self.auth.fetch_token(challenge, [], offline=True)
            if token.refresh_token and not creds.identity_token:
                return Credentials(username=creds.username, identity_token=token.refresh_token)
        return creds

    def _paginate(self, path: str, key: str, page_size: int | None) -> list[str]:
        items: list[str] = []
        params: dict[str, str | int] | None = {"n": page_size} if page_size else None
        url: str | None = path
        while url:
            response = self.send("GET", url, params=params)
            items.extend(response.json().get(key) or [])
            link = response.links.get("next", {}).get("url")
            url, params = resolve(response, link) if link else None, None
        return items

    def catalog(self, page_size: int | None = 100) -> list[str]:
        return self._paginate("/v2/_catalog", "repositories", page_size)

    def tags(self, repository: str, page_size: int | None = 100) -> list[str]:
        return self._paginate(f"/v2/{repository}/tags/list", "tags", page_size)

    def get_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = MANIFEST_TYPES
    ) -> Manifest:
        response = self.send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": ", ".join(accept)},
            what=f"manifest {repository}{'@' if ':' in reference else ':'}{reference}",
            stream=True,
        )
        try:
            data = self._read_manifest(response, f"{repository}:{reference}")
        finally:
            response.close()
        digest = sha256_digest(data)
        expected = reference if reference.startswith("sha256:") else None
        expected = expected or response.headers.get("docker-content-digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise DigestMismatch(
                f"manifest {repository}@{expected} from {self.host} hashes to {digest}"
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Manifest(data, media_type, digest)

    def _read_manifest(self, response: httpx.Response, what: str) -> bytes:
        """The body, refused once it is over MANIFEST_LIMIT: a manifest is held in memory."""
        declared = int(response.headers.get("content-length") or 0)
        data = bytearray()
        if declared <= MANIFEST_LIMIT:
            with self._network_errors():
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MANIFEST_LIMIT:
                        break
        if max(declared, len(data)) > MANIFEST_LIMIT:
            raise RegistryError(
                f"the manifest {what} from {self.host} is larger than {MANIFEST_LIMIT} bytes",
                hint="a manifest that large is not an image's; check the reference",
            )
        return bytes(data)

    def head_manifest(self, repository: str, reference: str) -> str | None:
        """The manifest's digest, or None when it does not exist."""
        try:
            response = self.send(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
        except NotFound:
            return None
        digest: str | None = response.headers.get("docker-content-digest")
        return digest

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """Upload a manifest under a tag or its digest; returns its digest, checked against what
        the registry computed."""
        digest = sha256_digest(data)
        response = self.send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
            what=f"manifest {repository}:{reference}",
        )
        returned = response.headers.get("docker-content-digest")
        if returned and returned != digest:
            raise DigestMismatch(f"the registry stored {returned} for manifest {digest}")
        return digest

    def head_blob(self, repository: str, digest: str) -> int | None:
        """The blob's size, or None when the repository does not have it."""
        try:
            response = self.send("HEAD", f"/v2/{repository}/blobs/{digest}")
        except NotFound:
            return None
        return int(response.headers.get("content-length", "0"))

    @contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[Iterator[bytes]]:
        """Stream a blob; the digest is checked as it is read and a mismatch raises at the end."""
        response = self.send(
            "GET", f"/v2/{repository}/blobs/{digest}", stream=True, what=f"blob {digest}"
        )
        algorithm, _, expected = digest.partition(":")

        def chunks() -> Iterator[bytes]:
            hasher = hashlib.new(algorithm)
            with self._network_errors():  # a cut stream can be resumed from where it broke
                for chunk in response.iter_bytes(1 << 20):
                    hasher.update(chunk)
                    yield chunk
            if hasher.hexdigest() != expected:
                raise DigestMismatch(f"blob from {self.host} does not hash to {digest}")

        try:
            yield chunks()
        finally:
            response.close()
