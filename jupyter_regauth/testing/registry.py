"""Start the CNCF distribution registry (``docker-registry``/``registry`` binary) on loopback."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from .pki import LOOPBACK_NAMES, KeyPair, issue

BINARIES = ("docker-registry", "registry")


def registry_binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "the distribution registry is not installed: install the Debian package docker-registry"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def htpasswd_line(username: str, password: str) -> str:
    import bcrypt  # only the registry's htpasswd file needs it

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{username}:{hashed}\n"


@dataclass
class TokenAuth:
    realm: str
    service: str
    issuer: str
    signer: KeyPair


@dataclass
class LocalRegistry:
    """One registry process. ``users`` turns on htpasswd Basic auth, ``token`` distribution's
    token auth, ``client_ca`` mutual TLS; with ``ca`` unset it serves plain HTTP."""

    workdir: Path
    ca: KeyPair | None = None
    users: dict[str, str] = field(default_factory=dict)
    token: TokenAuth | None = None
    client_ca: KeyPair | None = None
    server_cert: KeyPair | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    # Fixed for the registry's lifetime: upload state is signed with it (resumes survive restarts).
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    _log: IO[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def config(self) -> dict[str, object]:
        http: dict[str, object] = {
            "addr": self.host,
            "secret": self.secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.ca:
            leaf = self.server_cert or issue(self.ca, "registry", names=LOOPBACK_NAMES)
            # Serve the chain (leaf then CA), as most private registries do.
            cert, key = leaf.write(self.workdir / "tls", "server", chain=(self.ca,))
            tls: dict[str, object] = {"certificate": str(cert), "key": str(key)}
            if self.client_ca:
                client_ca = self.workdir / "tls" / "client-ca.crt"
                client_ca.write_bytes(self.client_ca.cert_pem)
                tls["clientcas"] = [str(client_ca)]
            http["tls"] = tls
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if self.users:
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text("".join(htpasswd_line(u, p) for u, p in self.users.items()))
            config["auth"] = {"htpasswd": {"realm": "jupyter-regauth-test", "path": str(htpasswd)}}
        elif self.token:
            bundle = self.workdir / "token-signer.crt"
            bundle.write_bytes(self.token.signer.cert_pem)
            config["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": self.token.service,
                    "issuer": self.token.issuer,
                    "rootcertbundle": str(bundle),
                }
            }
        return config

    def start(self) -> LocalRegistry:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        elif _listening(self.port):
            # Otherwise whatever listens there would be taken for this registry.
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is already in use")
        config_path = self.workdir / "config.yml"
        config_path.write_text(yaml.safe_dump(self.config()))
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [registry_binary(), "serve", str(config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited:\n{self.log_tail()}")
            if _listening(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"registry did not listen within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same port and storage (for interrupted-upload tests)."""
        self.stop()
        self.start()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
