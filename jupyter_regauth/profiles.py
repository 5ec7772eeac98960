"""Registry profiles: the registries a user can pick, from the admin's list or added by the user.

Admins define profiles in the server's traitlets config (``RegistryProfiles.registries``) or in a
JSON/YAML file (``RegistryProfiles.registries_file`` or ``$REGAUTH_REGISTRIES_FILE``, e.g. a
mounted ConfigMap). Users add their own, kept in
``$XDG_CONFIG_HOME/jupyter-regauth/registries.json``. An admin profile wins over a user's for the
same host and cannot be removed by the user.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .credentials import hosts as credential_hosts
from .errors import ConfigError
from .fileio import atomic_write, locked
from .registry.trust import TrustConfig

AuthKind = Literal["auto", "basic", "token"]
AUTH_KINDS = ("auto", "basic", "token")


def normalize_host(host: str) -> str:
    """``https://Registry.example:5000/v2/`` -> ``registry.example:5000``; Docker Hub's aliases ->
    ``docker.io`` (docker's rules, lower-cased)."""
    text = credential_hosts.normalize_host(host).lower()
    if not text or any(c.isspace() for c in text):
        raise ConfigError(
            f"{host!r} is not a registry host", hint="give host or host:port, e.g. registry:5000"
        )
    return text


@dataclass(frozen=True)
class RegistryProfile:
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
    source: Literal["admin", "user"] = field(default="user", compare=False)

    @property
    def name(self) -> str:
        return self.display_name or self.host

    @classmethod
    def from_dict(cls, data: object, *, source: Literal["admin", "user"]) -> RegistryProfile:
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
        mirror_of = values.get("mirror_of") or ()
        values["mirror_of"] = tuple(
            normalize_host(m) for m in ([mirror_of] if isinstance(mirror_of, str) else mirror_of)
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


def _load_file(path: Path) -> list[object]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only admin files in YAML need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    if isinstance(data, dict):
        data = data.get("registries", [])
    if not isinstance(data, list):
        raise ConfigError(f"{path} must hold a list of registries (or {{registries: [...]}})")
    return data


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
        raw: list[object] = list(self.registries)
        if self.registries_file:
            raw += _load_file(Path(self.registries_file).expanduser())
        return [RegistryProfile.from_dict(item, source="admin") for item in raw]

    def user(self) -> list[RegistryProfile]:
        return [RegistryProfile.from_dict(i, source="user") for i in _load_file(self.user_path)]

    def all(self) -> list[RegistryProfile]:
        merged: dict[str, RegistryProfile] = {p.host: p for p in self.user()}
        merged.update({p.host: p for p in self.admin()})
        return sorted(merged.values(), key=lambda p: (p.source != "admin", p.host))

    def get(self, host: str) -> RegistryProfile | None:
        host = normalize_host(host)
        return next((p for p in self.all() if p.host == host), None)

    def save_user(self, profile: RegistryProfile) -> RegistryProfile:
        """Add or replace a user profile (an admin profile for the host stays in force)."""
        profile = replace(profile, source="user")
        with locked(self.user_path):
            kept = [p for p in self.user() if p.host != profile.host]
            self._write([*kept, profile])
        return profile

    def remove_user(self, host: str) -> bool:
        host = normalize_host(host)
        if any(p.host == host for p in self.admin()):
            raise ConfigError(
                f"{host} is defined by the administrator and cannot be removed",
                hint="log out instead: regauth logout " + host,
            )
        with locked(self.user_path):
            profiles = self.user()
            kept = [p for p in profiles if p.host != host]
            if len(kept) == len(profiles):
                return False
            self._write(kept)
        return True

    def _write(self, profiles: list[RegistryProfile]) -> None:
        data = {"registries": [p.to_dict() for p in profiles]}
        for item in data["registries"]:
            item.pop("source", None)
        atomic_write(self.user_path, json.dumps(data, indent=2).encode() + b"\n")
