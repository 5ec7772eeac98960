"""``regauth`` end to end, as a shell user runs it, against the real registry."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as dt
import json
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jupyter_regauth.credentials import Credentials
from jupyter_regauth.profiles import ProfileStore
from jupyter_regauth.registry.trust import fetch_chain, fingerprint
from jupyter_regauth.service import RegAuth
from jupyter_regauth.testing.pki import issue, make_ca
from jupyter_regauth.testing.registry import LocalRegistry

from .cli_helpers import config_json, regauth
from .conftest import PKI, Registry, logged_in_to, new_password
from .credentials_helpers.fixtures import TestHelper, testhelper

__all__ = ["testhelper"]  # a fixture, imported for pytest


def login(registry: Registry, *extra: str, password: str | None = None) -> tuple[int, str, str]:
    run = regauth(
        "login",
        registry.host,
        "--username",
        registry.username,
        "--password-stdin",
        *extra,
        stdin=(password if password is not None else registry.password) + "\n",
    )
    return run.code, run.stdout, run.stderr


def test_login_right_stores_everything(basic_registry: Registry, docker_config: Path) -> None:
    code, out, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file))
    assert (code, out.strip()) == (0, "Login Succeeded"), err
    entry = config_json(docker_config)["auths"][basic_registry.host]
    assert base64.b64decode(entry["auth"]).decode() == f"alice:{basic_registry.password}"
    assert stat.S_IMODE((docker_config / "config.json").stat().st_mode) == 0o600
    ca = Path.home() / ".config/containers/certs.d" / basic_registry.host / "ca.crt"
    assert basic_registry.ca_file is not None
    assert ca.read_bytes() == basic_registry.ca_file.read_bytes()
    status = regauth("ls", "--json").json()
    [row] = [r for r in status if r["host"] == basic_registry.host]
    assert row["reachable"] and row["trusted"] and row["authenticated"]
    assert row["username"] == "alice" and row["source"] == "user"


def test_ls_names_where_a_host_asked_about_comes_from(
    basic_registry: Registry, docker_config: Path
) -> None:
    """A host in neither a profile nor config.json is "none", not "config"."""
    [row] = regauth("ls", basic_registry.host, "--json").json()
    assert (row["source"], row["username"]) == ("none", None)
    token = base64.b64encode(f"alice:{basic_registry.password}".encode()).decode()
    docker_config.mkdir(parents=True, exist_ok=True)
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {basic_registry.host: {"auth": token}}})
    )
    [row] = regauth("ls", basic_registry.host, "--json").json()
    assert (row["source"], row["username"]) == ("config", "alice")


def test_ls_asks_every_registry_at_once(basic_registry: Registry, docker_config: Path) -> None:
    """A registry that never answers holds up its own row only: each is asked before the one
    before it has given up, and the rows keep their order."""
    accepted: list[float] = []
    silent = []
    for _ in range(2):
        server = socket.create_server(("127.0.0.1", 0))
        silent.append(server)

        def accept(server: socket.socket = server) -> None:
            with contextlib.suppress(OSError):
                connection, _ = server.accept()
                accepted.append(time.monotonic())
                while connection.recv(4096):  # read, never answer, until the client gives up
                    pass

        threading.Thread(target=accept, daemon=True).start()
    hosts = [f"127.0.0.1:{s.getsockname()[1]}" for s in silent] + [basic_registry.host]
    service = RegAuth(profiles=ProfileStore([{"host": h} for h in hosts]), timeout=1.5)
    started = time.monotonic()
    rows = service.statuses()
    try:
        assert [r.host for r in rows] == [r.host for r in service.registries()]
        reachable = {r.host: r.reachable for r in rows}
        assert reachable == {hosts[0]: False, hosts[1]: False, basic_registry.host: True}
        assert len(accepted) == 2
        assert max(accepted) - started < service.timeout, "asked one after the other"
        # Hosts asked about by name, in the order given.
        asked = service.statuses([basic_registry.host, "127.0.0.1:1"])
        assert [r.reachable for r in asked] == [True, False]
    finally:
        for server in silent:
            server.close()


def test_the_command_leaves_out_modules_it_never_uses(
    basic_registry: Registry, docker_config: Path
) -> None:
    """trio and anyio (httpcore's async support), httpx's own CLI and its zstd decoder are
    blocked before anything imports httpx, and traitlets (the server's configuration) is not
    loaded; a login makes real requests without them."""
    code = (
        "import sys\n"
        "from jupyter_regauth.__main__ import console_main\n"
        f"sys.argv = ['regauth', 'login', {basic_registry.host!r}, '-u', 'alice',"
        f" '--password-stdin', '--ca-file', {str(basic_registry.ca_file)!r}]\n"
        "code = console_main()\n"
        "print(code, sorted(m for m in ('trio', 'click', 'pygments', 'httpx._main', 'traitlets')"
        " if sys.modules.get(m)), 'httpcore' in sys.modules,"
        " [m for m in ('trio', 'anyio', 'httpx._main', 'zstandard')"
        " if m in sys.modules and sys.modules[m] is None])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=basic_registry.password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Nothing loaded, and all four blocked (not merely absent from this environment).
    expected = "0 [] True ['trio', 'anyio', 'httpx._main', 'zstandard']"
    assert done.stdout.splitlines()[-1] == expected, done.stdout + done.stderr


def test_login_wrong_password_writes_nothing(basic_registry: Registry, docker_config: Path) -> None:
    wrong = new_password()
    code, _, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file), password=wrong)
    assert code == 1
    assert f"Error: {basic_registry.host} refused the credentials for 'alice'" in err
    assert "Hint: check the username and password" in err
    assert not (docker_config / "config.json").exists()
    assert not (Path.home() / ".config/containers/certs.d").exists()


def test_login_into_a_malformed_config_writes_nothing(
    basic_registry: Registry, docker_config: Path
) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"auths": {')
    code, _, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file))
    assert code == 1
    assert "config.json: is not valid JSON" in err
    assert (docker_config / "config.json").read_text() == '{"auths": {'
    assert not (Path.home() / ".config/containers/certs.d").exists()


def test_login_unknown_ca_shows_fingerprint(basic_registry: Registry, docker_config: Path) -> None:
    code, _, err = login(basic_registry)
    leaf = fetch_chain(basic_registry.host)[0]
    assert code == 1
    assert "signed by an unknown authority" in err
    assert fingerprint(leaf) in err
    host = basic_registry.host
    assert f"`regauth trust {host}`" in err and f"`regauth login {host} --ca-file PEM`" in err
    assert not (docker_config / "config.json").exists()


def test_trust_then_login(basic_registry: Registry, docker_config: Path, pki: PKI) -> None:
    refused = regauth("trust", basic_registry.host)
    assert refused.code == 1 and "--yes" in refused.stderr
    assert fingerprint(pki.ca.cert) in refused.stderr  # shown before asking
    trusted = regauth("trust", basic_registry.host, "--yes")
    assert trusted.code == 0, trusted.stderr
    assert "Trusted for" in trusted.stdout
    again = regauth("trust", basic_registry.host, "--json")
    assert again.code == 0 and again.json()["already_trusted"] is True
    code, _out, err = login(basic_registry)
    assert code == 0, err


def test_trust_with_wrong_fingerprint_stores_nothing(
    basic_registry: Registry, docker_config: Path
) -> None:
    run = regauth("trust", basic_registry.host, "--fingerprint", "AA:" * 31 + "AA")
    assert run.code == 1 and "fingerprint that was confirmed" in run.stderr
    assert not (Path.home() / ".config/containers/certs.d").exists()


def test_logout(basic_registry: Registry, docker_config: Path) -> None:
    (docker_config).mkdir(parents=True)
    (docker_config / "config.json").write_text('{"auths": {"other:1": {"auth": "eDp5"}}, "x": 1}')
    assert login(basic_registry, "--ca-file", str(basic_registry.ca_file))[0] == 0
    run = regauth("logout", basic_registry.host)
    assert run.code == 0 and "Removing login credentials" in run.stdout
    data = config_json(docker_config)
    assert data == {"auths": {"other:1": {"auth": "eDp5"}}, "x": 1}
    [row] = [r for r in regauth("ls", "--json").json() if r["host"] == basic_registry.host]
    assert row["authenticated"] is None and row["username"] is None


def test_logout_of_a_host_docker_keyed_in_capitals(docker_config: Path) -> None:
    """`docker login Registry.Example.com` keeps the capitals; we list the host lower-cased."""
    docker_config.mkdir(parents=True)
    (docker_config / "config.json").write_text(
        '{"auths": {"Registry.Example.com": {"auth": "eDp5"}}}'
    )
    assert RegAuth().docker_config.get("registry.example.com") == Credentials("x", "y")
    run = regauth("logout", "Registry.Example.com")
    assert run.code == 0 and "Removing login credentials" in run.stdout
    assert config_json(docker_config) == {"auths": {}}


def test_token_login_stores_identity_token(token_registry: Registry, docker_config: Path) -> None:
    code, _out, err = login(token_registry, "--ca-file", str(token_registry.ca_file))
    assert code == 0, err
    entry = config_json(docker_config)["auths"][token_registry.host]
    # As docker does: the identity token, and the username with an empty password.
    assert entry["identitytoken"]
    assert base64.b64decode(entry["auth"]) == b"carol:"
    [row] = [r for r in regauth("ls", "--json").json() if r["host"] == token_registry.host]
    assert row["authenticated"] and row["auth_scheme"] == "bearer"
    assert row["token_expires_at"] is not None


def mtls_options(registry: Registry) -> list[str]:
    """The CA and the client pair that log in to the mTLS registry."""
    return [
        *("--ca-file", str(registry.ca_file)),
        *("--client-cert", str(registry.extra["client_cert"])),
        *("--client-key", str(registry.extra["client_key"])),
    ]


def test_mtls_login(mtls_registry: Registry, docker_config: Path) -> None:
    code, _, err = login(mtls_registry, "--ca-file", str(mtls_registry.ca_file))
    assert code == 1 and "requires a client certificate" in err
    assert f"`regauth login {mtls_registry.host} --client-cert CERT --client-key KEY`" in err
    code, _, err = login(mtls_registry, *mtls_options(mtls_registry))
    assert code == 0, err
    host_dir = Path.home() / ".config/containers/certs.d" / mtls_registry.host
    assert stat.S_IMODE((host_dir / "client.key").stat().st_mode) == 0o600
    assert isinstance(regauth("catalog", mtls_registry.host, "--json").json(), list)


def test_an_expired_client_certificate_is_named_as_expired(
    mtls_registry: Registry, docker_config: Path, pki: PKI, tmp_path: Path
) -> None:
    """The registry's TLS server says only "bad certificate"; the dates say what to do."""
    now = dt.datetime.now(dt.timezone.utc)
    ended = now - dt.timedelta(days=1)
    cert, key = issue(
        pki.ca,
        "notebook user",
        client=True,
        not_before=now - dt.timedelta(days=30),
        not_after=ended,
    ).write(tmp_path, "expired")
    expired = f"rejected the client certificate: it expired on {ended:%Y-%m-%d %H:%M} UTC"
    assert mtls_registry.ca_file is not None
    code, _, err = login(
        mtls_registry,
        *("--ca-file", str(mtls_registry.ca_file), "--client-cert", str(cert)),
        *("--client-key", str(key)),
    )
    assert code == 1 and expired in err, err
    assert not (docker_config / "config.json").exists()
    directory = certs_dir_trusting(mtls_registry)
    (directory / "client.cert").write_bytes(Path(cert).read_bytes())
    (directory / "client.key").write_bytes(Path(key).read_bytes())
    [row] = regauth("ls", mtls_registry.host, "--json").json()
    assert expired in row["error"]["message"]
    assert row["error"]["hint"].startswith("renew the client certificate")


def test_a_client_key_in_certs_d_without_its_cert_is_named(
    mtls_registry: Registry, docker_config: Path
) -> None:
    """The certificate saved as client.crt, the usual slip: docker refuses the key alone too."""
    directory = certs_dir_trusting(mtls_registry)
    for name, given in (("client.crt", "client_cert"), ("client.key", "client_key")):
        (directory / name).write_bytes(Path(str(mtls_registry.extra[given])).read_bytes())
    [row] = regauth("ls", mtls_registry.host, "--json").json()
    assert row["error"]["message"] == f"{directory / 'client.key'} has no matching client.cert"


@pytest.mark.parametrize("half", ["client.cert", "client.key"])
def test_a_login_with_a_client_pair_replaces_half_a_pair_in_certs_d(
    mtls_registry: Registry, docker_config: Path, half: str
) -> None:
    """certs.d's pair is not used when one is given, so what is broken there cannot stop the
    login that mends it."""
    directory = certs_dir(mtls_registry)
    directory.mkdir(parents=True)
    (directory / half).write_text("left from an earlier attempt")
    code, _, err = login(mtls_registry, *mtls_options(mtls_registry))
    assert code == 0, err
    for name, given in (("client.cert", "client_cert"), ("client.key", "client_key")):
        assert (directory / name).read_bytes() == Path(str(mtls_registry.extra[given])).read_bytes()


def test_prompt_refused_without_terminal(basic_registry: Registry, docker_config: Path) -> None:
    run = regauth("login", basic_registry.host, "-u", "alice")
    assert run.code == 1 and "--password-stdin" in run.stderr


def test_options_that_do_not_go_together_are_usage_errors(
    basic_registry: Registry, docker_config: Path
) -> None:
    no_user = regauth("login", basic_registry.host, "--password-stdin", stdin="pw\n")
    assert (no_user.code, no_user.stderr) == (2, "Error: --password-stdin needs --username\n")
    half = login(basic_registry, "--client-cert", "me.crt")
    assert half[0] == 2 and "--client-cert and --client-key go together" in half[2]
    assert not (docker_config / "config.json").exists()


def test_twenty_concurrent_logins(pki: PKI, tmp_path: Path, docker_config: Path) -> None:
    registries = [
        LocalRegistry(tmp_path / f"r{i}", ca=pki.ca, users={"u": new_password()}) for i in range(20)
    ]
    try:
        for registry in registries:
            registry.start()

        def one(registry: LocalRegistry) -> int:
            password = registry.users["u"]
            return regauth(
                "login",
                registry.host,
                "-u",
                "u",
                "--password-stdin",
                "--ca-file",
                str(pki.ca_file),
                stdin=password,
            ).code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            assert list(pool.map(one, registries)) == [0] * 20
        auths = config_json(docker_config)["auths"]
        assert sorted(auths) == sorted(r.host for r in registries)
        for registry in registries:
            user, _, password = (
                base64.b64decode(auths[registry.host]["auth"]).decode().partition(":")
            )
            assert (user, password) == ("u", registry.users["u"])
    finally:
        for registry in registries:
            registry.stop()


def test_malformed_config_untouched(basic_registry: Registry, docker_config: Path) -> None:
    docker_config.mkdir(parents=True)
    broken = b'{"auths": {"a": {"auth": "eA=="}},\n  "credsStore": oops\n}'
    (docker_config / "config.json").write_bytes(broken)
    code, _, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file))
    assert code == 1
    assert "line 2" in err and "column" in err
    assert (docker_config / "config.json").read_bytes() == broken


