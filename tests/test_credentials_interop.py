"""Peers read what we write and we read what they write: skopeo and the docker CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from jupyter_regauth.credentials import Credentials, DockerConfig
from tests.conftest import Registry
from tests.credentials_helpers.fixtures import TestHelper, docker_dir, new_password, testhelper

__all__ = ["docker_dir", "testhelper"]  # fixtures, imported for pytest


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)


def get_login(authfile: Path, host: str) -> str:
    result = run("skopeo", "login", "--get-login", "--authfile", str(authfile), host)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_skopeo_reads_what_we_write(docker_dir: Path) -> None:
    config = DockerConfig()
    config.store("registry.example:5000", Credentials("alice", new_password()))
    config.store("docker.io", Credentials("hubuser", new_password()))
    assert get_login(config.path, "registry.example:5000") == "alice"
    assert get_login(config.path, "docker.io") == "hubuser"


def test_skopeo_reads_through_our_cred_helper_entry(
    docker_dir: Path, testhelper: TestHelper
) -> None:
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text('{"credHelpers": {"helped.example": "testhelper"}}')
    config = DockerConfig()
    config.store("helped.example", Credentials("carol", new_password()))
    assert get_login(config.path, "helped.example") == "carol"


def test_docker_logout_erases_what_we_stored(docker_dir: Path, testhelper: TestHelper) -> None:
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text('{"credHelpers": {"helped.example": "testhelper"}}')
    config = DockerConfig()
    config.store("plain.example", Credentials("dave", new_password()))
    config.store("helped.example", Credentials("erin", new_password()))
    config.store("keep.example", Credentials("frank", new_password()))
    env = {**os.environ, "DOCKER_CONFIG": str(docker_dir)}
    for host in ("plain.example", "helped.example"):
        result = subprocess.run(
            ["docker", "logout", host], capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == 0, result.stderr
    assert testhelper.stored() == {}
    assert config.get("plain.example") is None
    assert config.get("helped.example") is None
    assert config.get("keep.example") is not None
    assert json.loads(config.path.read_text())["credHelpers"] == {"helped.example": "testhelper"}


def test_we_read_what_skopeo_login_writes(
    basic_registry: Registry, docker_dir: Path, tmp_path: Path
) -> None:
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    assert basic_registry.ca_file is not None
    (cert_dir / "ca.crt").write_bytes(basic_registry.ca_file.read_bytes())
    auth_file = tmp_path / "auth.json"
    result = run(
        "skopeo", "login", "--authfile", str(auth_file), "--cert-dir", str(cert_dir),
        "-u", basic_registry.username, "--password-stdin", basic_registry.host,
        stdin=basic_registry.password,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = DockerConfig(auth_file=auth_file)
    expected = Credentials(basic_registry.username, basic_registry.password)
    assert config.get(basic_registry.host) == expected
    assert config.get(f"{basic_registry.host}/team/app") == expected
    assert basic_registry.host in config.hosts()


def test_skopeo_and_we_read_the_same_default_auth_files(docker_dir: Path, tmp_path: Path) -> None:
    for directory, user in (("config", "home-user"), ("run", "")):
        (tmp_path / directory / "containers").mkdir(parents=True)
        entries = {"r.example": {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}}
        (tmp_path / directory / "containers" / "auth.json").write_text(
            json.dumps({"auths": entries if user else {}})
        )
    result = run("skopeo", "login", "--get-login", "r.example")
    assert (result.returncode, result.stdout.strip()) == (0, "home-user"), result.stderr
    assert DockerConfig().get("r.example") == Credentials("home-user", "pw")


def test_logout_removes_what_skopeo_login_wrote(
    basic_registry: Registry, docker_dir: Path, tmp_path: Path
) -> None:
    """We read the host's entry in the containers auth file, so logout removes it; otherwise it
    goes on answering for the host. Other hosts and namespaced entries stay."""
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    assert basic_registry.ca_file is not None
    (cert_dir / "ca.crt").write_bytes(basic_registry.ca_file.read_bytes())
    (tmp_path / "run").mkdir()  # $XDG_RUNTIME_DIR, where skopeo writes its auth file
    # Without DOCKER_CONFIG, which skopeo would write to instead.
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"}
    result = subprocess.run(
        ["skopeo", "login", "--cert-dir", str(cert_dir), "-u", basic_registry.username,
         "--password-stdin", basic_registry.host],
        input=basic_registry.password, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    auth_file = tmp_path / "run" / "containers" / "auth.json"
    data = json.loads(auth_file.read_text())
    kept = {"other.example": {"auth": "b3RoZXI6cHc="}, f"{basic_registry.host}/team": {}}
    data["auths"] |= kept
    auth_file.write_text(json.dumps(data))
    config = DockerConfig()
    assert config.get(basic_registry.host) is not None
    assert config.erase(basic_registry.host) is True
    assert config.get(basic_registry.host) is None
    result = run("skopeo", "login", "--get-login", basic_registry.host)
    assert result.returncode != 0 and "not logged into" in result.stderr.lower(), result.stderr
    assert json.loads(auth_file.read_text())["auths"] == kept
    assert config.erase(basic_registry.host) is False
