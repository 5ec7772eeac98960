"""Trust per registry: the system store plus a registry's own CA bundle and client certificate.

The files live where docker and the containers tools look: ``certs.d/<host[:port]>/`` holding
``*.crt`` CA certificates and ``*.cert``/``*.key`` client pairs. The user's own tree
(``~/.config/containers/certs.d``, what rootless skopeo, buildah and podman read) comes first, then
the system trees.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .errors import (
    CertificateExpired,
    ClientCertificateRequired,
    HostnameMismatch,
    RegistryError,
    RegistryUnreachable,
    TLSError,
    UnknownCA,
)
from .roots import system_context

if TYPE_CHECKING:  # cryptography is imported where certificates are handled: quick CLI start
    from cryptography import x509

log = logging.getLogger(__name__)

SYSTEM_CERTS_ROOTS = (Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))


def user_certs_root() -> Path:
    return Path(os.environ.get("REGAUTH_CERTS_D") or Path.home() / ".config/containers/certs.d")


def certs_roots() -> list[Path]:
    return [user_certs_root(), *SYSTEM_CERTS_ROOTS]


@dataclass(frozen=True)
class TrustConfig:
    """What to trust for one registry. ``ca_pem`` adds to the system store, never replaces it."""

    ca_pem: bytes = b""
    client_cert: Path | None = None
    client_key: Path | None = None
    insecure: bool = False
    sources: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def for_host(
        cls,
        host: str,
        *,
        ca_pem: bytes = b"",
        client_cert: Path | None = None,
        client_key: Path | None = None,
        insecure: bool = False,
        roots: Iterable[Path] | None = None,
    ) -> TrustConfig:
        """Combine what a profile names with what the ``certs.d/<host>`` directories hold."""
        bundle, sources = [ca_pem] if ca_pem else [], []
        for root in certs_roots() if roots is None else roots:
            directory = root / host
            if not directory.is_dir():
                continue
            for crt in sorted(directory.glob("*.crt")):
                bundle.append(_read_pem(crt))
                sources.append(str(crt))
            if client_cert is None:
                for key in sorted(directory.glob("*.key")):
                    cert = key.with_suffix(".cert")
                    if not cert.exists():  # as docker and containers/image refuse it
                        raise ConfigError(
                            f"{key} has no matching {cert.name}",
                            hint="put the client certificate beside it as "
                            f"{cert.name} (not .crt, which is read as a CA), or remove the key",
                        )
                for cert in sorted(directory.glob("*.cert")):
                    key = cert.with_suffix(".key")
                    if not key.exists():
                        raise ConfigError(
                            f"{cert} has no matching {key.name}",
                            hint="put the client certificate's key beside it, or remove the .cert",
                        )
                    client_cert, client_key = cert, key
                    sources.append(str(cert))
                    break
        return cls(b"\n".join(bundle), client_cert, client_key, insecure, tuple(sources))

    def context_key(self) -> tuple[object, ...]:
        """What :meth:`ssl_context` is made of, the client certificate files as they are now
        on disk (a renewed pair makes another key)."""

        def on_disk(path: Path | None) -> tuple[str, int, int] | None:
            if path is None:
                return None
            try:
                st = path.stat()
            except OSError:
                return (str(path), -1, -1)  # ssl_context will say what is wrong with it
            return (str(path), st.st_mtime_ns, st.st_size)

        return (self.ca_pem, self.insecure, on_disk(self.client_cert), on_disk(self.client_key))

    def ssl_context(self) -> ssl.SSLContext:
        context = system_context()
        if self.insecure:
            # Only reachable from an explicit per-registry `insecure` setting; warned about loudly.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_pem.strip():
            try:
                context.load_verify_locations(cadata=self.ca_pem.decode("ascii", "replace"))
            except ssl.SSLError as exc:
                bad = _unloadable_ca_file(self.sources)
                if bad is not None:  # a certs.d file: the user must know which one to fix
                    raise ConfigError(
                        f"{bad} is not a valid PEM CA certificate",
                        hint="replace it with the registry's CA in PEM "
                        "(-----BEGIN CERTIFICATE-----), or remove it",
                    ) from exc
                raise ConfigError(
                    "the registry's CA bundle holds no valid PEM certificate",
                    hint="give a PEM file with -----BEGIN CERTIFICATE----- blocks",
                ) from exc
        if self.client_cert:
            try:
                context.load_cert_chain(self.client_cert, self.client_key)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(
                    f"cannot load client certificate {self.client_cert} with key {self.client_key}",
                    hint="check that the key matches the certificate and both are PEM",
                ) from exc
        return context


class SSLContexts:
    """SSL contexts made once per trust configuration and shared by the clients that use it: a
    server or a kernel would otherwise parse the registry's CA bundle and client pair, and
    reread the system roots it verifies with, on every request to a registry. (A change to
    the system store itself is seen by a new process.)"""

    def __init__(self, keep: int = 16) -> None:
        self._made: dict[tuple[object, ...], ssl.SSLContext] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def get(self, trust: TrustConfig) -> ssl.SSLContext:
        key = trust.context_key()
        with self._lock:
            context = self._made.get(key)
        if context is None:
            context = trust.ssl_context()  # outside the lock: other registries need not wait
            with self._lock:
                self._made[key] = context
                while len(self._made) > self._keep:
                    del self._made[next(iter(self._made))]  # the oldest
        return context


def _unloadable_ca_file(sources: Iterable[str]) -> str | None:
    """The first ``certs.d`` CA file that OpenSSL cannot load on its own, if any."""
    for source in sources:
        if source.endswith(".crt"):
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=source)
            except (ssl.SSLError, OSError):
                return source
    return None


def _read_pem(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def load_pem_bundle(data: bytes, what: str = "CA bundle") -> list[x509.Certificate]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(
            f"the {what} is not valid PEM",
            hint="give PEM certificates (-----BEGIN CERTIFICATE-----)",
        ) from exc
    return certs


def split_host_port(host: str) -> tuple[str, int]:
    if host.startswith("["):
        addr, _, port = host[1:].partition("]")
        return addr, int(port.lstrip(":") or 443)
    name, _, port = host.partition(":")
    return name, int(port or 443)


def fetch_chain(host: str, timeout: float = 10.0) -> list[x509.Certificate]:
    """The certificates a TLS server presents, leaf first, without trusting them.

    Used to show a user what they are asked to trust (``regauth trust``) and to describe a failed
    verification; no application data is exchanged on this connection.
    """
    from OpenSSL import SSL  # pyOpenSSL exposes the unverified chain the stdlib hides

    address, port = split_host_port(host)
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise RegistryUnreachable.connecting(host, exc) from exc
    with sock:
        conn = SSL.Connection(context, sock)
        conn.set_tlsext_host_name(address.encode("idna"))
        conn.set_connect_state()
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.do_handshake()
                break
            except (SSL.WantReadError, SSL.WantWriteError):
                # The socket has a timeout, so it is non-blocking to OpenSSL: wait for it.
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [sock], [], left)[0:2]:
                    raise RegistryUnreachable(f"TLS handshake with {host} timed out") from None
            except SSL.Error as exc:
                if "wrong version number" in str(exc):  # the answer was plain HTTP
                    raise RegistryError.plain_http(host) from exc
                raise TLSError(f"TLS handshake with {host} failed: {exc}", host=host) from exc
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        conn.shutdown()
    return list(chain)


def ca_to_trust(chain: list[x509.Certificate]) -> x509.Certificate:
    """The certificate to add to the trust store: the self-signed root where the server sends it,
    else the top of what it sends (an intermediate is then trusted as an anchor, as docker does)."""
    for cert in reversed(chain):
        if cert.issuer == cert.subject:
            return cert
    return chain[-1]


def pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


_VERIFY_EXPIRED = {9, 10}  # not yet valid, expired
_VERIFY_UNKNOWN_CA = {2, 18, 19, 20, 21}
_VERIFY_NAME = {62, 64}
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "HANDSHAKE_FAILURE",
    "CERTIFICATE_UNKNOWN",
)


def _names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate is valid for (its subjectAltName)."""
    from cryptography import x509 as x509_types

    try:
        alt = cert.extensions.get_extension_for_class(x509_types.SubjectAlternativeName).value
    except x509_types.ExtensionNotFound:
        return []
    dns = alt.get_values_for_type(x509_types.DNSName)
    ips = [str(ip) for ip in alt.get_values_for_type(x509_types.IPAddress)]
    return [*dns, *ips]


