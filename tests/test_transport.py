"""The memory-BIO TLS transport, against the real registry and small loopback TLS servers."""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.registry.client import RegistryClient
from jupyter_regauth.registry.errors import RegistryUnreachable
from jupyter_regauth.registry.transport import MemoryTLSStream
from jupyter_regauth.registry.trust import TrustConfig
from jupyter_regauth.registry.upload import push_stream

from .conftest import PKI, Registry
from .tls_server import OK, read_request, tls_server

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


def test_a_pooled_connection_the_server_closed_is_not_reused(pki: PKI, tmp_path: Path) -> None:
    served = []

    def answer_once_then_close(tls: ssl.SSLSocket) -> None:
        if read_request(tls):
            tls.sendall(OK)  # keep-alive by HTTP/1.1 default, then closed while idle
            served.append(1)

    with tls_server(pki.ca, tmp_path, answer_once_then_close) as host:
        with RegistryClient(host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
            assert client.send("GET", "/v2/").status_code == 200
            threading.Event().wait(0.2)  # the server has closed its side by now
            assert client.send("GET", "/v2/").status_code == 200
    assert len(served) == 2


def test_a_server_that_never_answers_times_out(pki: PKI, tmp_path: Path) -> None:
    def silent(tls: ssl.SSLSocket) -> None:
        read_request(tls)
        threading.Event().wait(1.5)

    with tls_server(pki.ca, tmp_path, silent) as host:
        trust = TrustConfig(ca_pem=pki.ca.cert_pem)
        with RegistryClient(host, trust=trust, timeout=0.5) as client:
            with pytest.raises(RegistryUnreachable, match="did not answer in time"):
                client.send("GET", "/v2/")
