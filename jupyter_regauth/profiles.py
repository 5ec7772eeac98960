"""Registry profiles: the registries a user can pick, from the admin's list or added by the user.

Admins define profiles in the server's traitlets config (``RegistryProfiles.registries``) or in a
JSON/YAML file (``RegistryProfiles.registries_file`` or ``$REGAUTH_REGISTRIES_FILE``, e.g. a
mounted ConfigMap). Users add their own, kept in
``$XDG_CONFIG_HOME/jupyter-regauth/registries.json``. An admin profile wins over a user's for the
same host and cannot be removed by the user.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .credentials import hosts as credential_hosts
from .errors import ConfigError, yaml_problem
from .fileio import atomic_write, locked
from .reference import InvalidReference, check_host
from .registry.trust import TrustConfig

AuthKind = Literal["auto", "basic", "token"]
Source = Literal["admin", "user"]
AUTH_KINDS = ("auto", "basic", "token")


def normalize_host(host: str) -> str:
    """``https://Registry.example:5000/v2/`` -> ``registry.example:5000``; Docker Hub's aliases ->
    ``docker.io`` (docker's rules, lower-cased). Validated as ``host[:port]`` (an IPv6 address in
    brackets, which a bare one gets back): anything else is a ``ConfigError`` naming the problem.

    A repository path (``registry:5000/team``) is such an error, not dropped: credentials, trust
    and profiles are kept per registry host, so a login or default meant for one repository
    would silently apply to every repository there. A URL may end in the API root (``/v2/``, or
    ``/v1/`` of docker's key for Docker Hub), as the keys old docker versions wrote do.
    """
    text = credential_hosts.normalize_host(host)
    hint = "give host or host:port, e.g. registry:5000"
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"{host!r} is not a registry host", hint=hint)
    scheme, sep, rest = host.strip().partition("://")
    if sep and not rest.strip("/"):
        raise ConfigError(f"{host!r} has no registry host after {scheme}://", hint=hint)
    if text.count(":") > 1 and not text.startswith("["):
        with contextlib.suppress(ValueError):
            text = f"[{ipaddress.IPv6Address(text)}]"
    try:
        check_host(text)
    except InvalidReference as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
    path = (rest if sep else host.strip()).partition("/")[2].strip("/")
    if path and not (sep and path in ("v1", "v2")):
        raise ConfigError(
            f"{host.strip()!r} is a registry host with a repository path ({path}): "
            "a registry is named by its host alone",
            hint=f"give the registry host only (HOST[:PORT]), here {text}; a login, its trust "
            "and its profile apply to every repository on it",
        )
    return text


#: ``mirror_of`` entries that stand for every upstream (containerd's ``_default``).
EVERY_UPSTREAM = ("*", "_default")


@dataclass(frozen=True)
class RegistryProfile:
    """A registry users can pick: its address, how to trust it and how to log in to it."""

    host: str
    display_name: str = ""
    description: str = ""
    ca_file: str | None = None
    ca_pem: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    auth: AuthKind = "auto"
    insecure: bool = False
    mirror_of: tuple[str, ...] = ()
    username: str | None = None
    source: Source = field(default="user", compare=False)

    @property
    def name(self) -> str:
        return self.display_name or self.host

    @classmethod
    def from_dict(cls, data: object, *, source: Source) -> RegistryProfile:
        if not isinstance(data, dict):
            raise ConfigError(f"a registry profile must be a mapping, not {type(data).__name__}")
        known = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown registry profile field(s): {', '.join(unknown)}",
                hint=f"known fields: {', '.join(sorted(known))}",
            )
        if "host" not in data:
            raise ConfigError("a registry profile needs a host")
        values: dict[str, Any] = dict(data)
        values["host"] = normalize_host(str(values["host"]))
        if values.get("auth", "auto") not in AUTH_KINDS:
            raise ConfigError(
                f"registry {values['host']}: auth must be one of {', '.join(AUTH_KINDS)}"
            )
        if not isinstance(values.get("insecure", False), bool):
            # A string such as "false" is true in Python: it would turn TLS checks off.
            raise ConfigError(
                f"registry {values['host']}: insecure must be true or false, "
                f"not {values['insecure']!r}",
                hint="write insecure: true (or leave it out)",
            )
        mirror_of = values.get("mirror_of") or ()
        values["mirror_of"] = tuple(
            m if m in EVERY_UPSTREAM else normalize_host(m)
            for m in ([mirror_of] if isinstance(mirror_of, str) else mirror_of)
        )
        if bool(values.get("client_cert")) != bool(values.get("client_key")):
            raise ConfigError(f"registry {values['host']}: client_cert and client_key go together")
        return cls(**values, source=source)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mirror_of"] = list(self.mirror_of)
        return {k: v for k, v in data.items() if v not in (None, "", [], False) or k == "host"}

    def trust(self, roots: list[Path] | None = None) -> TrustConfig:
        ca = self.ca_pem.encode() if self.ca_pem else b""
        if self.ca_file:
            try:
                ca += b"\n" + Path(self.ca_file).expanduser().read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"registry {self.host}: cannot read CA file {self.ca_file}: {exc.strerror}"
                ) from exc
        return TrustConfig.for_host(
            self.host,
            ca_pem=ca,
            client_cert=Path(self.client_cert).expanduser() if self.client_cert else None,
            client_key=Path(self.client_key).expanduser() if self.client_key else None,
            insecure=self.insecure,
            roots=roots,
        )


def default_user_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "jupyter-regauth" / "registries.json"


_ADMIN_CONFIG = "RegistryProfiles.registries"
_FIX_FILE = "fix it, or move it away: it only lists the registries offered here"


def _load_file(path: Path, *, named: bool = False) -> list[object]:
    """The profiles in ``path``; none when it does not exist, unless it was ``named`` (an
    admin's file: missing, it is a mistake to report, not an empty list)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if not named:
            return []
        raise ConfigError(
            f"the registries file {path} does not exist",
            hint="check RegistryProfiles.registries_file or $REGAUTH_REGISTRIES_FILE",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only admin files in YAML need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"{path} is not valid YAML: {yaml_problem(exc)}", hint=_FIX_FILE
            ) from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                hint=_FIX_FILE,
            ) from None
    if isinstance(data, dict):
        unknown = sorted(map(str, set(data) - {"registries"}))
        if unknown:
            raise ConfigError(
                f"{path}: unknown key(s) {', '.join(unknown)}",
                hint="the file holds registries: [...] (or a list of registries)",
            )
        data = data.get("registries", [])
    if not isinstance(data, list):
        raise ConfigError(
            f"{path} must hold a list of registries (or {{registries: [...]}})", hint=_FIX_FILE
        )
    return data


# The valid profiles of a source, and each invalid entry (as written) with what is wrong.
_Read = tuple[list[RegistryProfile], list[tuple[object, ConfigError]]]


def _profiles(entries: Iterable[object], source: Source, where: str) -> _Read:
    good: list[RegistryProfile] = []
    bad: list[tuple[object, ConfigError]] = []
    for item in entries:
        try:
            good.append(RegistryProfile.from_dict(item, source=source))
        except ConfigError as exc:
            error = ConfigError(
                f"a registry in {where} is invalid: {exc.message}",
                hint=exc.hint or f"fix or remove it in {where}",
            )
            bad.append((item, error))
    return good, bad


class ProfileStore:
    """The registries offered to the user: the admin's (``registries``, and those in
    ``registries_file``, by default ``$REGAUTH_REGISTRIES_FILE``) and the user's own.

    A plain object, so the command line does not load traitlets; the server extension fills it
    from its ``RegistryProfiles`` configuration."""

    def __init__(
        self,
        registries: Iterable[Mapping[str, Any]] = (),
        registries_file: str | None = None,
        user_file: str = "",
    ) -> None:
        self.registries = list(registries)
        if registries_file is None:
            registries_file = os.environ.get("REGAUTH_REGISTRIES_FILE", "")
        self.registries_file = registries_file
        self.user_file = user_file

    @property
    def user_path(self) -> Path:
        return Path(self.user_file).expanduser() if self.user_file else default_user_file()

    def admin(self) -> list[RegistryProfile]:
        """The administrator's valid profiles; an invalid one is left out (see
        ``admin_problems``)."""
        return self._read_admin()[0]

    def admin_problems(self) -> list[tuple[str, ConfigError]]:
        """Each of the administrator's entries that is not a valid profile, as (its host as
        written, what is wrong and where): one mistake there must not hide every registry."""
        return [(_written_host(raw), error) for raw, error in self._read_admin()[1]]

    def user(self) -> list[RegistryProfile]:
        """The user's valid profiles; an invalid entry is left out (see ``user_problems``)."""
        return self._read_user()[0]

    def user_problems(self) -> list[tuple[str, ConfigError]]:
        """Each entry of the user's file that is not a valid profile, as (its host as written,
        what is wrong), so one bad entry cannot hide the others."""
        return [(_written_host(raw), error) for raw, error in self._read_user()[1]]

    def _read_admin(self) -> _Read:
        good, bad = _profiles(self.registries, "admin", _ADMIN_CONFIG)
        if self.registries_file:
            path = Path(self.registries_file).expanduser()
            more, worse = _profiles(_load_file(path, named=True), "admin", str(path))
            good, bad = good + more, bad + worse
        return good, bad

    def _read_user(self) -> _Read:
        return _profiles(_load_file(self.user_path), "user", str(self.user_path))

    def all(self) -> list[RegistryProfile]:
        merged: dict[str, RegistryProfile] = {p.host: p for p in self.user()}
        merged.update({p.host: p for p in self.admin()})
        return sorted(merged.values(), key=lambda p: (p.source != "admin", p.host))

    def get(self, host: str) -> RegistryProfile | None:
        host = normalize_host(host)
        return next((p for p in self.all() if p.host == host), None)

    def save_user(self, profile: RegistryProfile) -> RegistryProfile:
        """Add or replace a user profile (an admin profile for the host stays in force)."""
        with self.user_saved(profile) as saved:
            return saved

    @contextlib.contextmanager
    def user_saved(self, profile: RegistryProfile) -> Iterator[RegistryProfile]:
        """:meth:`save_user` for a step that can still fail after it (storing a login's
        credentials): when the body raises, the user's profile for the host is put back as it
        was (or removed, with the file if the save made it); other entries, written meanwhile
        or not, stay."""
        profile = replace(profile, source="user")
        with self._writing():
            existed = self.user_path.exists()
            before, bad = self._read_user()
            place = next((i for i, p in enumerate(before) if p.host == profile.host), None)
            kept = [p for p in before if p.host != profile.host]
            self._write([*kept, profile], [raw for raw, _ in bad])
        try:
            yield profile
        except BaseException:
            with self._writing():
                profiles, bad = self._read_user()
                kept = [p for p in profiles if p.host != profile.host]
                if place is not None:
                    kept.insert(min(place, len(kept)), before[place])
                if kept or bad or existed:
                    self._write(kept, [raw for raw, _ in bad])
                else:
                    self.user_path.unlink(missing_ok=True)
            raise

    def remove_user(self, host: str) -> bool:
        """Remove the user's profile for ``host``. An invalid entry goes by its host as written
        (as ``user_problems`` names it), so it can be removed without editing the file."""
        try:
            normal = normalize_host(host)
        except ConfigError:
            if not any(text == host for text, _ in self.user_problems()):
                raise
            normal = None
        if normal and any(p.host == normal for p in self.admin()):
            raise ConfigError(
                f"{normal} is defined by the administrator and cannot be removed",
                hint=f"log out of {normal} instead",
            )

        def named(raw: object) -> bool:
            text = _written_host(raw)
            if text == host:
                return True
            try:
                return normalize_host(text) == normal
            except ConfigError:
                return False

        with self._writing():
            profiles, bad = self._read_user()
            kept = [p for p in profiles if p.host != normal]
            kept_bad = [raw for raw, _ in bad if not named(raw)]
            if len(kept) == len(profiles) and len(kept_bad) == len(bad):
                return False
            self._write(kept, kept_bad)
        return True

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The user's file locked for a change; a file that cannot be written is named."""
        try:
            with locked(self.user_path):
                yield
        except OSError as exc:
            raise ConfigError(
                f"cannot save the registries in {self.user_path}: {exc.strerror}",
                hint=f"check that {self.user_path.parent} and the files in it are writable",
            ) from None

    def _write(self, profiles: list[RegistryProfile], invalid: list[object]) -> None:
        """The profiles, and the ``invalid`` entries kept as they were for the user to fix."""
        entries: list[object] = []
        for profile in profiles:
            item = profile.to_dict()
            item.pop("source", None)
            entries.append(item)
        data = {"registries": [*entries, *invalid]}
        atomic_write(self.user_path, json.dumps(data, indent=2).encode() + b"\n")


def _written_host(entry: object) -> str:
    host = entry.get("host") if isinstance(entry, dict) else None
    return host if isinstance(host, str) else ""