def explain_tls_failure(
    host: str, error: ssl.SSLError, *, client_cert: Path | None = None
) -> TLSError:
    """Turn an ``ssl`` failure into the specific error a user can act on, naming the server
    certificate by subject and SHA-256 fingerprint where verification failed, and the validity
    dates of the ``client_cert`` sent, where the server refused it because they are past (or
    yet to come)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        leaf = None
        try:
            chain = fetch_chain(host)
            leaf = chain[0] if chain else None
        except RegistryError:  # the details are a courtesy: the failure is reported anyway
            pass
        details = {
            "fingerprint": fingerprint(leaf) if leaf else None,
            "subject": leaf.subject.rfc4514_string() if leaf else None,
            "issuer": leaf.issuer.rfc4514_string() if leaf else None,
            "host": host,
        }
        code = error.verify_code
        if code in _VERIFY_EXPIRED:
            when = ""
            if leaf:
                start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
                when = f" (valid {start:%Y-%m-%d} to {end:%Y-%m-%d})"
            return CertificateExpired(
                f"the certificate of {host} is expired or not yet valid{when}",
                hint="renew the registry's certificate, or check this machine's clock",
                **details,
            )
        if code in _VERIFY_NAME:
            names = _names(leaf) if leaf else []
            listed = f" (it lists {', '.join(names)})" if names else ""
            return HostnameMismatch(
                f"the certificate of {host} is not valid for that name{listed}",
                hint="connect with a name the certificate lists, or reissue it with this name",
                **details,
            )
        if code in _VERIFY_UNKNOWN_CA:
            return UnknownCA(
                f"the certificate of {host} is signed by an unknown authority",
                hint="check the fingerprint with the registry's administrator and trust its CA, "
                "or give the registry's CA certificate",
                **details,
            )
        return TLSError(f"TLS verification of {host} failed: {error.verify_message}", **details)
    reason = getattr(error, "reason", None) or ""
    if any(alert in reason for alert in _CLIENT_CERT_ALERTS):
        if client_cert is not None:
            outdated = _outside_validity(client_cert)
            if outdated:
                return ClientCertificateRequired(
                    f"{host} rejected the client certificate: {outdated}",
                    host=host,
                    sent=True,
                    hint="renew the client certificate (and its key) with the registry's CA",
                )
            return ClientCertificateRequired(
                f"{host} rejected the client certificate ({reason.lower()})",
                host=host,
                sent=True,
                hint="check that the client certificate is issued by a CA the registry trusts",
            )
        return ClientCertificateRequired(
            f"{host} requires a client certificate",
            host=host,
            sent=False,
            hint="give a client certificate and its key, or put client.cert and "
            f"client.key in certs.d/{host}/",
        )
    return TLSError(f"TLS with {host} failed: {reason or error}", host=host)


def _outside_validity(cert_file: Path) -> str:
    """Why ``cert_file`` is not valid now (expired, not yet valid), or "" (Go's TLS server
    says only "bad certificate" for either)."""
    import datetime as dt

    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return ""
    now = dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc < now:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if cert.not_valid_before_utc > now:
        return f"it is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return ""


def store_trust(
    host: str,
    *,
    ca_pem: bytes | None = None,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
    root: Path | None = None,
) -> Path:
    """Write a registry's CA bundle and client pair into ``certs.d/<host>/`` (``ca.crt``,
    ``client.cert``, ``client.key``), where docker, skopeo, buildah and podman find them."""
    from ..fileio import atomic_write

    directory = (root or user_certs_root()) / host
    if ca_pem is not None:
        load_pem_bundle(ca_pem)  # refuse to write what is not a certificate
    try:
        if ca_pem is not None:
            atomic_write(directory / "ca.crt", ca_pem, mode=0o644)
        if client_cert is not None and client_key is not None:
            atomic_write(directory / "client.cert", client_cert, mode=0o644)
            atomic_write(directory / "client.key", client_key, mode=0o600)
    except OSError as exc:  # a read-only home, or a file where the directory should be
        raise ConfigError(
            f"cannot write to {exc.filename or directory}: {exc.strerror}",
            hint=f"make {directory} a directory this user can write to",
        ) from None
    return directory


@contextmanager
def trust_stored(
    host: str,
    *,
    ca_pem: bytes | None = None,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
    root: Path | None = None,
) -> Iterator[Path]:
    """:func:`store_trust` for a step that can still fail after it (storing a login's
    credentials): when the body raises, ``certs.d/<host>/`` is put back as it was, each file
    byte for byte with its mode, and the directories made for it removed, so a failed login
    leaves the registry's trust as it found it."""
    from ..fileio import atomic_write

    directory = (root or user_certs_root()) / host
    made = [d for d in (directory, *directory.parents) if not d.exists()]
    before: dict[Path, tuple[bytes, int] | None] = {}
    for name in ("ca.crt", "client.cert", "client.key"):  # what store_trust writes
        path = directory / name
        try:
            before[path] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
        except (FileNotFoundError, NotADirectoryError):  # store_trust says what is wrong
            before[path] = None
    try:
        yield store_trust(
            host, ca_pem=ca_pem, client_cert=client_cert, client_key=client_key, root=root
        )
    except BaseException:
        for path, kept in before.items():
            if kept is None:
                with suppress(FileNotFoundError, NotADirectoryError):
                    path.unlink()
            else:
                atomic_write(path, kept[0], mode=kept[1])
        for made_dir in made:  # the deepest first; one another process wrote into stays
            with suppress(OSError):
                made_dir.rmdir()
        raise
