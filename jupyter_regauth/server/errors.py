"""How core errors become HTTP answers: a status chosen by the error's stable ``code``.

The registry's own 401/403 become 422, so a browser never mistakes a refused registry login for
its Jupyter session having expired (which is what a 401/403 from this server means).
"""

from __future__ import annotations

from typing import Any

from ..errors import RegAuthError

STATUS_BY_CODE: dict[str, int] = {
    "unauthorized": 422,
    "forbidden": 422,
    "not_found": 404,
    "rate_limited": 429,
    "config_error": 400,
    "image_error": 400,
    "bad_request": 400,
    "credential_helper_error": 500,
}
#: Upstream trouble (unreachable, TLS not verified, registry errors) is a bad gateway.
UPSTREAM_STATUS = 502


class ApiError(RegAuthError):
    """An error this API raises itself, with its own code and HTTP status."""

    def __init__(self, status: int, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.http_status = status


class BadRequest(ApiError):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(400, "bad_request", message, hint=hint)


def http_status(error: RegAuthError) -> int:
    if isinstance(error, ApiError):
        return error.http_status
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    from ..registry.errors import RegistryError

    return UPSTREAM_STATUS if isinstance(error, RegistryError) else 400


def error_body(error: RegAuthError) -> dict[str, Any]:
    """The JSON body: ``code``, ``message``, ``hint`` and, for TLS errors, the certificate."""
    return {k: v for k, v in error.to_dict().items() if v is not None}
