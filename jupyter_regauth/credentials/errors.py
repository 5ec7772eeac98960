"""Errors of the credential store; messages name files, keys and hosts, never a secret."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, RegAuthError


class ConfigFileError(ConfigError):
    """``config.json`` (or an auth file) is malformed or cannot be read or written.

    ``line`` and ``column`` (from 1) point at a JSON syntax error when there is one.
    """

    def __init__(
        self,
        path: Path,
        message: str,
        *,
        hint: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path
        self.line = line
        self.column = column


class InvalidCredentialsError(RegAuthError):
    """Credentials that cannot be stored the way docker reads them back (bad input)."""

    code = "invalid_credentials"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, status=400)
