"""The system's CA roots, read lazily from a hashed copy of the bundle: a registry whose
certificate chains to a root in the bundle (or in the system's hashed directory) verifies, one
that chains to no root does not, and an updated bundle is read afresh."""

from __future__ import annotations

import os
import socket
import ssl
import time
from pathlib import Path

import pytest
from OpenSSL import crypto

from jupyter_regauth.registry import roots
from jupyter_regauth.registry.client import RegistryClient
from jupyter_regauth.registry.errors import UnknownCA
from jupyter_regauth.registry.roots import hashed_bundle, system_context
from jupyter_regauth.registry.trust import TrustConfig
from jupyter_regauth.testing.pki import make_ca

from .tls_server import answer_ok, tls_server


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_config: Path) -> Path:
    """An empty system store: SSL_CERT_FILE (the bundle, returned) and SSL_CERT_DIR."""
    bundle = tmp_path / "system" / "ca-certificates.crt"
    (tmp_path / "system" / "certs").mkdir(parents=True)
    bundle.write_bytes(b"")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "system" / "certs"))
    return bundle


def ping(host: str) -> int:
    with RegistryClient(host, trust=TrustConfig()) as client:
        return client.send("GET", "/v2/").status_code


def ca_dirs(docker_config: Path) -> list[Path]:
    root = docker_config.parent / ".cache" / "jupyter-regauth" / "ca-roots"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def test_a_root_in_the_bundle_is_trusted_and_read_only_when_needed(
    system: Path, tmp_path: Path, docker_config: Path
) -> None:
    public, other, unknown = make_ca("Public Root"), make_ca("Other Root"), make_ca("Nobody")
    system.write_bytes(other.cert_pem + public.cert_pem)
    context = system_context()
    assert context.get_ca_certs() == []  # nothing parsed up front
    (directory,) = ca_dirs(docker_config)
    assert len(list(directory.iterdir())) == 2
    with tls_server(public, tmp_path, answer_ok) as host:
        assert ping(host) == 200
    with tls_server(unknown, tmp_path, answer_ok) as host, pytest.raises(UnknownCA):
        ping(host)
    # The store read the one root the verification needed.
    with (
        tls_server(public, tmp_path, answer_ok) as host,
        socket.create_connection(("127.0.0.1", int(host.split(":")[1]))) as sock,
    ):
        with context.wrap_socket(sock, server_hostname="127.0.0.1"):
            pass
    assert [dict(c["subject"][1])["commonName"] for c in context.get_ca_certs()] == ["Public Root"]


def test_roots_that_share_a_subject_are_all_kept(system: Path, tmp_path: Path) -> None:
    """A renewed root has the subject of the one it replaces: both files (``hash.0`` and
    ``hash.1``) are written, and the one that signed the registry is found."""
    old, renewed = make_ca("Renewed Root"), make_ca("Renewed Root")
    system.write_bytes(old.cert_pem + renewed.cert_pem)
    with tls_server(renewed, tmp_path, answer_ok) as host:
        assert ping(host) == 200
    with tls_server(old, tmp_path, answer_ok) as host:
        assert ping(host) == 200


def test_the_systems_hashed_directory_is_still_read(system: Path, tmp_path: Path) -> None:
    ca = make_ca("Directory Root")
    name = f"{crypto.load_certificate(crypto.FILETYPE_PEM, ca.cert_pem).subject_name_hash():08x}.0"
    (Path(os.environ["SSL_CERT_DIR"]) / name).write_bytes(ca.cert_pem)
    with tls_server(ca, tmp_path, answer_ok) as host:
        assert ping(host) == 200


def test_an_updated_bundle_is_read_afresh(
    system: Path, tmp_path: Path, docker_config: Path
) -> None:
    first, added = make_ca("First Root"), make_ca("Added Root")
    system.write_bytes(first.cert_pem)
    with tls_server(added, tmp_path, answer_ok) as host:
        with pytest.raises(UnknownCA):
            ping(host)
        system.write_bytes(first.cert_pem + added.cert_pem)
        assert ping(host) == 200
    former, current = sorted(ca_dirs(docker_config), key=lambda p: p.stat().st_mtime_ns)
    # A directory no process used for a month goes when another is made; one in use stays.
    unused = time.time() - roots.UNUSED_SECONDS - 60
    os.utime(former, (unused, unused))
    system.write_bytes(added.cert_pem)
    system_context()
    remaining = ca_dirs(docker_config)
    assert former not in remaining and current in remaining and len(remaining) == 2


@pytest.mark.parametrize(
    "extra",
    [
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        b"-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\ncut short\n",
    ],
    ids=["not a certificate", "trusted-certificate form", "cut short"],
)
def test_a_bundle_that_cannot_be_split_is_loaded_whole(
    system: Path, tmp_path: Path, docker_config: Path, extra: bytes
) -> None:
    ca = make_ca("Whole Root")
    system.write_bytes(ca.cert_pem + extra)
    assert hashed_bundle(system) is None
    assert ca_dirs(docker_config) == []
    # The trust is OpenSSL's own: which refuses such a bundle whole, the good root with it.
    assert system_context().get_ca_certs() == ssl.create_default_context().get_ca_certs() == []
    with tls_server(ca, tmp_path, answer_ok) as host, pytest.raises(UnknownCA):
        ping(host)
    (_,) = (docker_config.parent / ".cache/jupyter-regauth/ca-roots").glob("*.whole")
    assert hashed_bundle(system) is None  # remembered: not parsed on every start


def test_a_cache_that_cannot_be_written_loads_the_bundle_whole(
    system: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_ca("Unwritable Root")
    system.write_bytes(ca.cert_pem)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert hashed_bundle(system) is None
    with tls_server(ca, tmp_path, answer_ok) as host:
        assert ping(host) == 200