def test_status_lists_a_bad_config_key_as_its_own_row(
    basic_registry: Registry, docker_config: Path
) -> None:
    code, _, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file))
    assert code == 0, err
    config = config_json(docker_config)
    config["auths"]["reg.example:abc"] = {"auth": base64.b64encode(b"u:p").decode()}
    (docker_config / "config.json").write_text(json.dumps(config))
    run = regauth("status", "--json")
    assert run.code == 0, run.stderr
    rows = {r["host"]: r for r in run.json()}
    assert rows[basic_registry.host]["authenticated"] is True
    assert "port 'abc' must be a number" in rows["reg.example:abc"]["error"]["message"]
    bad = regauth("status", "reg.example:abc")
    assert bad.code == 1 and "port 'abc' must be a number" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_missing_credential_helper_is_shown_in_each_row_or_as_the_error(
    docker_config: Path, tmp_path: Path
) -> None:
    """A config.json copied from Docker Desktop names a helper this machine lacks: the
    registries to pick from are still listed, each saying why its login cannot be read; with
    none to list, the command fails with it rather than print an empty list."""
    docker_config.mkdir(parents=True, exist_ok=True)
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "nosuch"}))
    alone = regauth("ls", "--offline")
    assert alone.code == 1 and "docker-credential-nosuch" in alone.stderr
    assert "credsStore" in alone.stderr
    profiles = tmp_path / "registries.json"
    profiles.write_text(json.dumps([{"host": "reg.example:5000"}]))
    listed = regauth("--registries-file", str(profiles), "ls", "--offline", "--json")
    assert listed.code == 0, listed.stderr
    [row] = listed.json()
    assert row["host"] == "reg.example:5000" and row["source"] == "admin"
    assert row["error"]["code"] == "credential_helper_error"


