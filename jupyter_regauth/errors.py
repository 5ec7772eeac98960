"""Error types shared by every layer.

Each error carries a human message, an optional ``hint`` (what to do about it), a stable ``code``
for the REST API and the CLI's ``--json`` output, and the HTTP ``status`` where one applies.
Messages never contain secrets: callers pass host names, paths and usernames, nothing more.

Hints are worded for every front end ("trust its CA", not a command line): a front end that
has its own form of a fix (a command, a button) words it from the ``code`` and the error's
``fields``, which ``to_dict`` carries so that the REST API's clients can do the same.
"""

from __future__ import annotations

from typing import ClassVar


class RegAuthError(Exception):
    """Base class: every error jupyter-regauth raises on purpose."""

    code = "regauth_error"
    exit_code = 1
    #: Attributes ``to_dict`` reports besides code, message, hint and status: what a front end
    #: needs to word its own form of the fix (hosts, names, flags; never a secret).
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"code": self.code, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        if self.status is not None:
            data["status"] = self.status
        data.update((name, getattr(self, name)) for name in self.fields)
        return data


class ConfigError(RegAuthError):
    """A configuration file or setting is malformed (config.json, profiles, certs.d)."""

    code = "config_error"


class CredentialHelperError(RegAuthError):
    """A ``docker-credential-*`` helper is missing or failed."""

    code = "credential_helper_error"


class DigestMismatch(RegAuthError):
    """Content did not hash to the digest it was fetched, pushed or announced with."""

    code = "digest_mismatch"


def yaml_problem(exc: Exception) -> str:
    """Where a YAML document is broken and how, by line and column: PyYAML's own text quotes
    the line, which may hold a secret (an env value in a build spec), and names the stream
    "<unicode string>"."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return type(exc).__name__
    text = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context} from line {context_mark.line + 1})"
    return text


#: The hint for a YAML document that does not parse.
YAML_HINT = "check the indentation, colons, quotes and keys at that line"
