"""Registry authentication as an ``httpx.Auth``: Basic, and the bearer token flow.

The token flow follows distribution's "Token Authentication Specification": on a 401 with a
``Bearer`` challenge, ask the realm for a token for the request's scope (GET with Basic auth or
anonymously; OAuth2 POST with a refresh token when we hold an identity token), cache it per scope
until it expires, and retry. Once a registry's challenge is known, tokens are fetched before a
request is sent; a streamed request refused its token anyway (one that lapsed early) is not
replayed: the token is renewed and ``Reauthenticated`` tells the caller to send it again.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from ..credentials.types import Credentials
from .challenge import Challenge, parse_challenges
from .errors import AuthenticationFailed, Forbidden, Reauthenticated, RegistryError

CLIENT_ID = "jupyter-regauth"
EXPIRY_MARGIN = 10.0  # seconds before expiry at which a cached token is no longer used
DEFAULT_TOKEN_LIFETIME = 60  # distribution's spec: assume 60 s when expires_in is absent
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True)
class Token:
    """A bearer token and when it expires; its value is kept out of its repr."""

    value: str
    expires_at: float  # wall clock, seconds since the epoch
    refresh_token: str | None = None
    margin: float = EXPIRY_MARGIN  # less for a token that lives less than twice the margin

    def valid(self, now: float | None = None) -> bool:
        return (now or time.time()) < self.expires_at - self.margin

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at})"


def scopes_for(method: str, path: str, query: str = "") -> list[str]:
    """The scopes a registry request needs, derived from its method and path.

    ``/v2/<name>/(manifests|blobs|tags)/...`` needs ``pull`` on the repository, plus ``push`` for
    writes and ``delete`` for deletes; a cross-repository mount also needs ``pull`` on the source.
    """
    path = unquote(path)
    if path.startswith("/v2/_catalog"):
        return ["registry:catalog:*"]
    if not path.startswith("/v2/"):
        return []
    rest = path[len("/v2/") :]
    # The last marker ends the name: a repository may be called team/manifests/x or a/blobs,
    # and what follows the marker (a reference, a digest, uploads/<id>, list) holds none.
    end = max(rest.rfind(marker) for marker in ("/manifests/", "/blobs/", "/tags/"))
    if end <= 0:
        return []
    name = rest[:end]
    if method == "DELETE":
        actions = "delete"
    elif method in ("GET", "HEAD"):
        actions = "pull"
    else:
        actions = "pull,push"
    scopes = [f"repository:{name}:{actions}"]
    source = parse_qs(query).get("from")
    if source and source[0] != name:
        scopes.append(f"repository:{source[0]}:pull")
    return scopes


def _timestamp(value: object) -> float | None:
    """An RFC 3339 time as seconds since the epoch, or None. Go writes nanoseconds, and a "Z",
    which Python 3.10's ``fromisoformat`` does not read."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    date, clock, fraction, zone = match.groups()
    try:
        parsed = dt.datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError:  # a 13th month, say
        return None
    return parsed.timestamp() + float(f"0.{fraction or 0}")


