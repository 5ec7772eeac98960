"""The ``docker-credential-<name>`` protocol, as docker-credential-helpers' client speaks it.

Each action runs the helper once: ``get`` and ``erase`` write the server URL to stdin, ``store``
writes ``{"ServerURL", "Username", "Secret"}`` JSON, ``list`` writes ``unused``. On failure the
helper exits non-zero and prints its error on stdout; ``credentials not found in native keychain``
means there is nothing stored. A username of ``<token>`` marks the secret as an identity token.
Helper output may echo secrets, so it never goes into an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..errors import CredentialHelperError
from .types import Credentials

PREFIX = "docker-credential-"
TOKEN_USERNAME = "<token>"  # noqa: S105 (a protocol marker, not a password)
NOT_FOUND = "credentials not found in native keychain"
# The other messages docker-credential-helpers standardizes; they are safe to repeat.
_KNOWN_MESSAGES = ("no credentials server URL", "no credentials username")


class HelperClient:
    """Runs one credential helper, e.g. ``HelperClient("pass")`` -> ``docker-credential-pass``."""

    def __init__(self, name: str, *, timeout: float = 60.0) -> None:
        if not name or "/" in name or name != name.strip():
            raise CredentialHelperError(
                f"{name!r} is not a credential helper name",
                hint="use the part after 'docker-credential-', e.g. 'pass' or 'secretservice'",
            )
        self.name = name
        self.program = PREFIX + name
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HelperClient({self.name!r})"

    def get(self, server_url: str) -> Credentials | None:
        """The credentials stored for ``server_url``, or None when the helper has none."""
        ok, out = self._run("get", server_url.encode(), server_url)
        if not ok:
            if out.strip() == NOT_FOUND:
                return None
            raise self._failed("get credentials for", server_url, out)
        fields = _fields(self._decode(out, "get", server_url))
        username, secret = fields.get("username", ""), fields.get("secret", "")
        if not (username or secret):
            return None
        if username == TOKEN_USERNAME:
            return Credentials(identity_token=secret)
        return Credentials(username=username, password=secret)

    def store(self, server_url: str, creds: Credentials) -> None:
        """Store a username/password or an identity token (registry tokens stay in the file)."""
        username, secret = creds.username, creds.password
        if creds.identity_token:
            username, secret = TOKEN_USERNAME, creds.identity_token
        payload = json.dumps({"ServerURL": server_url, "Username": username, "Secret": secret})
        ok, out = self._run("store", payload.encode() + b"\n", server_url)
        if not ok:
            raise self._failed("store credentials for", server_url, out)

    def erase(self, server_url: str) -> bool:
        """Erase what is stored for ``server_url``; False when there was nothing to erase."""
        ok, out = self._run("erase", server_url.encode(), server_url)
        if not ok:
            if out.strip() == NOT_FOUND:
                return False
            raise self._failed("erase credentials for", server_url, out)
        return True

    def list(self) -> dict[str, str]:
        """Server URL -> username of everything the helper stores."""
        ok, out = self._run("list", b"unused", "")
        if not ok:
            raise self._failed("list credentials", "", out)
        data = self._decode(out, "list", "")
        if not all(isinstance(v, str) for v in data.values()):
            raise self._bad_output("list", "")
        return {str(k): str(v) for k, v in data.items()}

    def _run(self, action: str, stdin: bytes, server_url: str) -> tuple[bool, str]:
        import subprocess  # here: most commands never run a helper, and it is slow to import

        try:
            proc = subprocess.run(
                [self.program, action],
                input=stdin,
                capture_output=True,  # stderr is dropped, not shown: it may hold secrets
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise CredentialHelperError(
                f"the credential helper {self.program} is not installed (not found on PATH)",
                hint=f"install {self.program}, or remove '{self.name}' from credsStore/"
                "credHelpers in the docker config.json",
            ) from None
        except PermissionError:
            raise CredentialHelperError(
                f"the credential helper {self.program} cannot be run (permission denied)",
                hint=f"make it executable: chmod +x $(command -v {self.program})",
            ) from None
        except subprocess.TimeoutExpired:
            raise CredentialHelperError(
                f"the credential helper {self.program} did not finish its {action} "
                f"{'for ' + server_url + ' ' if server_url else ''}within {self.timeout:g}s",
                hint="it may be waiting for a password prompt or an unlocked keyring",
            ) from None
        return proc.returncode == 0, proc.stdout.decode(errors="replace")

    def _decode(self, out: str, action: str, server_url: str) -> dict[str, object]:
        try:
            data = json.loads(out)
        except json.JSONDecodeError:
            raise self._bad_output(action, server_url) from None
        if not isinstance(data, dict):
            raise self._bad_output(action, server_url)
        return data

    def _bad_output(self, action: str, server_url: str) -> CredentialHelperError:
        target = f" for {server_url}" if server_url else ""
        return CredentialHelperError(
            f"the credential helper {self.program} answered {action}{target} with output that "
            "is not the JSON the protocol expects",
            hint=f"check that {self.program} is a docker credential helper",
        )

    def _failed(self, what: str, server_url: str, out: str) -> CredentialHelperError:
        reason = out.strip()
        detail = f": {reason}" if reason in _KNOWN_MESSAGES else ""
        target = f" {server_url}" if server_url else ""
        return CredentialHelperError(
            f"the credential helper {self.program} failed to {what}{target}{detail}",
            hint=f"run '{self.program} {what.split()[0]}' by hand to see its own message",
        )


def _fields(data: Mapping[str, object]) -> dict[str, str]:
    """Lower-cased string fields: Go's JSON decoding matches field names case-insensitively."""
    return {str(k).lower(): v for k, v in data.items() if isinstance(v, str)}
