"""OCI distribution client: TLS trust, auth challenges, token flow, manifests and blobs."""

from .auth import RegistryAuth, Token, scopes_for
from .challenge import Challenge, parse_challenges
from .client import Manifest, Ping, RegistryClient
from .errors import (
    AuthenticationFailed,
    CANotIssuer,
    CertificateExpired,
    ClientCertificateRequired,
    DigestMismatch,
    Forbidden,
    HostnameMismatch,
    NotFound,
    RateLimited,
    Reauthenticated,
    RegistryError,
    RegistryUnreachable,
    TLSError,
    UnknownCA,
)
from .trust import TrustConfig

__all__ = [
    "AuthenticationFailed",
    "CANotIssuer",
    "CertificateExpired",
    "Challenge",
    "ClientCertificateRequired",
    "DigestMismatch",
    "Forbidden",
    "HostnameMismatch",
    "Manifest",
    "NotFound",
    "Ping",
    "RateLimited",
    "Reauthenticated",
    "RegistryAuth",
    "RegistryClient",
    "RegistryError",
    "RegistryUnreachable",
    "TLSError",
    "Token",
    "TrustConfig",
    "UnknownCA",
    "parse_challenges",
    "scopes_for",
]
