"""Start etcd and kube-apiserver on loopback the way envtest does: generated serving and client
certificates, service-account signing keys, RBAC authorization. No kubelet or controller manager
runs, so pods stay Pending and their admitted spec is what tests inspect."""

from __future__ import annotations

import datetime as dt
import functools
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jupyter_regauth.testing.pki import LOOPBACK_NAMES, KeyPair, issue, make_ca
from jupyter_regauth.testing.registry import free_port

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-control-plane"
SERVICE_CIDR = "10.0.0.0/24"


@functools.cache
def control_plane_binaries() -> dict[str, Path]:
    """Paths of the pinned binaries, built by ``scripts/build-control-plane`` when missing."""
    done = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-30:])
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed:\n{tail}")
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {name: Path(path) for name, path in pairs}


def client_certificate(ca: KeyPair, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
    """A client certificate the API server maps to ``user`` (CN) in ``groups`` (O)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        + [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return KeyPair(cert, key)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, argv: list[str], log: Path) -> Process:
        with log.open("wb") as out:
            popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        return cls(name, popen, log)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f}s:\n{self.tail()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class ControlPlane:
    """etcd + kube-apiserver under ``workdir``; ``start()`` blocks until ``/readyz`` is green."""

    workdir: Path
    binaries: dict[str, Path]
    ca: KeyPair = field(default_factory=lambda: make_ca("jupyter-regauth test cluster CA"))
    processes: list[Process] = field(default_factory=list)
    port: int = 0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    def start(self) -> None:
        pki = self.workdir / "pki"
        self.ca.write(pki, "ca")
        serving = issue(self.ca, "kube-apiserver", names=(*LOOPBACK_NAMES, "10.0.0.1"))
        serving_cert, serving_key = serving.write(pki, "apiserver")
        signer = ec.generate_private_key(ec.SECP256R1())
        sa_key, sa_pub = pki / "service-account.key", pki / "service-account.pub"
        sa_key.touch(mode=0o600)
        sa_key.write_bytes(
            signer.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        sa_pub.write_bytes(
            signer.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        etcd_port, peer_port, self.port = free_port(), free_port(), free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        etcd = self._launch(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",  # throwaway data: skip fsync so tests stay fast
            ],
        )
        etcd.wait_until(lambda: httpx.get(f"{etcd_url}/health", timeout=2).status_code == 200)
        apiserver = self._launch(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--tls-cert-file={serving_cert}",
                f"--tls-private-key-file={serving_key}",
                f"--client-ca-file={self.ca_file}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
            ],
        )
        admin = client_certificate(self.ca, "regauth-admin", ("system:masters",))
        admin_cert, admin_key = admin.write(pki, "admin")
        tls = ssl.create_default_context(cafile=self.ca_file)
        tls.load_cert_chain(admin_cert, admin_key)
        with httpx.Client(verify=tls) as c:
            apiserver.wait_until(lambda: c.get(f"{self.server}/readyz", timeout=5).is_success)

    def _launch(self, name: str, args: list[str]) -> Process:
        process = Process.start(
            name, [str(self.binaries[name]), *args], self.workdir / f"{name}.log"
        )
        self.processes.append(process)
        return process

    def kubeconfig(self, user: str, groups: tuple[str, ...] = (), namespace: str = "") -> Path:
        """Write a kubeconfig for ``user`` (a fresh client certificate) and return its path."""
        pair = client_certificate(self.ca, user, groups)
        cert, key = pair.write(self.workdir / "users", user)
        context: dict[str, str] = {"cluster": "regauth-test", "user": user}
        if namespace:
            context["namespace"] = namespace
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "regauth-test",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [
                {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
            ],
            "contexts": [{"name": user, "context": context}],
            "current-context": user,
        }
        path = self.workdir / "users" / f"{user}.kubeconfig"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(document))
        return path

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
