"""Docker's ``config.json``: credentials read and written exactly where and how docker/cli does.

Lookup order for a host (docker/cli's ``GetAuthConfig`` first, then the containers auth file):

1. ``DOCKER_AUTH_CONFIG`` (a JSON ``{"auths": ...}`` in the environment), as docker/cli >= 28.
2. ``credHelpers[host]``, else ``credsStore``: the helper answers alone, as in docker (an entry in
   ``auths`` is then only a placeholder).
3. ``auths``: the exact key, else the first key whose host part is the host (legacy keys such as
   ``https://registry:5000/v2/``).
4. The containers auth files: ``REGISTRY_AUTH_FILE``, else ``$XDG_RUNTIME_DIR/containers/auth.json``
   then ``$XDG_CONFIG_HOME/containers/auth.json``; the first file holding credentials answers.

containers-auth.json(5) lets a key name a namespace or repository and says the most specific
key wins; docker has no such keys. So an auth-file entry for ``host/namespace`` that matches the
looked-up repository wins over docker's host-wide entry, while for a plain host docker's file wins:
it is the one ``login`` writes, so a fresh login is never shadowed by an older podman one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import CredentialHelperError
from .authfile import Match, default_auth_files
from .authfile import erase as auth_file_erase
from .authfile import hosts as auth_file_hosts
from .authfile import lookup as auth_file_lookup
from .entries import check_storable, decode_entry, encode_entry
from .errors import ConfigFileError, InvalidCredentialsError
from .helpers import HelperClient
from .hosts import auth_key, normalize_host
from .jsonfile import JSONObject, parse_object, read_object, update
from .types import Credentials

log = logging.getLogger(__name__)
CONFIG_FILENAME = "config.json"
_ENV = Path("$DOCKER_AUTH_CONFIG")  # names the source in error messages


def default_directory() -> Path:
    """``$DOCKER_CONFIG``, else ``~/.docker``."""
    configured = os.environ.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path.home() / ".docker"


class DockerConfig:
    """Credentials in ``<directory>/config.json``, its credential helpers and the auth file.

    Nothing is cached: every call reads the files again, so changes by docker, podman or another
    process are seen at once. ``auth_file`` replaces the containers auth files the environment
    names (``authfile.default_auth_files``) with that one file.
    """

    def __init__(self, directory: Path | None = None, *, auth_file: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_directory()
        self.path = self.directory / CONFIG_FILENAME
        self.auth_files = [Path(auth_file)] if auth_file is not None else default_auth_files()

    def __repr__(self) -> str:
        return f"DockerConfig({str(self.directory)!r})"

    def get(self, host: str) -> Credentials | None:
        """Credentials for ``host`` (or ``host/repository`` for namespaced auth-file entries)."""
        host = _require_host(host)
        key = auth_key(host)
        from_auth_file = self._from_auth_files(host)
        if from_auth_file and from_auth_file.namespaced:
            return from_auth_file.credentials
        found = self._from_env(key) or self._from_docker(key)
        if found is None and from_auth_file is not None:
            return from_auth_file.credentials
        return found

    def store(self, host: str, creds: Credentials) -> None:
        """Save ``creds`` for ``host`` as ``docker login`` does (helper if one applies)."""
        key = auth_key(_require_host(host))
        check_storable(creds)

        def change(data: JSONObject) -> bool:
            auths = _auths(self.path, data, create=True)
            helper = _helper_for(self.path, data, key)
            if helper is None:
                entry = encode_entry(creds)
            else:
                if creds.password or creds.identity_token:
                    helper.store(key, creds)
                # Like docker: the file keeps an empty placeholder (and a registry token,
                # which helpers cannot hold), replacing any plain-text entry.
                entry = encode_entry(Credentials(registry_token=creds.registry_token))
            if auths.get(key) == entry and not _readable_by_others(self.path):
                return False
            auths[key] = entry  # written again, 0600, where others could read the file
            return True

        update(self.path, change)

    def check(self, host: str) -> None:
        """Raise now what ``store`` would raise for the file as it is (malformed JSON, a bad
        ``credsStore``), so a login fails before it has written anything else."""
        data = read_object(self.path)
        _auths(self.path, data, create=False)
        _helper_for(self.path, data, auth_key(_require_host(host)))

    def erase(self, host: str) -> bool:
        """Remove ``host``'s credentials as ``docker logout`` does; False if there were none.

        The helper (if one applies) erases its entry; from ``auths`` every key ``get`` finds for
        the host goes: the canonical key and any legacy spelling (``https://host/v2/``, a Hub
        alias). docker/cli tries only ``host``, ``http://host`` and ``https://host``, so another
        spelling outlives its logout and is still used. ``credHelpers`` and other keys stay.
        The host's entries in the containers auth files ``get`` reads go too, as ``podman
        logout`` removes them: kept, they would go on answering for the host. Entries for a
        namespace (``host/team``) stay.
        """
        key = auth_key(_require_host(host))
        erased = False

        def change(data: JSONObject) -> bool:
            nonlocal erased
            auths = _auths(self.path, data, create=False)
            helper = _helper_for(self.path, data, key)
            if helper is not None:
                erased = helper.erase(key)
            present = _keys_for(auths, key)
            for k in present:
                erased = _held_credentials(self.path, k, auths[k]) or erased
                del auths[k]
            return bool(present)

        if self.path.exists() or self.path.is_symlink():
            update(self.path, change)
        for auth_file in self._other_auth_files():
            if auth_file.exists():
                erased = auth_file_erase(auth_file, key) or erased
        return erased

    def hosts(self) -> list[str]:
        """Every host something holds credentials for, normalized (``docker.io`` for the Hub)."""
        data = read_object(self.path)
        store, helpers = _helper_names(self.path, data)
        found = [k for k, e in _env_auths().items() if _credentials_in(_ENV, k, e) is not None]
        if store:
            found += HelperClient(store).list()
        else:
            auths = _auths(self.path, data, create=False)
            # One that does not decode is listed: its row says what is wrong with it.
            found += [k for k, e in auths.items() if _held_credentials(self.path, k, e)]
        for key in helpers:
            try:
                if self._from_docker(auth_key(key)) is not None:
                    found.append(key)
            except CredentialHelperError as exc:  # as docker: one broken helper hides no other
                log.warning("skipping %s: %s", key, exc)
        for auth_file in self._other_auth_files():
            found += auth_file_hosts(auth_file)
        return sorted({normalize_host(h) for h in found})

    def _other_auth_files(self) -> list[Path]:
        """The auth files that are not this config.json (Kaptain points both at one file)."""
        return [f for f in self.auth_files if not _same_file(f, self.path)]

    def _from_auth_files(self, name: str) -> Match | None:
        """As containers/image: the first file with an entry for ``name`` answers."""
        for auth_file in self._other_auth_files():
            found = auth_file_lookup(auth_file, name)
            if found is not None:
                return found
        return None

    def _from_docker(self, key: str) -> Credentials | None:
        data = read_object(self.path)
        auths = _auths(self.path, data, create=False)
        helper = _helper_for(self.path, data, key)
        if helper is not None:
            return helper.get(key)
        keys = _keys_for(auths, key)
        return _credentials_in(self.path, keys[0], auths[keys[0]]) if keys else None

    def _from_env(self, key: str) -> Credentials | None:
        host = normalize_host(key)
        for other, entry in _env_auths().items():
            if other == key or normalize_host(other) == host:
                return _credentials_in(_ENV, other, entry)
        return None


def credentials_for(host: str, *, docker_config: DockerConfig | None = None) -> Credentials | None:
    """The credentials docker (then podman/skopeo) would use for ``host``; None if anonymous."""
    return (docker_config or DockerConfig()).get(host)


def _env_auths() -> dict[str, Any]:
    """``DOCKER_AUTH_CONFIG``'s ``auths``; docker/cli ignores it with a warning when malformed."""
    raw = os.environ.get("DOCKER_AUTH_CONFIG")
    if not raw:
        return {}
    try:
        auths = _auths(_ENV, parse_object(_ENV, raw.encode()), create=False)
        for key, entry in auths.items():
            decode_entry(entry, path=_ENV, key=key)  # fail early, like docker's parse
    except ConfigFileError as exc:
        log.warning("ignoring DOCKER_AUTH_CONFIG: %s", exc.message)
        return {}
    return auths


