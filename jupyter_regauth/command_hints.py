"""The fixes the ``regauth`` command and the ``%regauth`` magics word as their own commands.

Core errors say what to do in words every front end can act on; these two front ends share
one parser (the magics take the CLI's verbs and options), so one table serves both, with
``prog`` (``regauth`` or ``%regauth``) in front of each command. Entries are keyed by the
error's ``code`` and read the error's ``to_dict()``; an entry (or a code) with nothing of its
own to say leaves the core's hint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Error = Mapping[str, Any]


def _host(error: Error) -> str:
    return str(error.get("host") or "HOST")


def _unknown_ca(error: Error, prog: str) -> str:
    host = _host(error)
    return (
        f"if the fingerprint is right, trust its CA with `{prog} trust {host}`, "
        f"or log in with `{prog} login {host} --ca-file PEM`"
    )


def _client_certificate(error: Error, prog: str) -> str | None:
    if error.get("sent"):
        return None  # the certificate given was refused: nothing to add on a command line
    host = _host(error)
    return (
        f"log in with `{prog} login {host} --client-cert CERT --client-key KEY`, "
        f"or put client.cert and client.key in certs.d/{host}/"
    )


HINTS: dict[str, Callable[[Error, str], str | None]] = {
    "unknown_ca": _unknown_ca,
    "client_certificate_required": _client_certificate,
}


def command_hint(error: Error, prog: str) -> str | None:
    """The hint to show on the command line for ``error`` (a ``RegAuthError.to_dict()``)."""
    word = HINTS.get(str(error.get("code")))
    hint = word(error, prog) if word else None
    core = error.get("hint")
    return hint or (str(core) if core else None)
