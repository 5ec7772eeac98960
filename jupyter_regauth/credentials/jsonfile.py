"""Reading and atomically rewriting a JSON config file that several processes may share.

A write is a merge: take an exclusive ``flock`` on a sibling ``<name>.lock`` file, read the current
file, apply the change, write a temporary file in the same directory, fsync it, rename it over the
original and fsync the directory. Readers never lock: a rename is atomic, so they see the old or
the new file, never half of one. A file that does not parse is never overwritten.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..fileio import atomic_write, locked
from .errors import ConfigFileError

JSONObject = dict[str, Any]
FILE_MODE = 0o600
DIR_MODE = 0o700
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def read_object(path: Path) -> JSONObject:
    """The JSON object in ``path``; ``{}`` when the file is missing, empty or null (as docker)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise ConfigFileError(
            path,
            "permission denied while reading",
            hint=f"make it readable by this user, e.g. chown $(id -u) {path} && chmod 600 {path}",
        ) from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot be read: {exc.strerror}") from None
    return parse_object(path, raw)


def parse_object(path: Path, raw: bytes) -> JSONObject:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            path,
            f"is not UTF-8 text (bad byte at offset {exc.start})",
            hint="fix or move the file; it was left untouched",
        ) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except json.JSONDecodeError as exc:
        # exc.msg never quotes the document, so no secret from the file can leak through it.
        raise ConfigFileError(
            path,
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint="fix the JSON syntax there (or move the file away); it was left untouched",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except ValueError as exc:  # from the hooks below, or a huge integer; neither quotes the file
        raise ConfigFileError(
            path,
            f"is not valid JSON: {exc}",
            hint="fix that value (or move the file away); it was left untouched",
        ) from None
    if data is None:
        return {}  # docker/cli decodes a "null" file as an empty config, too
    if not isinstance(data, dict):
        raise ConfigFileError(
            path,
            f"holds a JSON {_JSON_TYPES[type(data)]}, not an object",
            hint='it must be a JSON object such as {"auths": {}}; it was left untouched',
        )
    return data


def _not_json(name: str) -> NoReturn:
    # Python reads NaN and Infinity, which docker does not, and would write them back.
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # written back as Infinity, which no JSON reader accepts
        raise ValueError("a number is too large to be written back")
    return value


def ensure_dir(directory: Path) -> None:
    """Create ``directory`` (0700, as docker does) if it does not exist."""
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        directory.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise ConfigFileError(directory, f"cannot create the directory: {exc.strerror}") from None


def update(path: Path, change: Callable[[JSONObject], bool]) -> None:
    """Apply ``change`` to the file's object under the lock; write only when it returns True."""
    ensure_dir(path.parent)
    try:
        with locked(path):
            data = read_object(path)
            if change(data):
                _write(_resolve(path), data)
    except ConfigFileError:
        raise
    except OSError as exc:
        raise ConfigFileError(
            path,
            f"cannot be written: {exc.strerror}",
            hint="check that the directory is writable (a mounted Secret is read-only)",
        ) from None


def _resolve(path: Path) -> Path:
    """The file to replace: a symlink's target (dangling or not), as docker/cli does."""
    return path.resolve() if path.is_symlink() else path


def _write(target: Path, data: JSONObject) -> None:
    atomic_write(target, json.dumps(data, indent="\t", ensure_ascii=False).encode(), FILE_MODE)