def _seconds(value: object) -> float | None:
    """A positive, finite number of seconds (a JSON number, or a string of one), else None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and 0 < value < math.inf:
        return float(value)
    return None


def _life_left(body: dict[str, Any], now: float) -> float:
    """How long a token has left, from a token response (distribution's token spec):
    ``expires_in`` seconds (60 where it is absent) from ``issued_at`` where that is given,
    else from now."""
    lifetime = _seconds(body.get("expires_in")) or DEFAULT_TOKEN_LIFETIME
    issued = _timestamp(body.get("issued_at"))
    age = now - issued if issued is not None else 0.0
    # An issued_at later than now, or before the token's whole life (Go's zero time, clocks
    # apart by more than that), says nothing by our clock: the token is as good as new.
    return lifetime - age if 0 < age < lifetime else lifetime


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class RegistryAuth(httpx.Auth):
    """Authentication for one registry (at ``base_url``); thread-safe, so parallel uploads share
    its tokens."""

    def __init__(
        self,
        credentials: Credentials | None,
        token_client: Callable[[], httpx.Client],
        base_url: str,
    ) -> None:
        self.credentials = credentials or Credentials()
        url = httpx.URL(base_url)
        self._origin = _origin(url)
        self._host = url.netloc.decode()
        self._token_client = token_client
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._lock = threading.Lock()
        self.refresh_token: str | None = None  # an identity token the token service offered

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def token_expiry(self) -> float | None:
        with self._lock:
            return max((t.expires_at for t in self._tokens.values()), default=None)

    def _header(self, scopes: list[str], *, refused: list[str] | None = None) -> str | None:
        """The Authorization for a request needing ``scopes``. ``refused``: the scopes of a
        request the registry refused its token: a new one is fetched for ``scopes`` (those and
        what the challenge asked for) and replaces the refused one for ``refused`` too."""
        challenge = self._challenge
        creds = self.credentials
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return None if creds.anonymous else _basic(creds.username, creds.password)
        if challenge.scheme != "bearer":
            return None
        if creds.registry_token:
            return f"Bearer {creds.registry_token}"
        prefix = (challenge.realm or "", challenge.service or "")
        key = (*prefix, *sorted(scopes))
        with self._lock:
            token = self._tokens.get(key)
            if token is None or refused is not None or not token.valid():
                token = self.fetch_token(challenge, scopes)
                self._tokens[key] = token
                if refused is not None:  # else the next such request is sent it again
                    self._tokens[(*prefix, *sorted(refused))] = token
        return f"Bearer {token.value}"

    def fetch_token(
        self, challenge: Challenge, scopes: list[str], *, offline: bool = False
    ) -> Token:
        realm = challenge.realm
        if not realm:
            raise RegistryError("the registry's Bearer challenge names no token realm")
        creds = self.credentials
        if (
            not creds.anonymous
            and self._origin[0] == "https"
            and httpx.URL(realm).scheme != "https"
        ):
            raise RegistryError(
                f"the registry sends logins to a token service on plain HTTP ({realm}), where "
                "the credentials would cross the network unencrypted",
                hint="ask the registry admin to serve the token realm over HTTPS",
            )
        client = self._token_client()
        service = challenge.service or ""
        try:
            if creds.identity_token:
                response = client.post(
                    realm,
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": creds.identity_token,
                        "service": service,
                        "scope": " ".join(scopes),
                        "client_id": CLIENT_ID,
                        "access_type": "offline" if offline else "online",
                    },
                )
            else:
                # As docker: the realm's own query is kept (httpx would replace it), and an
                # empty service is left out rather than sent as "service=".
                params: list[tuple[str, str | int | float | bool | None]] = []
                params += httpx.URL(realm).params.multi_items()
                params += [("service", service)] if service else []
                params += [("scope", s) for s in scopes]
                headers = {}
                if creds.username:
                    params.append(("account", creds.username))
                    headers["Authorization"] = _basic(creds.username, creds.password)
                if offline:
                    params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
                response = client.get(realm, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"cannot reach the token service {realm}: {type(exc).__name__}",
                hint="check that the registry's token realm is reachable from here",
            ) from exc
        if response.status_code == 401:
            raise AuthenticationFailed(
                f"the token service for {service or realm} refused the credentials",
                hint="check the username and password (or token) and log in again",
                status=401,
            )
        if response.status_code == 403:
            raise Forbidden(
                f"the token service for {service or realm} denied {', '.join(scopes) or 'access'}",
                status=403,
            )
        if response.status_code != 200:
            raise RegistryError(
                f"the token service {realm} answered {response.status_code}",
                status=response.status_code,
            )
        try:
            body = response.json()
            value = body.get("access_token") or body.get("token")  # docker's and ggcr's order
        except (ValueError, AttributeError):
            value = None
        if not value or not isinstance(value, str):
            raise RegistryError(
                f"the token service {realm} sent no token",
                hint="the registry's token service is misconfigured: tell the registry admin",
            )
        refresh = body.get("refresh_token")
        if refresh:
            self.refresh_token = refresh
        now = time.time()
        left = _life_left(body, now)
        # A token that lives only seconds is still reused for half its life, not fetched anew
        # for every request.
        return Token(value, now + left, refresh, min(EXPIRY_MARGIN, left / 2))

    def learn(self, response: httpx.Response) -> Challenge | None:
        """Remember the challenge of a 401 (Bearer preferred over Basic, as docker does)."""
        challenges = parse_challenges(response.headers.get("www-authenticate", ""))
        for scheme in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == scheme:
                    self._challenge = challenge
                    return challenge
        return None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) != self._origin:
            # A Location or link on another host (a storage front end): the credentials and
            # tokens are this registry's, so nothing is sent there and its 401 teaches nothing.
            yield request
            return
        asked = scopes_for(request.method, request.url.path, request.url.query.decode())
        header = self._header(asked)
        if header:
            request.headers["Authorization"] = header
        response = yield request
        if response.status_code != 401:
            return
        challenge = self.learn(response)
        if challenge is None or (challenge.scheme == "basic" and self.credentials.anonymous):
            return
        scopes = asked
        if challenge.scheme == "bearer" and challenge.scope:
            scopes = sorted(set(asked) | set(challenge.scope.split()))
        if header and challenge.params.get("error") == "insufficient_scope":
            return  # a fresh token would grant no more; the client reports it
        retry = self._header(scopes, refused=asked)
        if not retry or retry == header:
            return  # nothing new to send (refused credentials): the client reports the 401
        if not isinstance(request.stream, httpx.ByteStream):
            # The body was streamed and is spent: the new token waits in the cache.
            raise Reauthenticated(
                f"{self._host} refused the token for {request.method} {request.url.path}, "
                "whose streamed body cannot be sent twice; a new token was fetched",
                hint="send the request again",
                status=401,
            )
        request.headers["Authorization"] = retry
        response = yield request
        if response.status_code == 401:
            # Its challenge says why the new token was refused too (insufficient_scope: the
            # token grants less than asked), which the client's error then names.
            self.learn(response)
