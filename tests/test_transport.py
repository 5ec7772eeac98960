"""The memory-BIO TLS transport, against the real registry and small loopback TLS servers."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.registry.client import RegistryClient
from jupyter_regauth.registry.errors import RegistryUnreachable
from jupyter_regauth.registry.transport import MemoryTLSStream
from jupyter_regauth.registry.trust import TrustConfig
from jupyter_regauth.registry.upload import push_stream
from jupyter_regauth.testing.pki import issue

from .conftest import PKI, Registry

MIB = 1 << 20


def test_registry_traffic_goes_out_in_whole_writes(
    basic_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert basic_registry.ca_file is not None
    trust = TrustConfig(ca_pem=basic_registry.ca_file.read_bytes())
    creds = Credentials(username="alice", password=basic_registry.password)
    sends: list[int] = []
    real_flush = MemoryTLSStream._flush

    def counting_flush(self: MemoryTLSStream) -> None:
        sends.append(self._outgoing.pending)
        real_flush(self)

    monkeypatch.setattr(MemoryTLSStream, "_flush", counting_flush)
    blob = os.urandom(5 * MIB)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with RegistryClient(basic_registry.host, credentials=creds, trust=trust) as client:
        response = client.send("GET", "/v2/")
        assert isinstance(response.extensions["network_stream"], MemoryTLSStream)
        sends.clear()

        def chunks(offset: int) -> Iterator[bytes]:
            for start in range(offset, len(blob), MIB):
                yield blob[start : start + MIB]

        result = push_stream(client, "transport/blob", chunks, lambda: digest)
        assert result.state == "uploaded" and result.size == len(blob)
        assert client.head_blob("transport/blob", digest) == len(blob)
    # Each 1 MiB chunk left in one send (about 64 TLS records), not one send per record.
    big = [n for n in sends if n > MIB]
    assert len(big) == 5, sends
    assert len([n for n in sends if n > 0]) < 20, sends


@contextmanager
def _tls_server(pki: PKI, tmp_path: Path, handle: Callable[[ssl.SSLSocket], None]) -> Iterator[str]:
    cert, key = issue(pki.ca, "loopback", names=("127.0.0.1",)).write(tmp_path, "server")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with context.wrap_socket(conn, server_side=True) as tls:
                handle(tls)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def _read_request(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = tls.recv(65536)
        if not piece:
            break
        data += piece
    return data


OK = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    b"Docker-Distribution-API-Version: registry/2.0\r\n\r\n{}"
)


def test_a_pooled_connection_the_server_closed_is_not_reused(pki: PKI, tmp_path: Path) -> None:
    served = []

    def answer_once_then_close(tls: ssl.SSLSocket) -> None:
        if _read_request(tls):
            tls.sendall(OK)  # keep-alive by HTTP/1.1 default, then closed while idle
            served.append(1)

    with _tls_server(pki, tmp_path, answer_once_then_close) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            assert client.send("GET", "/v2/").status_code == 200
            threading.Event().wait(0.2)  # the server has closed its side by now
            assert client.send("GET", "/v2/").status_code == 200
    assert len(served) == 2


def test_a_server_that_never_answers_times_out(pki: PKI, tmp_path: Path) -> None:
    def silent(tls: ssl.SSLSocket) -> None:
        _read_request(tls)
        threading.Event().wait(1.5)

    with _tls_server(pki, tmp_path, silent) as host:
        trust = TrustConfig(ca_pem=pki.ca.cert_pem)
        with RegistryClient(host, trust=trust, timeout=0.5) as client:
            with pytest.raises(RegistryUnreachable, match="did not answer in time"):
                client.send("GET", "/v2/")