def test_an_entry_that_does_not_decode_is_shown_in_its_row(
    basic_registry: Registry, docker_config: Path
) -> None:
    """One hand-edited entry does not hide the other registries: its row says what is wrong,
    and logging in again (which the hint advises) or out still works."""
    logged_in_to(basic_registry)
    config = config_json(docker_config)
    config["auths"]["bad.example"] = {"auth": "not base64!"}
    (docker_config / "config.json").write_text(json.dumps(config))
    run = regauth("ls", "--json")
    assert run.code == 0, run.stderr
    rows = {r["host"]: r for r in run.json()}
    assert rows[basic_registry.host]["authenticated"] is True
    assert '"auth" is not valid base64' in rows["bad.example"]["error"]["message"]
    assert regauth("logout", "bad.example").code == 0
    assert "bad.example" not in config_json(docker_config)["auths"]


def test_login_to_a_host_with_a_repository_path_is_an_error(
    basic_registry: Registry, docker_config: Path
) -> None:
    """As `%regauth use`: the path is not dropped, which would store a login for the whole
    registry where one for a repository was asked for."""
    given = f"{basic_registry.host}/team/model"
    run = regauth(
        *("login", given, "-u", "alice", "--password-stdin"),
        *("--ca-file", str(basic_registry.ca_file)),
        stdin=basic_registry.password + "\n",
    )
    assert run.code == 1
    assert run.stderr.startswith(
        f"Error: '{given}' is a registry host with a repository path (team/model)"
    ), run.stderr
    assert f"Hint: give the registry host only (HOST[:PORT]), here {basic_registry.host};" in (
        run.stderr
    )
    assert not (docker_config / "config.json").exists()
    assert not (Path.home() / ".config/containers/certs.d").exists()
    assert not user_profiles_file().exists()


