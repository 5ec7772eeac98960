"""The docker-credential-* protocol against a real helper program, and config.json routing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_regauth.credentials import DOCKER_HUB_KEY, Credentials, DockerConfig, HelperClient
from jupyter_regauth.errors import CredentialHelperError
from tests.credentials_helpers.fixtures import TestHelper, docker_dir, new_password, testhelper

__all__ = ["docker_dir", "testhelper"]  # fixtures, imported for pytest


def write_config(directory: Path, data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_client_round_trip(testhelper: TestHelper) -> None:
    password = new_password()
    client = HelperClient("testhelper")
    assert client.get("r.example") is None  # "credentials not found in native keychain"
    assert client.list() == {}
    client.store("r.example", Credentials("alice", password))
    assert testhelper.stored()["r.example"] == {
        "ServerURL": "r.example",
        "Username": "alice",
        "Secret": password,
    }
    assert client.get("r.example") == Credentials("alice", password)
    assert client.list() == {"r.example": "alice"}
    assert client.erase("r.example") is True
    assert client.erase("r.example") is False
    assert client.get("r.example") is None


def test_identity_token_uses_the_token_username(testhelper: TestHelper) -> None:
    client = HelperClient("testhelper")
    client.store("r.example", Credentials("ignored", identity_token="refresh-123"))
    assert testhelper.stored()["r.example"]["Username"] == "<token>"
    assert client.get("r.example") == Credentials(identity_token="refresh-123")


def test_missing_helper_is_a_clear_error(docker_dir: Path) -> None:
    with pytest.raises(
        CredentialHelperError, match="docker-credential-nosuch is not installed"
    ) as e:
        HelperClient("nosuch").get("r.example")
    assert e.value.hint and "credsStore" in e.value.hint
    write_config(docker_dir, {"credsStore": "nosuch"})
    with pytest.raises(CredentialHelperError, match="not installed"):
        DockerConfig().get("r.example")


def test_helper_that_is_not_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "docker-credential-noexec"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o644)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CredentialHelperError, match=r"not installed|cannot be run"):
        HelperClient("noexec").list()


def test_failing_helper_never_leaks_secrets(
    testhelper: TestHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = new_password()
    client = HelperClient("testhelper")
    client.store("r.example", Credentials("alice", password))
    monkeypatch.setenv("TESTHELPER_FAIL", "1")
    calls = [
        lambda: client.get("r.example"),
        lambda: client.store("r.example", Credentials("alice", password)),
        lambda: client.erase("r.example"),
        client.list,
    ]
    for call in calls:
        with pytest.raises(CredentialHelperError) as caught:
            call()
        error = caught.value
        assert "docker-credential-testhelper failed" in str(error)
        for text in (str(error), repr(error), json.dumps(error.to_dict())):
            assert password not in text
            assert "backend exploded" not in text


def test_protocol_error_messages_are_reported(testhelper: TestHelper) -> None:
    with pytest.raises(CredentialHelperError, match="no credentials username"):
        HelperClient("testhelper").store("r.example", Credentials(registry_token="x"))


def test_bad_helper_names_are_refused() -> None:
    for name in ("", "../evil", " pass"):
        with pytest.raises(CredentialHelperError, match="not a credential helper name"):
            HelperClient(name)


def test_creds_store_round_trip_through_config(docker_dir: Path, testhelper: TestHelper) -> None:
    path = write_config(docker_dir, {"credsStore": "testhelper", "psFormat": "x"})
    password = new_password()
    config = DockerConfig()
    config.store("r.example:5000", Credentials("bob", password))
    # Like docker: the secret lives in the helper, config.json keeps an empty placeholder.
    data = json.loads(path.read_text())
    assert data == {"credsStore": "testhelper", "psFormat": "x", "auths": {"r.example:5000": {}}}
    assert password not in path.read_text()
    assert testhelper.stored()["r.example:5000"]["Secret"] == password
    assert config.get("r.example:5000") == Credentials("bob", password)
    assert config.hosts() == ["r.example:5000"]
    assert config.erase("r.example:5000") is True
    assert testhelper.stored() == {}
    assert json.loads(path.read_text()) == {
        "credsStore": "testhelper",
        "psFormat": "x",
        "auths": {},
    }
    assert config.get("r.example:5000") is None


def test_helper_store_replaces_a_plain_text_entry(docker_dir: Path, testhelper: TestHelper) -> None:
    path = write_config(
        docker_dir,
        {"auths": {"r.example": {"auth": "b2xkOnNlY3JldA=="}}, "credsStore": "testhelper"},
    )
    DockerConfig().store("r.example", Credentials("new", "pw", registry_token="rt"))
    assert json.loads(path.read_text())["auths"] == {"r.example": {"registrytoken": "rt"}}


def test_cred_helpers_win_over_creds_store(docker_dir: Path, testhelper: TestHelper) -> None:
    path = write_config(
        docker_dir,
        {
            "credsStore": "nosuch",
            "credHelpers": {"helped.example": "testhelper", DOCKER_HUB_KEY: "testhelper"},
            "auths": {"plain.example": {"auth": "dTpw"}},
        },
    )
    config = DockerConfig()
    password = new_password()
    config.store("helped.example", Credentials("carol", password))
    config.store("docker.io", Credentials("hubuser", password))
    assert set(testhelper.stored()) == {"helped.example", DOCKER_HUB_KEY}
    assert config.get("helped.example") == Credentials("carol", password)
    assert config.get("registry-1.docker.io") == Credentials("hubuser", password)
    # Other hosts go to credsStore, whose helper is missing: a clear error, as docker gives.
    with pytest.raises(CredentialHelperError, match="docker-credential-nosuch"):
        config.get("plain.example")
    assert config.erase("helped.example") is True
    data = json.loads(path.read_text())
    assert data["credHelpers"] == {"helped.example": "testhelper", DOCKER_HUB_KEY: "testhelper"}
    assert set(testhelper.stored()) == {DOCKER_HUB_KEY}


def test_empty_cred_helper_means_the_file(docker_dir: Path, testhelper: TestHelper) -> None:
    path = write_config(docker_dir, {"credsStore": "testhelper", "credHelpers": {"f.example": ""}})
    DockerConfig().store("f.example", Credentials("u", "p"))
    assert json.loads(path.read_text())["auths"]["f.example"] == {"auth": "dTpw"}
    assert testhelper.stored() == {}


def test_cred_helper_matched_by_host(docker_dir: Path, testhelper: TestHelper) -> None:
    write_config(docker_dir, {"credHelpers": {"https://r.example:5000/v2/": "testhelper"}})
    DockerConfig().store("r.example:5000", Credentials("u", "p"))
    assert set(testhelper.stored()) == {"r.example:5000"}


def test_hosts_skips_a_broken_cred_helper(docker_dir: Path, testhelper: TestHelper) -> None:
    write_config(
        docker_dir,
        {
            "credHelpers": {"ok.example": "testhelper", "broken.example": "nosuch"},
            "auths": {"file.example": {"auth": "dTpw"}},
        },
    )
    HelperClient("testhelper").store("ok.example", Credentials("u", "p"))
    assert DockerConfig().hosts() == ["file.example", "ok.example"]
