"""Scrubbing known secrets out of text and log records.

Besides the raw values, the forms a secret travels in are scrubbed too: docker's base64
``auth`` value (which is also what follows ``Authorization: Basic``).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable

from .types import Credentials

MASK = "***"


def secret_forms(creds: Credentials) -> list[str]:
    """Every string that would reveal ``creds``: the secrets and the base64 ``auth`` value."""
    forms = creds.secrets()
    if creds.password:
        forms.append(base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode())
    return forms


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***``."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from messages and tracebacks.

    Attach it to handlers (``handler.addFilter(f)``) so records from every logger pass through
    it; the rendered message replaces ``msg``/``args`` so formatters never see the raw values.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = {s for s in secrets if s}

    def __repr__(self) -> str:
        return f"SecretFilter({len(self._secrets)} secrets)"

    def add(self, *secrets: str) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def add_credentials(self, creds: Credentials) -> None:
        self.add(*secret_forms(creds))

    def discard(self, *secrets: str) -> None:
        with self._lock:
            self._secrets.difference_update(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = list(self._secrets)
        if not secrets:
            return True
        record.msg = mask(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, secrets)
        return True