def test_invalid_reference_error(docker_config: Path) -> None:
    run = regauth("inspect", "Bad Ref")
    assert run.code == 1 and "invalid reference" in run.stderr


def test_insecure_login_warns_and_is_remembered(
    basic_registry: Registry, docker_config: Path
) -> None:
    """`--insecure` (TLS not verified) works only when asked for, says so loudly, and sticks to
    that one registry's profile."""
    assert login(basic_registry)[0] == 1  # unknown CA without it
    code, out, err = login(basic_registry, "--insecure")
    assert (code, out.strip()) == (0, "Login Succeeded"), err
    assert "TLS verification is OFF" in err
    [row] = [r for r in regauth("ls", "--json").json() if r["host"] == basic_registry.host]
    assert row["insecure"] and row["authenticated"]
    assert row["trusted"] is None  # nothing was verified, so nothing is trusted
    table = regauth("ls").stdout
    assert "off" in next(line for line in table.splitlines() if basic_registry.host in line)
    assert not (Path.home() / ".config/containers/certs.d").exists()  # nothing trusted for it


def test_a_ca_file_for_an_insecure_login_is_refused(
    basic_registry: Registry, docker_config: Path, tmp_path: Path
) -> None:
    """With TLS verification off the CA given is never checked: it is refused, not stored in
    certs.d for other tools to verify with."""
    both = login(basic_registry, "--insecure", "--ca-file", str(other_ca_file(tmp_path)))
    assert both[0] == 2, both
    assert "Error: --ca-file is not used with --insecure" in both[2]
    assert "Hint: give --ca-file to verify the registry's certificate with it" in both[2]
    assert not (docker_config / "config.json").exists()
    assert not (Path.home() / ".config/containers/certs.d").exists()
    assert not user_profiles_file().exists()


