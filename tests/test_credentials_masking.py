"""Scrubbing secrets out of text and log records."""

from __future__ import annotations

import base64
import io
import logging

from jupyter_regauth.credentials import Credentials, SecretFilter, mask, secret_forms


def test_mask_replaces_every_secret_longest_first() -> None:
    text = "token=abc123 and abc123-extended and abc"
    assert mask(text, ["abc123-extended", "abc123", ""]) == "token=*** and *** and abc"
    assert mask("nothing here", []) == "nothing here"


def test_secret_forms_include_the_basic_auth_value() -> None:
    creds = Credentials("alice", "pw:1", identity_token="idt")
    encoded = base64.b64encode(b"alice:pw:1").decode()
    assert set(secret_forms(creds)) == {"pw:1", "idt", encoded}
    assert secret_forms(Credentials("alice")) == []


def test_filter_scrubs_messages_arguments_and_tracebacks() -> None:
    creds = Credentials("alice", "s3cr3t-pass")
    encoded = base64.b64encode(b"alice:s3cr3t-pass").decode()
    secret_filter = SecretFilter()
    secret_filter.add_credentials(creds)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(secret_filter)
    logger = logging.getLogger("test_credentials_masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("login with %s", "s3cr3t-pass")
        logger.warning("header Authorization: Basic %s", encoded)
        try:
            raise ValueError("failed with s3cr3t-pass")
        except ValueError:
            logger.exception("boom")
        secret_filter.discard("s3cr3t-pass")
        logger.warning("after discard: s3cr3t-pass")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue()
    assert "login with ***" in lines
    assert "Basic ***" in lines
    assert "ValueError: failed with ***" in lines
    assert lines.count("s3cr3t-pass") == 1 and "after discard: s3cr3t-pass" in lines
    assert "s3cr3t" not in repr(secret_filter)