def _credentials_in(path: Path, key: str, entry: object) -> Credentials | None:
    creds = decode_entry(entry, path=path, key=key)
    return None if creds.anonymous else creds


def _keys_for(auths: JSONObject, key: str) -> list[str]:
    """The ``auths`` keys for the host of ``key``: ``key`` itself first, then the spellings
    whose host part is that host (legacy keys such as ``https://registry:5000/v2/``)."""
    host = normalize_host(key)
    others = [k for k in auths if k != key and normalize_host(k) == host]
    return [key, *others] if key in auths else others


def _held_credentials(path: Path, key: str, entry: object) -> bool:
    """Whether an entry logout removes held credentials: a placeholder left by a helper store
    did not, one that does not decode did (logout is how the user gets rid of it)."""
    try:
        return _credentials_in(path, key, entry) is not None
    except ConfigFileError:
        return True


def _require_host(host: str) -> str:
    if not normalize_host(host):
        raise InvalidCredentialsError(
            f"{host!r} is not a registry host", hint="give a host such as registry.example.com:5000"
        )
    return host


def _auths(path: Path, data: JSONObject, *, create: bool) -> dict[str, Any]:
    auths = data.get("auths")
    if auths is None:
        auths = {}
        if create:
            data["auths"] = auths
    if not isinstance(auths, dict):
        raise ConfigFileError(
            path, '"auths" is not a JSON object', hint='it must map hosts to entries: {"auths": {}}'
        )
    return auths


def _helper_names(path: Path, data: JSONObject) -> tuple[str, dict[str, str]]:
    """``credsStore`` and ``credHelpers``, type-checked."""
    store = data.get("credsStore") or ""
    helpers = data.get("credHelpers") or {}
    if not isinstance(store, str):
        raise ConfigFileError(
            path, '"credsStore" is not a string', hint='e.g. "credsStore": "pass"'
        )
    if not isinstance(helpers, dict) or not all(isinstance(v, str) for v in helpers.values()):
        raise ConfigFileError(
            path,
            '"credHelpers" is not an object of strings',
            hint='e.g. "credHelpers": {"registry.example.com": "pass"}',
        )
    return store, helpers


def _helper_for(path: Path, data: JSONObject, key: str) -> HelperClient | None:
    """The helper docker uses for ``key``: ``credHelpers`` (exact key, else same host) over
    ``credsStore``."""
    store, helpers = _helper_names(path, data)
    name = helpers.get(key)
    if name is None:
        host = normalize_host(key)
        name = next((v for k, v in helpers.items() if normalize_host(k) == host), None)
    # As docker: a host listed in credHelpers never falls back to credsStore, even with "".
    name = store if name is None else name
    return HelperClient(name) if name else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _readable_by_others(path: Path) -> bool:
    """Whether the group or others may read ``path``: a config.json holding credentials must not
    be, and a login rewrites it 0600 as docker login does."""
    try:
        return bool(path.stat().st_mode & 0o044)
    except OSError:
        return False
