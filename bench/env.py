"""The bench's world: a loopback TLS registry with Basic auth, and credentials for every tool.

The registry keeps its port and CA for the whole run; :meth:`Bench.reset` empties its storage so
each measured push starts from an empty registry (no tool can reuse or mount a blob an earlier run
left behind, whatever blob-location cache it keeps).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_regauth.testing.pki import make_ca
from jupyter_regauth.testing.registry import LocalRegistry

from .measure import run

USER = "bench"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Peers:
    skopeo: str
    crane: str
    buildah: str

    @classmethod
    def install(cls) -> Peers:
        """Install or build the peers (idempotent: a second call only prints their paths)."""
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-peers")],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        paths = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return cls(paths["skopeo"], paths["crane"], paths["buildah"])

    def versions(self) -> dict[str, str]:
        def first_line(*argv: str) -> str:
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0]

        return {
            "skopeo": first_line(self.skopeo, "--version"),
            "crane": "crane " + first_line(self.crane, "version"),
            "buildah": first_line(self.buildah, "--version"),
        }


@dataclass
class Bench:
    """Registry, CA and credentials under ``workdir``; see the module docstring."""

    workdir: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    registry: LocalRegistry | None = None

    def start(self) -> Bench:
        ca = make_ca("jupyter-regauth bench CA")
        tls = self.workdir / "tls"
        ca.write(tls, "ca")
        self.registry = LocalRegistry(self.workdir / "registry", ca=ca, users={USER: self.password})
        self.registry.start()
        self._write_peer_credentials()
        self._login_ours()
        return self

    def stop(self) -> None:
        if self.registry is not None:
            self.registry.stop()

    @property
    def host(self) -> str:
        assert self.registry is not None
        return self.registry.host

    def reset(self) -> None:
        """Empty the registry's storage and write out what the last run left in the page cache
        (not timed): a tool must not pay for the disk writes of the one before it (buildah's
        storage holds gigabytes)."""
        assert self.registry is not None
        self.registry.stop()
        shutil.rmtree(self.registry.workdir / "data", ignore_errors=True)
        os.sync()
        self.registry.start()

    # -- credentials and trust, where each tool looks --------------------------------------

    @property
    def ca_file(self) -> Path:
        return self.workdir / "tls" / "ca.crt"

    @property
    def cert_dir(self) -> Path:
        """``ca.crt`` alone: skopeo's ``--dest-cert-dir`` and buildah's ``--cert-dir``."""
        return self.workdir / "certs"

    @property
    def authfile(self) -> Path:
        """containers-auth.json for skopeo and buildah."""
        return self.workdir / "auth.json"

    @property
    def docker_config(self) -> Path:
        """A DOCKER_CONFIG directory for crane."""
        return self.workdir / "docker"

    @property
    def home(self) -> Path:
        """HOME for our CLI, where ``regauth login`` stored the credentials and the CA."""
        return self.workdir / "home"

    def _write_peer_credentials(self) -> None:
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.ca_file, self.cert_dir / "ca.crt")
        token = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
        auths = json.dumps({"auths": {self.host: {"auth": token}}})
        self.docker_config.mkdir(parents=True, exist_ok=True)
        for path in (self.authfile, self.docker_config / "config.json"):
            path.touch(mode=0o600)
            path.write_text(auths)
        # crane trusts SSL_CERT_FILE alone, so give it the system roots plus our CA.
        system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
        bundle = system.read_bytes() if system.exists() else b""
        (self.workdir / "crane-ca-bundle.pem").write_bytes(bundle + self.ca_file.read_bytes())

    def crane_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_CONFIG": str(self.docker_config),
            "SSL_CERT_FILE": str(self.workdir / "crane-ca-bundle.pem"),
        }

    def ours_env(self) -> dict[str, str]:
        """Our CLI's environment: its own HOME, and its bytecode cached (in the work directory,
        as pip's install-time compilation does for users) even where the environment turns
        caching off, so runs measure the command and not the compiling of its modules."""
        home = self.home
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {
            **env,
            "PYTHONPYCACHEPREFIX": str(self.workdir / "pycache"),
            "HOME": str(home),
            "DOCKER_CONFIG": str(home / ".docker"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }

    def ours(self, *args: str | Path) -> list[str | Path]:
        """The argv of our CLI, run as users run it (``regauth`` is this entry point)."""
        return [sys.executable, "-m", "jupyter_regauth", *args]

    def _login_ours(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        run(
            self.ours(
                "login", self.host, "-u", USER, "--password-stdin", "--ca-file", self.ca_file
            ),
            env=self.ours_env(),
            stdin=self.password.encode() + b"\n",
        )
