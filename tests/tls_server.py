"""A small loopback TLS server for tests of the client's TLS and connection handling."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jupyter_regauth.testing.pki import KeyPair, issue

# A registry's answer to GET /v2/.
OK = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    b"Docker-Distribution-API-Version: registry/2.0\r\n\r\n{}"
)


@contextmanager
def tls_server(
    ca: KeyPair, tmp_path: Path, handle: Callable[[ssl.SSLSocket], None]
) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a server whose certificate ``ca`` issued; ``handle`` is given each
    connection once its handshake is done (a client that refuses the certificate is dropped)."""
    cert, key = issue(ca, "loopback", names=("127.0.0.1",)).write(tmp_path, f"server-{id(ca)}")
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
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    handle(tls)
            except OSError:  # ssl.SSLError included: the client refused the certificate
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def read_request(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = tls.recv(65536)
        if not piece:
            break
        data += piece
    return data


def answer_ok(tls: ssl.SSLSocket) -> None:
    if read_request(tls):
        tls.sendall(OK)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


def response(status: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """An HTTP/1.1 answer that closes its connection (one request per connection)."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _more(tls: ssl.SSLSocket) -> bytes:
    piece = tls.recv(65536)
    if not piece:
        raise ConnectionError("the client closed the connection within a chunked body")
    return piece


def _chunked(tls: ssl.SSLSocket, data: bytes) -> bytes:
    """The body of a chunked request, ``data`` being what was read of it already."""
    body = b""
    while True:
        while b"\r\n" not in data:
            data += _more(tls)
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(data) < size + 2:  # the chunk and its CRLF (or, after the last, the end)
            data += _more(tls)
        if not size:
            return body
        body, data = body + data[:size], data[size + 2 :]


def scripted(answer: Callable[[Request], bytes]) -> Callable[[ssl.SSLSocket], None]:
    """A connection handler that parses one request (its body included, sized or chunked) and
    sends what ``answer`` makes of it: a stand-in for registries that act as distribution does
    not."""

    def handle(tls: ssl.SSLSocket) -> None:
        data = read_request(tls)
        if not data:
            return
        head, _, body = data.partition(b"\r\n\r\n")
        first, *fields = head.decode("latin-1").split("\r\n")
        method, path, _ = first.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _chunked(tls, body)
        while len(body) < int(headers.get("content-length", "0")):
            body += tls.recv(65536)
        tls.sendall(answer(Request(method, path, headers, body)))

    return handle
