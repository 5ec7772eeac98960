"""Lookups in a containers-auth.json(5) file (podman, skopeo, buildah): ``REGISTRY_AUTH_FILE``.

Keys are a host (``quay.io``) or a host with a namespace or repository (``quay.io/team/app``);
the most specific key matching the repository wins. Legacy keys with a scheme are reduced to their
host, as containers/image does. Only ``auths`` is read: credential helpers are docker's side.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .entries import decode_entry
from .errors import ConfigFileError
from .hosts import normalize_host
from .jsonfile import read_object
from .types import Credentials


@dataclass(frozen=True)
class Match:
    key: str
    credentials: Credentials

    @property
    def namespaced(self) -> bool:
        """True when the key names a namespace or repository, not only the host."""
        return "/" in self.key


def default_auth_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$REGISTRY_AUTH_FILE``, else ``$XDG_RUNTIME_DIR/containers/auth.json`` (its default)."""
    env = os.environ if environ is None else environ
    if env.get("REGISTRY_AUTH_FILE"):
        return Path(env["REGISTRY_AUTH_FILE"])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"], "containers", "auth.json")
    return None


def normalize_key(key: str) -> str:
    """``host[/namespace...]`` with the host normalized; scheme keys keep only their host."""
    if "://" in key:
        return normalize_host(key)
    host, slash, path = key.partition("/")
    return (
        normalize_host(host) + slash + path.strip("/") if path.strip("/") else normalize_host(host)
    )


def lookup(path: Path, name: str) -> Match | None:
    """The most specific entry for ``name`` (a host or ``host/repository``), if any."""
    auths = _auths(path)
    if not auths:
        return None
    by_key: dict[str, tuple[str, object]] = {}
    for key, entry in auths.items():
        by_key.setdefault(normalize_key(key), (key, entry))
    candidate = normalize_key(name)
    while True:
        if candidate in by_key:
            original, entry = by_key[candidate]
            creds = decode_entry(entry, path=path, key=original)
            if not creds.anonymous:
                return Match(candidate, creds)
        if "/" not in candidate:
            return None
        candidate = candidate.rsplit("/", 1)[0]


def hosts(path: Path) -> list[str]:
    """Hosts with a host-level entry holding credentials."""
    found = []
    for key, entry in _auths(path).items():
        normalized = normalize_key(key)
        if "/" not in normalized and not decode_entry(entry, path=path, key=key).anonymous:
            found.append(normalized)
    return found


def _auths(path: Path) -> dict[str, object]:
    auths = read_object(path).get("auths", {})
    if auths is None:
        return {}
    if not isinstance(auths, dict):
        raise ConfigFileError(path, '"auths" is not a JSON object', hint="it must look like {}")
    return auths
