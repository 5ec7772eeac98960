"""The command-line front ends' own hints: each names commands and options that exist in that
front end (the ``regauth`` parser, the ``%regauth`` magics' parser), and the core's hint, which
every other front end shows, names neither."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import ssl
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from jupyter_regauth.cli import build_parser, write_digest_file
from jupyter_regauth.command_hints import HINTS, command_hint
from jupyter_regauth.errors import RegAuthError
from jupyter_regauth.images.errors import NotAnArtifact
from jupyter_regauth.kube.client import connect, failure
from jupyter_regauth.kube.errors import (
    ForeignSecret,
    InvalidSelector,
    KubeletNeedsPassword,
    LayoutConflict,
    NamespaceNotFound,
)
from jupyter_regauth.kube.notes import Note, pod_defaults_not_served, service_accounts_not_listed
from jupyter_regauth.magics import RegAuthMagics
from jupyter_regauth.registry.trust import explain_tls_failure

HOST = "127.0.0.1:1"  # nothing listens: the chain is not fetched for the message


def _tls(error: ssl.SSLError, *, client_cert: Path | None = None) -> RegAuthError:
    return explain_tls_failure(HOST, error, client_cert=client_cert)


def _unverified(code: int) -> ssl.SSLError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = code
    return error


def _alert() -> ssl.SSLError:
    error = ssl.SSLError(1, "alert")
    error.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    return error


def _no_kubeconfig() -> RegAuthError:
    try:
        connect(kubeconfig="/nonexistent/kubeconfig", environ={})
    except RegAuthError as error:
        return error
    raise AssertionError("connected without a kubeconfig")


def _digest_not_written() -> RegAuthError:
    try:
        write_digest_file(Path("/dev/full"), ["sha256:" + "0" * 64], "Pushed")
    except RegAuthError as error:
        return error
    raise AssertionError("/dev/full took the digest")


# One error as the core raises it (or a Kubernetes report's note as it makes it) of each code
# that has a command-line form, and whether that form is its own (False: the core's hint says
# all there is to say).
SAMPLES: list[tuple[RegAuthError | Note, bool]] = [
    (_tls(_unverified(20)), True),
    (_tls(_alert()), True),
    (_tls(_alert(), client_cert=Path("client.cert")), False),
    (KubeletNeedsPassword(HOST, "an identity token"), True),
    (NamespaceNotFound("namespace team-a does not exist", "team-a"), True),
    (failure("get", "secrets", "team-a", ApiException(status=403, reason="Forbidden")), True),
    (InvalidSelector("team in (a"), True),
    (_no_kubeconfig(), True),
    (LayoutConflict("mixed", namespace="a", hosts=["r.a"], kaptain_names=True, home="/h"), True),
    (LayoutConflict("mixed", namespace="a", hosts=["r.a"], kaptain_names=False, home="/h"), True),
    (ForeignSecret("team-a", "docker-secret", kaptain_names=True), True),
    (ForeignSecret("team-a", "regauth-docker-secret", kaptain_names=False), False),
    (NotAnArtifact(f"{HOST}/team/model:v1", index=True), True),
    (NotAnArtifact(f"{HOST}/team/model:v1", index=False), True),
    (_digest_not_written(), True),
    (pod_defaults_not_served(HOST), True),
    (service_accounts_not_listed(HOST, "team-a", ["default", "default-editor"]), True),
]
PARSERS = {"regauth": build_parser(), "%regauth": RegAuthMagics(None).parser()}
OPTION = re.compile(r"(?<![\w-])(--?[a-z][\w-]*)")


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of the parser and of its subcommands, nested ones included."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


def _parses(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit:
            return False
    return True


def _outside_backticks(text: str) -> str:
    return re.sub(r"`[^`]*`", "", text)


def test_every_code_with_a_command_line_form_has_a_sample() -> None:
    assert {error.code for error, _ in SAMPLES} == set(HINTS)


@pytest.mark.parametrize("prog", sorted(PARSERS))
@pytest.mark.parametrize(("error", "own"), SAMPLES, ids=lambda v: getattr(v, "code", str(v)))
def test_hints_name_what_the_front_end_has(
    error: RegAuthError | Note, own: bool, prog: str
) -> None:
    parser = PARSERS[prog]
    hint = command_hint(error.to_dict(), prog)
    assert hint
    if not own:
        assert hint == error.hint
        return
    assert hint != error.hint
    commands = re.findall(r"`([^`]*)`", hint)
    for command in commands:
        if command.split()[0] in ("regauth", "%regauth"):
            words = shlex.split(command)
            assert words[0] == prog, f"{hint!r} names another front end's command"
            assert _parses(parser, words[1:]), f"{command!r} is not a valid {prog} command"
    for option in OPTION.findall(_outside_backticks(hint)):
        assert option in _options(parser), f"{prog} has no option {option} ({hint!r})"


@pytest.mark.parametrize(("error", "own"), SAMPLES, ids=lambda v: getattr(v, "code", str(v)))
def test_core_hints_name_no_command_line(error: RegAuthError | Note, own: bool) -> None:
    core = error.hint or ""
    assert not re.search(r"(?<![\w-])%?regauth ", core), core
    assert not OPTION.findall(_outside_backticks(core)), core