def test_a_ca_file_for_a_registry_marked_insecure_is_refused(
    basic_registry: Registry, docker_config: Path, tmp_path: Path
) -> None:
    code, _, err = login(basic_registry, "--insecure")
    assert code == 0, err
    earlier = config_json(docker_config)
    code, out, err = login(basic_registry, "--ca-file", str(other_ca_file(tmp_path)))
    assert code == 1 and "Login Succeeded" not in out
    assert (
        f"Error: a CA certificate is not used for {basic_registry.host}: "
        "its profile marks it insecure" in err
    )
    assert "Hint: leave the CA out" in err
    assert config_json(docker_config) == earlier
    assert not (Path.home() / ".config/containers/certs.d").exists()


def certs_dir(registry: Registry) -> Path:
    return Path.home() / ".config/containers/certs.d" / registry.host


def certs_dir_trusting(registry: Registry) -> Path:
    """The registry's certs.d directory, made, with its CA as ca.crt."""
    directory = certs_dir(registry)
    directory.mkdir(parents=True)
    assert registry.ca_file is not None
    (directory / "ca.crt").write_bytes(registry.ca_file.read_bytes())
    return directory


def other_ca_file(tmp_path: Path) -> Path:
    """A CA that signs none of the test registries."""
    path = tmp_path / "other-ca.pem"
    path.write_bytes(make_ca("some other CA").cert_pem)
    return path


