"""Registry profiles: admin-defined (traitlets config, JSON/YAML file) and user-added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traitlets.config import Config

from jupyter_regauth.errors import ConfigError
from jupyter_regauth.profiles import ProfileStore, RegistryProfile, normalize_host
from jupyter_regauth.server.app import RegistryProfiles

from .cli_helpers import regauth


def test_admin_profiles_from_config_and_file(tmp_path: Path) -> None:
    file = tmp_path / "registries.yaml"
    file.write_text(
        "registries:\n"
        "  - host: https://Harbor.example:8443/v2/\n"
        "    display_name: Team Harbor\n"
        "    auth: token\n"
        "    mirror_of: [docker.io]\n"
    )
    config = Config()
    config.RegistryProfiles.registries = [{"host": "registry.example", "insecure": True}]
    config.RegistryProfiles.registries_file = str(file)
    config.RegistryProfiles.user_file = str(tmp_path / "user.json")
    profiles = RegistryProfiles(config=config).store()
    hosts = {p.host: p for p in profiles.all()}
    assert set(hosts) == {"registry.example", "harbor.example:8443"}
    harbor = hosts["harbor.example:8443"]
    assert (harbor.name, harbor.auth, harbor.mirror_of, harbor.source) == (
        "Team Harbor",
        "token",
        ("docker.io",),
        "admin",
    )
    assert hosts["registry.example"].insecure


def test_user_profiles_add_remove_and_admin_wins(tmp_path: Path) -> None:
    profiles = ProfileStore(
        registries=[{"host": "admin.example", "display_name": "Admin's"}],
        user_file=str(tmp_path / "user.json"),
    )
    profiles.save_user(RegistryProfile(host="mine.example:5000", display_name="Mine"))
    profiles.save_user(RegistryProfile(host="admin.example", display_name="Shadow"))
    assert [(p.host, p.name, p.source) for p in profiles.all()] == [
        ("admin.example", "Admin's", "admin"),
        ("mine.example:5000", "Mine", "user"),
    ]
    with pytest.raises(ConfigError, match="defined by the administrator"):
        profiles.remove_user("admin.example")
    assert profiles.remove_user("mine.example:5000")
    assert not profiles.remove_user("mine.example:5000")
    saved = json.loads((tmp_path / "user.json").read_text())
    assert [r["host"] for r in saved["registries"]] == ["admin.example"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"host": "a", "colour": "red"}, "unknown registry profile field(s): colour"),
        ({"display_name": "x"}, "needs a host"),
        ({"host": "a", "auth": "kerberos"}, "auth must be one of auto, basic, token"),
        ({"host": "a", "client_cert": "c.pem"}, "client_cert and client_key go together"),
        ({"host": "has space"}, "is not a registry host"),
        ({"host": "a", "insecure": "false"}, "insecure must be true or false, not 'false'"),
        ({"host": "a", "insecure": "no"}, "insecure must be true or false"),
    ],
)
def test_bad_profiles_are_named(entry: dict[str, object], message: str) -> None:
    store = ProfileStore(registries=[entry])
    assert store.admin() == []
    [(_, error)] = store.admin_problems()
    assert message in str(error)


def test_a_bad_admin_profile_is_named_with_where_it_is_and_hides_no_other(
    tmp_path: Path, docker_config: Path
) -> None:
    file = tmp_path / "registries.yaml"
    file.write_text("registries:\n  - {host: good.example}\n  - {host: bad.example/team}\n")
    store = ProfileStore(registries=[{"host": "bad host"}], registries_file=str(file))
    assert [p.host for p in store.admin()] == ["good.example"]
    [(config_host, config_error), (file_host, file_error)] = store.admin_problems()
    assert config_host == "bad host"
    assert config_error.message.startswith("a registry in RegistryProfiles.registries is invalid")
    assert file_host == "bad.example/team"
    assert file_error.message.startswith(f"a registry in {file} is invalid: 'bad.example/team'")
    # The list shows the good one and each bad one as a row in error, not one error for all.
    listed = regauth("--registries-file", str(file), "ls", "--offline", "--json").json()
    rows = {row["host"]: row for row in listed}
    assert rows["good.example"]["error"] is None and rows["good.example"]["source"] == "admin"
    bad = rows["bad.example/team"]
    assert bad["source"] == "admin" and bad["error"]["code"] == "config_error"
    assert str(file) in bad["error"]["message"]


def test_malformed_profiles_file(tmp_path: Path) -> None:
    file = tmp_path / "registries.json"
    file.write_text('{"registries": [\n  {"host": "a",}\n]}')
    with pytest.raises(ConfigError, match="line 2 column") as info:
        ProfileStore(registries_file=str(file)).admin()
    assert info.value.hint and "move it away" in info.value.hint


def test_a_named_profiles_file_must_exist_and_hold_only_registries(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"the registries file {missing} does not exist"):
        ProfileStore(registries_file=str(missing)).admin()
    misspelt = tmp_path / "registries.yaml"
    misspelt.write_text("regstries: []\n")
    with pytest.raises(ConfigError, match="unknown key\\(s\\) regstries"):
        ProfileStore(registries_file=str(misspelt)).admin()
    # The user's own file may well not exist yet.
    assert ProfileStore(user_file=str(tmp_path / "user.json")).user() == []


def test_a_mirror_of_every_upstream_is_kept() -> None:
    entry = {"host": "mirror.example", "mirror_of": ["docker.io", "*"]}
    assert ProfileStore(registries=[entry]).admin()[0].mirror_of == ("docker.io", "*")


def test_normalize_host() -> None:
    assert normalize_host("https://index.docker.io/v1/") == "docker.io"
    assert normalize_host("Registry.Example:5000") == "registry.example:5000"
    assert normalize_host("https://[::1]:5000/v2/") == "[::1]:5000"
    assert normalize_host("https://[::1]/v2/") == "[::1]", "a bare IPv6 address is re-bracketed"
    assert normalize_host("::1") == "[::1]"


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("reg.example:abc", "port 'abc' must be a number"),
        ("reg.example:70000", "out of range"),
        ("[::1", "missing the ']'"),
        ("[::g]", "invalid character 'g'"),
        ("https://", "no registry host after https://"),
        ("a..b", "empty label"),
        ("-a.example", "must not start or end with '-'"),
    ],
)
def test_normalize_host_names_the_problem(host: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_host(host)
    assert problem in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    ("given", "path", "host"),
    [
        ("registry.example:5000/team", "team", "registry.example:5000"),
        ("registry.example/team/model:v1", "team/model:v1", "registry.example"),
        ("https://registry.example/team/", "team", "registry.example"),
        ("https://registry.example/v2/team", "v2/team", "registry.example"),
        ("docker.io/library", "library", "docker.io"),
        ("[::1]:5000/team", "team", "[::1]:5000"),
    ],
)
def test_a_repository_path_after_the_host_is_an_error(given: str, path: str, host: str) -> None:
    """Not dropped: credentials and trust are per host, so it would be a login for all of it."""
    with pytest.raises(ConfigError) as info:
        normalize_host(given)
    assert info.value.message == (
        f"{given!r} is a registry host with a repository path ({path}): "
        "a registry is named by its host alone"
    )
    assert info.value.hint and info.value.hint.startswith(
        f"give the registry host only (HOST[:PORT]), here {host};"
    )


def test_a_host_may_end_in_a_slash_or_a_url_in_the_api_root() -> None:
    assert normalize_host("registry.example:5000/") == "registry.example:5000"
    assert normalize_host("https://registry.example/") == "registry.example"
    assert normalize_host("https://registry.example/v2") == "registry.example"


def test_a_bad_user_entry_leaves_the_others(tmp_path: Path) -> None:
    file = tmp_path / "user.json"
    file.write_text(json.dumps([{"host": "reg.example:abc"}, {"host": "fine.example"}]))
    profiles = ProfileStore(user_file=str(file))
    assert [p.host for p in profiles.all()] == ["fine.example"]
    [(host, error)] = profiles.user_problems()
    assert host == "reg.example:abc"
    assert str(file) in error.message and "port 'abc'" in error.message


def test_a_bad_user_entry_is_removed_by_its_host_as_written(tmp_path: Path) -> None:
    file = tmp_path / "user.json"
    entries = [
        {"host": "reg.example:abc"},
        {"host": "Upper.Example", "auth": "kerberos"},  # a valid host, an invalid entry
        {"host": "fine.example"},
    ]
    file.write_text(json.dumps(entries))
    profiles = ProfileStore(user_file=str(file))
    assert profiles.remove_user("reg.example:abc")
    assert profiles.remove_user("upper.example")  # as listed, normalized
    assert [e["host"] for e in json.loads(file.read_text())["registries"]] == ["fine.example"]
    assert profiles.user_problems() == []
    with pytest.raises(ConfigError, match="port 'abc' must be a number"):
        profiles.remove_user("reg.example:abc")  # not an entry any more: the host is wrong


def test_cli_lists_admin_profiles_offline(tmp_path: Path, docker_config: Path) -> None:
    file = tmp_path / "registries.json"
    file.write_text(json.dumps([{"host": "reg.example", "display_name": "Corp"}]))
    run = regauth("ls", "--offline", "--json", env={"REGAUTH_REGISTRIES_FILE": str(file)})
    assert run.code == 0, run.stderr
    assert [(r["host"], r["name"], r["source"]) for r in run.json()] == [
        ("reg.example", "Corp", "admin")
    ]


class LaterStepFailed(Exception):
    pass


def test_a_saved_profile_is_taken_back_when_the_step_after_it_fails(tmp_path: Path) -> None:
    """The host's earlier profile comes back in its place; an entry another process wrote
    meanwhile, and an invalid one kept for the user to fix, stay."""
    file = tmp_path / "user.json"
    file.write_text(
        json.dumps(
            [{"host": "a.example"}, {"host": "b.example", "display_name": "B"}, {"host": "x:y"}]
        )
    )
    profiles = ProfileStore(user_file=str(file))
    with (
        pytest.raises(LaterStepFailed),
        profiles.user_saved(RegistryProfile(host="b.example", insecure=True)),
    ):
        assert profiles.get("b.example") == RegistryProfile(host="b.example", insecure=True)
        ProfileStore(user_file=str(file)).save_user(RegistryProfile(host="c.example"))
        raise LaterStepFailed
    assert [(p.host, p.name, p.insecure) for p in profiles.user()] == [
        ("a.example", "a.example", False),
        ("b.example", "B", False),
        ("c.example", "c.example", False),
    ]
    assert json.loads(file.read_text())["registries"][-1] == {"host": "x:y"}


def test_a_profile_taken_back_removes_the_file_its_save_made(tmp_path: Path) -> None:
    file = tmp_path / "config" / "user.json"
    profiles = ProfileStore(user_file=str(file))
    with pytest.raises(LaterStepFailed), profiles.user_saved(RegistryProfile(host="a.example")):
        assert file.exists()
        raise LaterStepFailed
    assert not file.exists()
    assert profiles.user() == []


def test_a_profiles_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    file = tmp_path / "user.json"
    (tmp_path / "user.json.lock").mkdir()
    with pytest.raises(ConfigError) as info:
        ProfileStore(user_file=str(file)).save_user(RegistryProfile(host="a.example"))
    assert info.value.message == f"cannot save the registries in {file}: Is a directory"
    assert info.value.hint and str(tmp_path) in info.value.hint
