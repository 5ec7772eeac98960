"""One ``auths`` entry of ``config.json`` / ``auth.json``, decoded and encoded as docker does.

``auth`` is base64 of ``username:password``, split on the first colon (passwords may contain
colons, usernames may not). docker/cli decodes JSON field names case-insensitively, so we do too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigFileError, InvalidCredentialsError
from .types import Credentials

_FIELDS = ("auth", "username", "password", "identitytoken", "registrytoken")
_RELOGIN = "log in to the registry again, or delete this entry from the file"


def decode_entry(entry: object, *, path: Path, key: str) -> Credentials:
    """The credentials an ``auths`` entry holds (anonymous when it holds none)."""
    if not isinstance(entry, Mapping):
        raise ConfigFileError(
            path, f'"auths" entry {key!r} is not a JSON object', hint="it must look like {}"
        )
    fields: dict[str, str] = {}
    for name, value in entry.items():
        lowered = str(name).lower()
        if lowered not in _FIELDS or (lowered in fields and name != lowered):
            continue  # unknown (e.g. legacy "email"), or an exact-case duplicate wins
        if not isinstance(value, str):
            raise ConfigFileError(
                path, f'"auths" entry {key!r}: field {name!r} is not a string', hint=_RELOGIN
            )
        fields[lowered] = value
    username, password = fields.get("username", ""), fields.get("password", "")
    if fields.get("auth"):
        username, password = _decode_auth(fields["auth"], path=path, key=key)
    return Credentials(
        username=username,
        password=password,
        identity_token=fields.get("identitytoken", ""),
        registry_token=fields.get("registrytoken", ""),
    )


def _decode_auth(value: str, *, path: Path, key: str) -> tuple[str, str]:
    try:
        # Go's base64 decoder skips line breaks, so a wrapped value is still valid there.
        text = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigFileError(
            path, f'"auths" entry {key!r}: "auth" is not valid base64', hint=_RELOGIN
        ) from None
    username, colon, password = text.partition(":")
    if not colon or not username:
        raise ConfigFileError(
            path,
            f'"auths" entry {key!r}: "auth" does not hold base64 of "username:password"',
            hint=_RELOGIN,
        )
    return username, password.strip("\x00")


def encode_entry(creds: Credentials) -> dict[str, str]:
    """The entry docker writes: ``auth`` plus any token, never plain username/password fields."""
    entry: dict[str, str] = {}
    if creds.username or creds.password:
        entry["auth"] = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    if creds.identity_token:
        entry["identitytoken"] = creds.identity_token
    if creds.registry_token:
        entry["registrytoken"] = creds.registry_token
    return entry


def check_storable(creds: Credentials) -> None:
    """Refuse credentials docker could not read back the same way."""
    if creds.anonymous:
        raise InvalidCredentialsError(
            "there are no credentials to store",
            hint="give a username and password, or a token",
        )
    if ":" in creds.username:
        raise InvalidCredentialsError(
            f"the username {creds.username!r} contains ':'",
            hint="docker stores 'username:password', so a username cannot contain a colon",
        )
    if creds.password and not creds.username:
        raise InvalidCredentialsError(
            "a password was given without a username", hint="give the username too"
        )
