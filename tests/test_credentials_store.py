"""DockerConfig against real files: the format docker/cli reads and writes, merges, errors."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jupyter_regauth.credentials import (
    DOCKER_HUB_KEY,
    ConfigFileError,
    Credentials,
    DockerConfig,
    InvalidCredentialsError,
    auth_key,
    credentials_for,
    normalize_host,
)
from jupyter_regauth.credentials.authfile import default_auth_files
from jupyter_regauth.errors import ConfigError
from tests.credentials_helpers.fixtures import docker_dir, new_password

__all__ = ["docker_dir"]  # a fixture, imported for pytest


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(directory: Path, data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(data, indent="\t"))
    return path


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("registry:5000", "registry:5000"),
        ("https://registry:5000/v2/", "registry:5000"),
        ("http://registry.example.com", "registry.example.com"),
        ("registry.example.com/team/app", "registry.example.com"),
        ("https://user@registry:443/path?q=1", "registry:443"),
        ("HTTPS://Registry.Example.COM:5000/v2/", "registry.example.com:5000"),
        ("https://[::1]:5000/v2/", "[::1]:5000"),
        ("https://[fe80::1]/", "fe80::1"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("docker.io", "docker.io"),
    ],
)
def test_normalize_host(key: str, host: str) -> None:
    assert normalize_host(key) == host


def test_docker_hub_aliases_share_the_index_key() -> None:
    for alias in ("docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY):
        assert auth_key(alias) == DOCKER_HUB_KEY
    assert auth_key("https://registry:5000/v2/") == "registry:5000"


def test_round_trip_writes_docker_format(docker_dir: Path) -> None:
    password = new_password()
    config = DockerConfig()
    assert config.path == docker_dir / "config.json"
    config.store("registry.example.com:5000", Credentials("alice", password))

    data = json.loads(config.path.read_text())
    entry = data["auths"]["registry.example.com:5000"]
    assert entry == {"auth": b64(f"alice:{password}")}  # no plain username/password fields
    assert config.get("registry.example.com:5000") == Credentials("alice", password)
    assert credentials_for("https://registry.example.com:5000/v2/") == Credentials(
        "alice", password
    )
    assert config.hosts() == ["registry.example.com:5000"]
    assert "\t" in config.path.read_text()  # tab indented, as docker writes it


def test_file_and_directory_modes(docker_dir: Path) -> None:
    DockerConfig().store("r.example", Credentials("u", new_password()))
    assert stat.S_IMODE(docker_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((docker_dir / "config.json").stat().st_mode) == 0o600


def test_existing_loose_mode_is_tightened(docker_dir: Path) -> None:
    path = write_config(docker_dir, {"auths": {}})
    path.chmod(0o644)
    DockerConfig().store("r.example", Credentials("u", new_password()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Storing the same credentials again, into a file made readable meanwhile, tightens it too.
    creds = Credentials("u", new_password())
    DockerConfig().store("r.example", creds)
    path.chmod(0o644)
    DockerConfig().store("r.example", creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_docker_hub_is_stored_under_the_index_key(docker_dir: Path) -> None:
    password = new_password()
    config = DockerConfig()
    config.store("docker.io", Credentials("bob", password))
    assert list(json.loads(config.path.read_text())["auths"]) == [DOCKER_HUB_KEY]
    for alias in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert config.get(alias) == Credentials("bob", password)
    assert config.hosts() == ["docker.io"]


@pytest.mark.parametrize(
    "key", ["https://registry:5000/v2/", "http://registry:5000", "registry:5000/some/path"]
)
def test_legacy_keys_with_scheme_and_path_are_found(docker_dir: Path, key: str) -> None:
    password = new_password()
    write_config(docker_dir, {"auths": {key: {"auth": b64(f"carol:{password}")}}})
    assert DockerConfig().get("registry:5000") == Credentials("carol", password)
    assert DockerConfig().get("other:5000") is None


def test_exact_key_wins_over_legacy_key(docker_dir: Path) -> None:
    write_config(
        docker_dir,
        {
            "auths": {
                "https://registry:5000/v2/": {"auth": b64("old:one")},
                "registry:5000": {"auth": b64("new:two")},
            }
        },
    )
    assert DockerConfig().get("registry:5000") == Credentials("new", "two")


def test_colon_in_password_and_nul_padding(docker_dir: Path) -> None:
    write_config(docker_dir, {"auths": {"r": {"auth": b64("dave:a:b::c\x00\x00")}}})
    assert DockerConfig().get("r") == Credentials("dave", "a:b::c")


def test_username_password_fields_and_case_insensitive_names(docker_dir: Path) -> None:
    write_config(
        docker_dir,
        {
            "auths": {
                "plain": {"username": "erin", "password": "pw", "email": "e@example.com"},
                "upper": {"Auth": b64("frank:pw2")},
            }
        },
    )
    config = DockerConfig()
    assert config.get("plain") == Credentials("erin", "pw")
    assert config.get("upper") == Credentials("frank", "pw2")


def test_identity_and_registry_tokens_round_trip(docker_dir: Path) -> None:
    creds = Credentials(username="gina", identity_token="refresh-abc", registry_token="bear-xyz")
    config = DockerConfig()
    config.store("r.example", creds)
    entry = json.loads(config.path.read_text())["auths"]["r.example"]
    assert entry == {
        "auth": b64("gina:"),
        "identitytoken": "refresh-abc",
        "registrytoken": "bear-xyz",
    }
    assert config.get("r.example") == creds
    write_config(docker_dir, {"auths": {"t": {"identitytoken": "only-token"}}})
    assert config.get("t") == Credentials(identity_token="only-token")


def test_empty_entry_means_no_credentials(docker_dir: Path) -> None:
    write_config(docker_dir, {"auths": {"r.example": {}}})
    assert DockerConfig().get("r.example") is None
    assert DockerConfig().hosts() == []


def test_missing_and_empty_files_mean_no_credentials(docker_dir: Path) -> None:
    assert DockerConfig().get("r.example") is None
    assert DockerConfig().hosts() == []
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text("  \n")
    assert DockerConfig().get("r.example") is None
    (docker_dir / "config.json").write_text("null\n")  # docker reads it as an empty config
    assert DockerConfig().get("r.example") is None
    DockerConfig().store("r.example", Credentials("u", "p"))
    assert DockerConfig().get("r.example") == Credentials("u", "p")


def test_every_other_key_survives_a_write(docker_dir: Path) -> None:
    original = {
        "auths": {"keep.example": {"auth": b64("k:v"), "email": "legacy@example.com"}},
        "proxies": {"default": {"httpProxy": "http://proxy:3128", "noProxy": "localhost"}},
        "psFormat": "table {{.ID}}",
        "currentContext": "remote",
        "HttpHeaders": {"X-Team": "ml"},
        "plugins": {"buildx": {"enabled": "true"}},
        "credHelpers": {"ecr.example": "ecr-login"},
        "someFutureKey": [1, 2.5, {"nested": None, "big": 12345678901234567890}],
    }
    path = write_config(docker_dir, original)
    password = new_password()
    DockerConfig().store("new.example", Credentials("u", password))
    data = json.loads(path.read_text())
    assert data.pop("auths") == {
        **original["auths"],  # type: ignore[dict-item]
        "new.example": {"auth": b64(f"u:{password}")},
    }
    assert data == {k: v for k, v in original.items() if k != "auths"}


def test_store_replaces_the_entry_and_skips_unchanged_writes(docker_dir: Path) -> None:
    config = DockerConfig()
    config.store("r.example", Credentials("u", "one"))
    config.store("r.example", Credentials("u", "two"))
    assert config.get("r.example") == Credentials("u", "two")
    before = config.path.stat().st_mtime_ns, config.path.stat().st_ino
    config.store("r.example", Credentials("u", "two"))
    assert (config.path.stat().st_mtime_ns, config.path.stat().st_ino) == before


def test_store_through_a_symlink_replaces_the_target(docker_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "real-config.json"
    target.write_text('{"psFormat": "x"}')
    docker_dir.mkdir()
    (docker_dir / "config.json").symlink_to(target)
    DockerConfig().store("r.example", Credentials("u", "p"))
    assert (docker_dir / "config.json").is_symlink()
    assert json.loads(target.read_text())["psFormat"] == "x"
    assert DockerConfig().get("r.example") == Credentials("u", "p")


def test_erase_removes_only_that_host(docker_dir: Path) -> None:
    path = write_config(
        docker_dir,
        {
            "auths": {
                "r.example": {"auth": b64("a:b")},
                "https://r.example": {"auth": b64("a:c")},
                "other.example": {"auth": b64("o:p")},
            },
            "credHelpers": {"helped.example": "nonexistent-helper"},
            "psFormat": "x",
        },
    )
    config = DockerConfig()
    assert config.erase("r.example") is True
    data = json.loads(path.read_text())
    assert data["auths"] == {"other.example": {"auth": b64("o:p")}}
    assert data["credHelpers"] == {"helped.example": "nonexistent-helper"}
    assert data["psFormat"] == "x"
    assert config.get("r.example") is None
    assert config.erase("r.example") is False
    assert config.erase("never.example") is False


def test_erase_removes_every_spelling_get_finds(docker_dir: Path) -> None:
    path = write_config(
        docker_dir,
        {
            "auths": {
                "https://registry:5000/v2/": {"auth": b64("old:docker")},
                "index.docker.io": {"auth": b64("hub:alias")},
                "registry:5001": {"auth": b64("other:port")},
            }
        },
    )
    config = DockerConfig()
    assert config.get("registry:5000") == Credentials("old", "docker")
    assert config.erase("registry:5000") is True
    assert config.get("registry:5000") is None
    assert config.erase("docker.io") is True
    assert config.get("docker.io") is None
    assert json.loads(path.read_text())["auths"] == {"registry:5001": {"auth": b64("other:port")}}


def test_erase_removes_an_entry_that_does_not_decode(docker_dir: Path) -> None:
    path = write_config(
        docker_dir,
        {"auths": {"r.example": {"auth": "not base64!"}, "https://r.example": "junk"}},
    )
    config = DockerConfig()
    with pytest.raises(ConfigFileError, match="not valid base64"):
        config.get("r.example")
    assert config.erase("r.example") is True
    assert json.loads(path.read_text()) == {"auths": {}}
    assert config.get("r.example") is None


def test_erase_without_a_file_creates_nothing(docker_dir: Path) -> None:
    assert DockerConfig().erase("r.example") is False
    assert not docker_dir.exists()


def test_logout_after_login_leaves_the_rest(docker_dir: Path) -> None:
    path = write_config(docker_dir, {"auths": {"mine.example": {"auth": b64("m:n")}}})
    config = DockerConfig()
    config.store("docker.io", Credentials("hub", new_password()))
    assert config.erase("index.docker.io") is True
    assert json.loads(path.read_text()) == {"auths": {"mine.example": {"auth": b64("m:n")}}}


def test_malformed_file_is_left_untouched_and_located(docker_dir: Path) -> None:
    password = new_password()
    raw = (
        '{\n\t"auths": {\n\t\t"r.example": {"auth": "'
        + b64(f"u:{password}")
        + '"}\n\t\t"x.example": {}\n\t}\n}'
    ).encode()
    docker_dir.mkdir()
    path = docker_dir / "config.json"
    path.write_bytes(raw)
    config = DockerConfig()
    with pytest.raises(ConfigError) as caught:
        config.store("new.example", Credentials("u", new_password()))
    error = caught.value
    assert isinstance(error, ConfigFileError)
    assert (error.line, error.column) == (4, 3)
    assert "line 4 column 3" in str(error)
    assert str(path) in str(error)
    assert error.hint and "untouched" in error.hint
    assert path.read_bytes() == raw
    assert sorted(p.name for p in docker_dir.iterdir()) == ["config.json", "config.json.lock"]
    with pytest.raises(ConfigFileError):
        config.erase("r.example")
    with pytest.raises(ConfigFileError):
        config.get("r.example")
    assert path.read_bytes() == raw
    assert password not in str(error) and b64(f"u:{password}") not in str(error)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2]", "holds a JSON array, not an object"),
        ('"auths"', "holds a JSON string, not an object"),
        ('{"auths": []}', '"auths" is not a JSON object'),
        ('{"auths": {}, "x": NaN}', "NaN is not a JSON value"),
        ('{"auths": {}, "x": [-Infinity]}', "-Infinity is not a JSON value"),
        ('{"auths": {}, "x": 1e400}', "a number is too large"),
        ('{"credsStore": 1}', '"credsStore" is not a string'),
        ('{"credHelpers": {"r.example": 1}}', '"credHelpers" is not an object of strings'),
    ],
)
def test_wrong_shapes_are_clear_errors(docker_dir: Path, content: str, expected: str) -> None:
    docker_dir.mkdir()
    path = docker_dir / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigFileError, match=expected):
        DockerConfig().get("r.example")
    with pytest.raises(ConfigFileError, match=expected):
        DockerConfig().store("r.example", Credentials("u", "p"))
    assert path.read_text() == content


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("x", "is not a JSON object"), ({"auth": 7}, "field 'auth' is not a string")],
)
def test_wrong_entry_shapes_are_clear_errors(
    docker_dir: Path, entry: object, expected: str
) -> None:
    write_config(docker_dir, {"auths": {"bad.example": entry}})
    with pytest.raises(ConfigFileError, match=expected):
        DockerConfig().get("bad.example")
    # A login for the host replaces the broken entry; other hosts' logins leave it alone.
    DockerConfig().store("other.example", Credentials("u", "p"))
    assert json.loads((docker_dir / "config.json").read_text())["auths"]["bad.example"] == entry
    DockerConfig().store("bad.example", Credentials("u", "p"))
    assert DockerConfig().get("bad.example") == Credentials("u", "p")


@pytest.mark.parametrize("value", ["not base64!!", b64("no-colon-here"), b64(":empty-user")])
def test_bad_auth_values_are_clear_errors(docker_dir: Path, value: str) -> None:
    write_config(docker_dir, {"auths": {"r.example": {"auth": value}, "ok": {"auth": b64("a:b")}}})
    with pytest.raises(ConfigFileError, match=r"r\.example") as caught:
        DockerConfig().get("r.example")
    assert value not in str(caught.value)
    assert caught.value.hint
    assert DockerConfig().get("ok") == Credentials("a", "b")  # one bad entry spoils no other


def test_unreadable_file_is_a_clear_error() -> None:
    # Root reads anything, so when we are root the child drops to "nobody" before reading; the
    # files live in a world-traversable directory so that it can reach them.
    with tempfile.TemporaryDirectory() as top:
        directory = Path(top, "docker")
        write_config(directory, {"auths": {}})
        Path(top).chmod(0o755)
        directory.chmod(0o755)
        (directory / "config.json").chmod(0)
        script = (
            "import os, pwd, sys\nfrom pathlib import Path\n"
            "from jupyter_regauth.credentials import DockerConfig, ConfigFileError\n"
            "if os.geteuid() == 0:\n"
            "    nobody = pwd.getpwnam('nobody')\n"
            "    os.setgid(nobody.pw_gid)\n    os.setuid(nobody.pw_uid)\n"
            "try:\n    DockerConfig(Path(sys.argv[1])).get('r.example')\n"
            "except ConfigFileError as e:\n    print(e)\n"
        )
        repo = Path(__file__).resolve().parent.parent
        result = subprocess.run(
            [sys.executable, "-c", script, str(directory)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(repo)},
            check=True,
        )
    assert "permission denied while reading" in result.stdout
    assert "chmod 600" in result.stdout


def test_config_path_that_is_a_directory_is_a_clear_error(docker_dir: Path) -> None:
    (docker_dir / "config.json").mkdir(parents=True)
    with pytest.raises(ConfigFileError, match="cannot be read: Is a directory"):
        DockerConfig().get("r.example")


def test_bad_credentials_are_refused(docker_dir: Path) -> None:
    config = DockerConfig()
    with pytest.raises(InvalidCredentialsError, match="contains ':'"):
        config.store("r.example", Credentials("us:er", "p"))
    with pytest.raises(InvalidCredentialsError, match="no credentials"):
        config.store("r.example", Credentials())
    with pytest.raises(InvalidCredentialsError, match="without a username"):
        config.store("r.example", Credentials(password="p"))
    with pytest.raises(InvalidCredentialsError, match="not a registry host"):
        config.store("", Credentials("u", "p"))
    assert not config.path.exists()


def test_registry_auth_file_lookups(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps(
            {
                "auths": {
                    "quay.example": {"auth": b64("host:level")},
                    "quay.example/team": {"auth": b64("team:level")},
                    "quay.example/team/app": {"auth": b64("repo:level")},
                    "docker.io": {"auth": b64("hub:user")},
                    "https://legacy.example/v1/": {"auth": b64("legacy:user")},
                    "both.example": {"auth": b64("podman:old")},
                }
            }
        )
    )
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    write_config(docker_dir, {"auths": {"both.example": {"auth": b64("docker:new")}}})
    config = DockerConfig()
    assert config.auth_files == [auth_file]
    assert config.get("quay.example") == Credentials("host", "level")
    assert config.get("quay.example/team/app") == Credentials("repo", "level")
    assert config.get("quay.example/team/other") == Credentials("team", "level")
    assert config.get("quay.example/elsewhere/x") == Credentials("host", "level")
    assert config.get("index.docker.io") == Credentials("hub", "user")
    assert config.get("legacy.example") == Credentials("legacy", "user")
    assert config.get("both.example") == Credentials("docker", "new")  # docker's file wins
    assert config.get("none.example") is None
    assert config.hosts() == [
        "both.example",
        "docker.io",
        "legacy.example",
        "quay.example",
    ]


def test_xdg_runtime_auth_file_is_the_default(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    (runtime / "containers").mkdir(parents=True)
    (runtime / "containers" / "auth.json").write_text(
        json.dumps({"auths": {"podman.example": {"auth": b64("pod:man")}}})
    )
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert DockerConfig().get("podman.example") == Credentials("pod", "man")


def test_config_home_auth_file_is_read_after_the_primary(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for directory, entries in (
        ("run", {"both.example": {"auth": b64("primary:file")}}),
        (
            "config",
            {"both.example": {"auth": b64("config:home")}, "c.example": {"auth": b64("c:h")}},
        ),
    ):
        (tmp_path / directory / "containers").mkdir(parents=True)
        (tmp_path / directory / "containers" / "auth.json").write_text(
            json.dumps({"auths": entries})
        )
    config = DockerConfig()
    assert config.get("both.example") == Credentials("primary", "file")
    assert config.get("c.example") == Credentials("c", "h")
    assert config.hosts() == ["both.example", "c.example"]
    # An explicit REGISTRY_AUTH_FILE is the only auth file, as in podman and skopeo.
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "run" / "containers" / "auth.json"))
    assert DockerConfig().get("c.example") is None


def test_default_auth_files_follow_containers_auth_json() -> None:
    home = Path.home()
    assert default_auth_files({}) == [
        Path(f"/run/containers/{os.getuid()}/auth.json"),
        home / ".config" / "containers" / "auth.json",
    ]
    assert default_auth_files({"XDG_RUNTIME_DIR": "/r", "XDG_CONFIG_HOME": "/c"}) == [
        Path("/r/containers/auth.json"),
        Path("/c/containers/auth.json"),
    ]
    assert default_auth_files({"REGISTRY_AUTH_FILE": "/a.json", "XDG_RUNTIME_DIR": "/r"}) == [
        Path("/a.json")
    ]


def test_malformed_auth_file_is_a_clear_error(
    docker_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text('{"auths": {')
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    with pytest.raises(ConfigFileError, match="line 1 column 12") as caught:
        DockerConfig().get("r.example")
    assert caught.value.path == auth_file


def test_docker_auth_config_env_takes_precedence(
    docker_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(docker_dir, {"auths": {"r.example": {"auth": b64("file:user")}}})
    monkeypatch.setenv(
        "DOCKER_AUTH_CONFIG", json.dumps({"auths": {"r.example": {"auth": b64("env:user")}}})
    )
    assert DockerConfig().get("r.example") == Credentials("env", "user")
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", "{not json")
    assert DockerConfig().get("r.example") == Credentials("file", "user")


def test_reprs_and_errors_never_show_secrets(docker_dir: Path) -> None:
    password = new_password()
    creds = Credentials("u", password, identity_token="idtok-secret", registry_token="rt-secret")
    config = DockerConfig()
    config.store("r.example", creds)
    for text in (repr(config), str(config), repr(creds), str(creds), repr(config.get("r.example"))):
        for secret in (password, "idtok-secret", "rt-secret", b64(f"u:{password}")):
            assert secret not in text
