"""Lookups in containers-auth.json(5) files (podman, skopeo, buildah): ``REGISTRY_AUTH_FILE``.

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
from .jsonfile import JSONObject, read_object, update
from .types import Credentials


@dataclass(frozen=True)
class Match:
    """The credentials an auth file holds for a registry, and the key they are under."""

    key: str
    credentials: Credentials

    @property
    def namespaced(self) -> bool:
        """True when the key names a namespace or repository, not only the host."""
        return "/" in self.key


def default_auth_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The auth files podman and skopeo read, in their order (containers-auth.json(5)).

    ``$REGISTRY_AUTH_FILE`` alone when set (an explicit file replaces the defaults); else the
    primary file, ``$XDG_RUNTIME_DIR/containers/auth.json`` (``/run/containers/<uid>/auth.json``
    without ``XDG_RUNTIME_DIR``), then ``$XDG_CONFIG_HOME/containers/auth.json``.
    """
    env = os.environ if environ is None else environ
    if env.get("REGISTRY_AUTH_FILE"):
        return [Path(env["REGISTRY_AUTH_FILE"])]
    runtime = env.get("XDG_RUNTIME_DIR")
    primary = Path(runtime, "containers") if runtime else Path("/run/containers", str(os.getuid()))
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [primary / "auth.json", Path(config_home, "containers", "auth.json")]


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


def erase(path: Path, host: str) -> bool:
    """Remove ``host``'s host-level entries (every spelling); True if one held credentials."""
    host = normalize_host(host)
    held = False

    def change(data: JSONObject) -> bool:
        nonlocal held
        auths = data.get("auths")
        if not isinstance(auths, dict):
            return False
        present = [k for k in auths if normalize_key(k) == host]
        for key in present:
            entry = auths.pop(key)
            try:
                held = not decode_entry(entry, path=path, key=key).anonymous or held
            except ConfigFileError:  # one that does not decode held some (logout drops it)
                held = True
        return bool(present)

    update(path, change)
    return held


def _auths(path: Path) -> dict[str, object]:
    auths = read_object(path).get("auths", {})
    if auths is None:
        return {}
    if not isinstance(auths, dict):
        raise ConfigFileError(path, '"auths" is not a JSON object', hint="it must look like {}")
    return auths
