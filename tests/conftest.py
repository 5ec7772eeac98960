"""Session fixtures that start REAL components: the distribution registry (TLS from a CA made for
this session; htpasswd Basic auth, token auth through a test issuer, mutual TLS) on loopback."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jupyter_regauth.errors import RegAuthError
from jupyter_regauth.service import RegAuth
from jupyter_regauth.testing.pki import KeyPair, issue, make_ca
from jupyter_regauth.testing.registry import LocalRegistry, TokenAuth
from jupyter_regauth.testing.token_issuer import TokenIssuer, TokenServer

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# Every secret a fixture makes is registered here; no test may let one reach a log record.
SECRETS: set[str] = set()


def new_password() -> str:
    # A colon inside, because docker's `auth` field splits on the first one only.
    password = f"pw:{secrets.token_urlsafe(12)}"
    SECRETS.add(password)
    return password


@dataclass
class PKI:
    ca: KeyPair
    ca_file: Path
    directory: Path


@dataclass
class Registry:
    server: LocalRegistry
    username: str = ""
    password: str = ""
    ca_file: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.server.host


def logged_in_to(*registries: Registry, store_password: bool = False) -> RegAuth:
    """A RegAuth (in the test's isolated home) logged in to ``registries`` with their CA."""
    service = RegAuth()
    for registry in registries:
        assert registry.ca_file is not None
        service.login(
            registry.host,
            registry.username,
            registry.password,
            ca_pem=registry.ca_file.read_bytes(),
            store_password=store_password,
        )
    return service


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    return PKI(ca, ca_file, directory)


@pytest.fixture(scope="session")
def basic_registry(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    password = new_password()
    server = LocalRegistry(tmp_path_factory.mktemp("basic"), ca=pki.ca, users={"alice": password})
    with server:
        yield Registry(server, "alice", password, pki.ca_file)


@pytest.fixture(scope="session")
def token_registry(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("token")
    signer = issue(pki.ca, "token signer")
    password, reader_password = new_password(), new_password()
    issuer = TokenIssuer(
        signer=signer,
        service="regauth-test-registry",
        on_secret=SECRETS.add,
        users={
            "carol": (password, {"*": ["pull", "push", "delete"], "registry:catalog": ["*"]}),
            "reader": (reader_password, {"*": ["pull"]}),
        },
        anonymous={"public/*": ["pull"]},
    )
    cert, key = issue(pki.ca, "token service", names=("127.0.0.1",)).write(workdir, "issuer")
    with TokenServer(issuer, cert, key) as token_server:
        server = LocalRegistry(
            workdir / "registry",
            ca=pki.ca,
            token=TokenAuth(token_server.realm, issuer.service, issuer.issuer, signer),
        )
        with server:
            yield Registry(
                server,
                "carol",
                password,
                pki.ca_file,
                extra={"issuer": issuer, "reader_password": reader_password},
            )


@pytest.fixture(scope="session")
def mtls_registry(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("mtls")
    password = new_password()
    cert, key = issue(pki.ca, "notebook user", client=True).write(workdir, "client")
    server = LocalRegistry(
        workdir / "registry", ca=pki.ca, client_ca=pki.ca, users={"dave": password}
    )
    with server:
        yield Registry(
            server, "dave", password, pki.ca_file, extra={"client_cert": cert, "client_key": key}
        )


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated home: DOCKER_CONFIG, certs.d, the profile store and the layer cache all
    under tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("REGAUTH_CERTS_D", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return home / ".docker"


@pytest.fixture
def unreachable_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG naming a cluster nobody answers for: the Kubernetes step of a login fails."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return kubeconfig


@pytest.fixture(autouse=True)
def no_secret_leaks(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail any test in which a secret reached a log record or the message of an error we made."""
    caplog.set_level(logging.DEBUG)
    errors: list[RegAuthError] = []
    original = RegAuthError.__init__

    def recording_init(self: RegAuthError, message: str, **kwargs: object) -> None:
        original(self, message, **kwargs)  # type: ignore[arg-type]
        errors.append(self)

    monkeypatch.setattr(RegAuthError, "__init__", recording_init)
    yield
    records = [r for when in ("setup", "call") for r in caplog.get_records(when)]
    text = "\n".join(f"{r.getMessage()} {r.exc_info} {r.exc_text}" for r in records)
    assert not any(s in text for s in SECRETS), "a secret reached a log record"
    messages = "\n".join(f"{e} {e.to_dict()}" for e in errors)
    assert not any(s in messages for s in SECRETS), "a secret reached an error message"


@pytest.fixture
def silent_index() -> Iterator[str]:
    """The URL of a package index that accepts connections and never answers (unique, so
    :func:`processes_with` finds the pip that uses it)."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/simple-{os.getpid()}-{id(listener)}"


def processes_with(marker: str) -> list[int]:
    """The processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found