def test_login_with_a_wrong_ca_file_keeps_the_trusted_one(
    basic_registry: Registry, docker_config: Path, pki: PKI, tmp_path: Path
) -> None:
    """The CA given is verified alone: the one already in certs.d would pass it, and it would
    then replace that one."""
    trusted = certs_dir(basic_registry) / "ca.crt"
    trusted.parent.mkdir(parents=True)
    trusted.write_bytes(pki.ca.cert_pem)
    code, out, err = login(basic_registry, "--ca-file", str(other_ca_file(tmp_path)))
    assert code == 1 and "Login Succeeded" not in out
    issuer = pki.ca.cert.subject.rfc4514_string()
    assert f"does not sign the certificate of {basic_registry.host}" in err
    assert f"issued by {issuer}" in err
    assert "regauth trust" not in err and "--ca-file PEM" not in err
    assert trusted.read_bytes() == pki.ca.cert_pem
    assert not (docker_config / "config.json").exists()


def test_trust_with_a_ca_file_that_does_not_sign_says_so(
    basic_registry: Registry, docker_config: Path, pki: PKI, tmp_path: Path
) -> None:
    run = regauth("trust", basic_registry.host, "--ca-file", str(other_ca_file(tmp_path)))
    assert run.code == 1
    assert f"does not sign the certificate of {basic_registry.host}" in run.stderr
    assert f"issued by {pki.ca.cert.subject.rfc4514_string()}" in run.stderr
    assert "regauth trust" not in run.stderr and "--ca-file PEM" not in run.stderr
    assert not (Path.home() / ".config/containers/certs.d").exists()


def test_trust_uses_the_client_pair_in_certs_d(
    mtls_registry: Registry, docker_config: Path, pki: PKI
) -> None:
    pair = certs_dir(mtls_registry)
    pair.mkdir(parents=True)
    for name, given in (("client.cert", "client_cert"), ("client.key", "client_key")):
        (pair / name).write_bytes(Path(str(mtls_registry.extra[given])).read_bytes())
    fetched = regauth("trust", mtls_registry.host, "--yes")
    assert fetched.code == 0, fetched.stderr
    assert (pair / "ca.crt").read_bytes() == pki.ca.cert_pem
    (pair / "ca.crt").unlink()
    assert mtls_registry.ca_file is not None
    given = regauth("trust", mtls_registry.host, "--ca-file", str(mtls_registry.ca_file))
    assert given.code == 0, given.stderr
    assert (pair / "ca.crt").read_bytes() == mtls_registry.ca_file.read_bytes()


