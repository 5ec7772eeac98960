"""Registry errors: one type per thing a user can fix, each with the status and the fix."""

from __future__ import annotations

import re
from typing import ClassVar

from ..errors import DigestMismatch, RegAuthError

__all__ = ["DigestMismatch"]  # one error for content that does not match its digest


class RegistryError(RegAuthError):
    """The registry answered with an error, or could not be reached."""

    code = "registry_error"

    @classmethod
    def plain_http(cls, host: str) -> RegistryError:
        """``host`` answered a TLS handshake in plain HTTP."""
        return cls(
            f"{host} does not speak TLS: it answered in plain HTTP",
            hint="serve the registry over TLS (a self-signed CA is fine: trust it here); "
            "this client talks to registries over HTTPS only",
        )


class RegistryUnreachable(RegistryError):
    code = "unreachable"

    @classmethod
    def connecting(cls, host: str, cause: BaseException) -> RegistryUnreachable:
        """No connection to ``host``: the system's reason (``Connection refused``, ``Name or
        service not known``), without the ``[Errno N]`` a socket error puts before it."""
        reason = re.sub(r"^\[Errno -?\d+\] ", "", str(cause)) or type(cause).__name__
        return cls(
            f"cannot connect to {host}: {reason}",
            hint="check the host name and port, and that the registry is running",
        )


class TLSError(RegistryError):
    """The TLS handshake with ``host`` failed. ``fingerprint`` (SHA-256 of the server certificate,
    colon-hex) and ``subject`` describe what the server presented, so a user can check it out of
    band."""

    code = "tls_error"
    fields: ClassVar[tuple[str, ...]] = ("host", "fingerprint", "subject", "issuer")

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        hint: str | None = None,
        fingerprint: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
    ) -> None:
        details = [f"{k} {v}" for k, v in (("subject", subject), ("SHA-256", fingerprint)) if v]
        if details:
            message = f"{message} (server certificate {', '.join(details)})"
        super().__init__(message, hint=hint)
        self.host = host
        self.fingerprint = fingerprint
        self.subject = subject
        self.issuer = issuer


class UnknownCA(TLSError):
    code = "unknown_ca"


class CANotIssuer(UnknownCA):
    """The CA certificate given to verify with does not sign the server's certificate: unlike a
    plain unknown CA, trusting a CA is what was just tried, so the issuer it needs is named."""

    code = "ca_not_issuer"

    @classmethod
    def of(cls, error: UnknownCA) -> CANotIssuer:
        host = error.host or "the registry"
        issued = f", which is issued by {error.issuer}" if error.issuer else ""
        return cls(
            f"the CA certificate given does not sign the certificate of {host}{issued}",
            host=error.host,
            hint="give the certificate of the CA that issued the server's certificate "
            "(ask the registry's administrator for it)",
            fingerprint=error.fingerprint,
            subject=error.subject,
            issuer=error.issuer,
        )


class HostnameMismatch(TLSError):
    code = "hostname_mismatch"


class CertificateExpired(TLSError):
    code = "certificate_expired"


class ClientCertificateRequired(TLSError):
    """The registry wants a client certificate: none was sent (``sent`` False), or it refused
    the one that was."""

    code = "client_certificate_required"
    fields = (*TLSError.fields, "sent")

    def __init__(self, message: str, *, host: str, sent: bool, hint: str) -> None:
        super().__init__(message, host=host, hint=hint)
        self.sent = sent


class AuthenticationFailed(RegistryError):
    """401: the registry (or its token service) refused the credentials."""

    code = "unauthorized"


class Reauthenticated(AuthenticationFailed):
    """A request with a streamed body was refused its token, and a new token was fetched; the
    body is spent, so the caller sends the request again (an upload resumes from the registry's
    offset)."""


class Forbidden(RegistryError):
    """403, or a token that does not grant the scope asked for."""

    code = "forbidden"


class NotFound(RegistryError):
    code = "not_found"


class RateLimited(RegistryError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint, status=429)
        self.retry_after = retry_after