def test_a_certs_d_that_cannot_be_written_is_an_error_not_a_traceback(
    basic_registry: Registry, docker_config: Path
) -> None:
    """A file where certs.d/<host>/ should be (or a read-only home): trust and login name it."""
    blocked = certs_dir(basic_registry)
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a directory")
    assert basic_registry.ca_file is not None
    trusted = regauth("trust", basic_registry.host, "--ca-file", str(basic_registry.ca_file))
    assert trusted.code == 1 and "Traceback" not in trusted.stderr, trusted.stderr
    assert f"Error: cannot write to {blocked}" in trusted.stderr
    code, _, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file))
    assert code == 1 and "Traceback" not in err, err
    assert f"Error: cannot write to {blocked}" in err
    assert blocked.read_text() == "not a directory"
    assert not (docker_config / "config.json").exists()
    assert not user_profiles_file().exists()


def test_a_ca_file_in_certs_d_that_does_not_load_is_named(
    basic_registry: Registry, docker_config: Path
) -> None:
    directory = certs_dir_trusting(basic_registry)
    broken = directory / "extra.crt"  # a truncated copy-paste
    broken.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    run = regauth("catalog", basic_registry.host)
    assert run.code == 1
    assert f"Error: {broken} is not a valid PEM CA certificate" in run.stderr
    [row] = regauth("ls", basic_registry.host, "--json").json()
    assert str(broken) in row["error"]["message"]


@pytest.mark.parametrize("trusted_before", [False, True], ids=["new", "already trusted"])
def test_a_login_whose_credentials_cannot_be_stored_leaves_certs_d_and_profiles_as_they_were(
    mtls_registry: Registry,
    docker_config: Path,
    testhelper: TestHelper,
    monkeypatch: pytest.MonkeyPatch,
    pki: PKI,
    trusted_before: bool,
) -> None:
    docker_config.mkdir(parents=True)
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "testhelper"}))
    monkeypatch.setenv("TESTHELPER_FAIL", "1")
    directory = certs_dir(mtls_registry)
    kept = b"# the registry's CA, as its administrator sent it\n" + pki.ca.cert_pem
    if trusted_before:
        directory.mkdir(parents=True)
        (directory / "ca.crt").write_bytes(kept)
        (directory / "ca.crt").chmod(0o640)
    assert mtls_registry.ca_file is not None
    code, _, err = login(mtls_registry, *mtls_options(mtls_registry))
    assert code == 1 and "testhelper" in err
    assert testhelper.stored() == {}
    if trusted_before:
        assert sorted(p.name for p in directory.iterdir()) == ["ca.crt"]
        assert (directory / "ca.crt").read_bytes() == kept
        assert stat.S_IMODE((directory / "ca.crt").stat().st_mode) == 0o640
    else:
        assert not (Path.home() / ".config/containers/certs.d").exists()
        assert not (Path.home() / ".config/containers").exists()
    assert not user_profiles_file().exists()  # the profile saved first is taken back


def user_profiles_file() -> Path:
    return Path.home() / ".config/jupyter-regauth/registries.json"


def test_a_login_whose_profile_cannot_be_saved_stores_nothing(
    basic_registry: Registry, docker_config: Path
) -> None:
    """The profile is saved before the CA and the credentials: when it cannot be, the login
    fails saying why, and the login there was for the host is still the one stored."""
    earlier = {"auths": {basic_registry.host: {"auth": base64.b64encode(b"bob:old").decode()}}}
    docker_config.mkdir(parents=True)
    (docker_config / "config.json").write_text(json.dumps(earlier))
    profiles = user_profiles_file()
    profiles.parent.mkdir(parents=True)
    (profiles.parent / "registries.json.lock").mkdir()  # the file cannot be locked to write it
    code, out, err = login(basic_registry, "--ca-file", str(basic_registry.ca_file))
    assert code == 1 and "Login Succeeded" not in out
    assert f"Error: cannot save the registries in {profiles}: Is a directory" in err, err
    assert "Traceback" not in err
    assert config_json(docker_config) == earlier
    assert not (Path.home() / ".config/containers/certs.d").exists()
    assert not profiles.exists()
