"""The REST API against real registries, through a real Jupyter Server: every JSON answer is
validated against ``openapi.yaml``; no answer and no log line carries a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import jupyter_regauth

from .conftest import PKI, Registry
from .test_server_openapi import Fetch, checked


@pytest.fixture
def homes(tmp_path: Path, docker_config: Path) -> dict[str, Path]:
    return {
        "docker": docker_config,
        "certs": tmp_path / "certs.d",
        "user_file": tmp_path / "user-registries.json",
    }


@pytest.fixture
def jp_server_config(homes: dict[str, Path], basic_registry: Registry, pki: PKI) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
        "RegAuthApp": {
            "docker_config_dir": str(homes["docker"]),
            "certs_dir": str(homes["certs"]),
            "default_base_image": "",
        },
        "RegistryProfiles": {
            "registries": [
                {"host": basic_registry.host, "display_name": "Team", "ca_file": str(pki.ca_file)}
            ],
            "user_file": str(homes["user_file"]),
        },
    }


@pytest.fixture
def server_log(jp_serverapp: Any) -> Iterator[list[str]]:
    """Everything the server and this extension log, at DEBUG."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    loggers = [jp_serverapp.log, logging.getLogger("tornado"), logging.getLogger("jupyter_regauth")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield lines
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def config_json(homes: dict[str, Path]) -> dict[str, Any]:
    path = homes["docker"] / "config.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return data


async def test_version(jp_fetch: Fetch) -> None:
    data = await checked(jp_fetch, "GET", "version")
    assert data["version"] == jupyter_regauth.__version__
    assert data["kubernetes"] == {"enabled": False, "available": False, "namespace": None}
    assert data["default_base_image"] is None


async def test_list_shows_admin_registry_live(jp_fetch: Fetch, basic_registry: Registry) -> None:
    data = await checked(jp_fetch, "GET", "registries")
    (team,) = data["registries"]
    assert team["host"] == basic_registry.host
    assert (team["name"], team["source"]) == ("Team", "admin")
    assert (team["reachable"], team["trusted"], team["authenticated"]) == (True, True, None)
    assert team["auth_scheme"] == "basic"
    quick = await checked(jp_fetch, "GET", "registries", params={"live": "false"})
    assert quick["registries"][0]["reachable"] is None


async def test_login_wrong_then_right_password(
    jp_fetch: Fetch, basic_registry: Registry, homes: dict[str, Path], server_log: list[str]
) -> None:
    host = basic_registry.host
    wrong = "not-" + basic_registry.password
    refused = await checked(
        jp_fetch,
        "POST",
        "registries",
        host,
        "login",
        body={"username": "alice", "password": wrong},
        expect=422,
    )
    assert refused["code"] == "unauthorized"
    assert "alice" in refused["message"]
    assert host not in config_json(homes).get("auths", {}), "nothing is stored on failure"

    done = await checked(
        jp_fetch,
        "POST",
        "registries",
        host,
        "login",
        body={"username": "alice", "password": basic_registry.password},
    )
    assert (done["host"], done["username"], done["stored_as"]) == (host, "alice", "password")
    assert done["kube"] is None
    assert host in config_json(homes)["auths"]

    status = await checked(jp_fetch, "GET", "registries", host)
    assert (status["authenticated"], status["username"]) == (True, "alice")

    everything = json.dumps([refused, done, status]) + "\n".join(server_log)
    assert basic_registry.password not in everything
    assert wrong not in everything
    assert any("login" in line for line in server_log), "the log was captured"

    out = await checked(jp_fetch, "POST", "registries", host, "logout")
    assert out == {"host": host, "removed": True, "kube": None}
    assert host not in config_json(homes).get("auths", {})
    again = await checked(jp_fetch, "POST", "registries", host, "logout", body={})
    assert again["removed"] is False


async def test_trust_flow(jp_fetch: Fetch, token_registry: Registry, pki: PKI) -> None:
    host = token_registry.host
    before = await checked(jp_fetch, "GET", "registries", host)
    assert (before["reachable"], before["trusted"]) == (True, False)
    assert before["error"]["code"] == "unknown_ca"
    assert before["error"]["fingerprint"]

    offer = await checked(jp_fetch, "POST", "registries", host, "trust", body={})
    assert offer["already_trusted"] is False
    assert offer["ca_pem"].strip() == pki.ca.cert_pem.decode().strip()
    assert offer["chain"][0]["fingerprint"] == before["error"]["fingerprint"]

    other = offer["chain"][0]["fingerprint"].replace("A", "B").replace("0", "1")
    mismatch = await checked(
        jp_fetch,
        "POST",
        "registries",
        host,
        "trust",
        body={"ca_pem": offer["ca_pem"], "fingerprint": other},
        expect=400,
    )
    assert "fingerprint" in mismatch["message"]
    unconfirmed = await checked(
        jp_fetch, "POST", "registries", host, "trust", body={"ca_pem": offer["ca_pem"]}, expect=400
    )
    assert unconfirmed["code"] == "bad_request"

    stored = await checked(
        jp_fetch,
        "POST",
        "registries",
        host,
        "trust",
        body={"ca_pem": offer["ca_pem"], "fingerprint": offer["ca"]["fingerprint"]},
    )
    assert stored["trusted"] is True
    assert (Path(stored["path"]) / "ca.crt").is_file()
    after = await checked(jp_fetch, "GET", "registries", host)
    assert (after["trusted"], after["auth_scheme"]) == (True, "bearer")

    login = await checked(
        jp_fetch,
        "POST",
        "registries",
        host,
        "login",
        body={"username": token_registry.username, "password": token_registry.password},
    )
    assert login["username"] == "carol"
    status = await checked(jp_fetch, "GET", "registries", host)
    assert status["authenticated"] is True
    assert status["token_expires_at"] is not None


async def test_login_unknown_ca_names_the_fingerprint(
    jp_fetch: Fetch, token_registry: Registry
) -> None:
    error = await checked(
        jp_fetch,
        "POST",
        "registries",
        token_registry.host,
        "login",
        body={"username": "carol", "password": token_registry.password},
        expect=502,
    )
    assert error["code"] == "unknown_ca"
    assert error["fingerprint"] in error["message"]
    # The hint names no command line; the host is data for a client to word its own fix.
    assert "regauth" not in error["hint"] and "--" not in error["hint"]
    assert "trust its CA" in error["hint"]
    assert error["host"] == token_registry.host


async def test_a_login_whose_profile_cannot_be_saved_stores_nothing(
    jp_fetch: Fetch, token_registry: Registry, homes: dict[str, Path]
) -> None:
    (homes["user_file"].parent / (homes["user_file"].name + ".lock")).mkdir()
    assert token_registry.ca_file is not None
    body = {
        "username": token_registry.username,
        "password": token_registry.password,
        "ca_pem": token_registry.ca_file.read_text(),
    }
    error = await checked(
        jp_fetch, "POST", "registries", token_registry.host, "login", body=body, expect=400
    )
    assert error["code"] == "config_error"
    assert error["message"].startswith(f"cannot save the registries in {homes['user_file']}")
    assert not config_json(homes), "no credentials are stored"
    assert not homes["certs"].exists(), "no CA is stored"
    assert not homes["user_file"].exists()


async def test_an_insecure_login_with_a_ca_is_refused(
    jp_fetch: Fetch, token_registry: Registry, homes: dict[str, Path]
) -> None:
    assert token_registry.ca_file is not None
    body = {
        "username": token_registry.username,
        "password": token_registry.password,
        "ca_pem": token_registry.ca_file.read_text(),
        "insecure": True,
    }
    error = await checked(
        jp_fetch, "POST", "registries", token_registry.host, "login", body=body, expect=400
    )
    assert error["code"] == "config_error"
    assert "not used for an insecure login" in error["message"]
    assert not config_json(homes) and not homes["certs"].exists()
    assert not homes["user_file"].exists()


async def test_login_with_ca_and_client_certificate(
    jp_fetch: Fetch, mtls_registry: Registry, pki: PKI, homes: dict[str, Path]
) -> None:
    cert = Path(str(mtls_registry.extra["client_cert"])).read_text()
    key = Path(str(mtls_registry.extra["client_key"])).read_text()
    body = {
        "username": "dave",
        "password": mtls_registry.password,
        "ca_pem": pki.ca_file.read_text(),
        "client_cert": cert,
        "client_key": key,
    }
    half = {k: v for k, v in body.items() if k != "client_key"}
    missing = await checked(
        jp_fetch, "POST", "registries", mtls_registry.host, "login", body=half, expect=400
    )
    assert "client_key" in missing["message"]
    for junk in ({"client_cert": "not a certificate"}, {"client_key": cert}):
        error = await checked(
            jp_fetch,
            "POST",
            "registries",
            mtls_registry.host,
            "login",
            body={**body, **junk},
            expect=400,
        )
        assert error["message"] == "the client certificate and key given could not be loaded"
        assert "regauth-client" not in json.dumps(error), "no deleted temporary file is named"
    result = await checked(jp_fetch, "POST", "registries", mtls_registry.host, "login", body=body)
    assert result["certs_dir"] and (Path(result["certs_dir"]) / "client.key").is_file()
    text = json.dumps(result)
    assert mtls_registry.password not in text and "PRIVATE KEY" not in text


async def test_add_and_remove_user_registry(
    jp_fetch: Fetch, token_registry: Registry, pki: PKI, homes: dict[str, Path]
) -> None:
    host = token_registry.host
    added = await checked(
        jp_fetch,
        "POST",
        "registries",
        body={
            "host": f"https://{host}/",
            "display_name": "Mine",
            "ca_pem": pki.ca_file.read_text(),
        },
        expect=201,
    )
    assert (added["host"], added["name"], added["source"]) == (host, "Mine", "user")
    assert added["trusted"] is True, "the CA given with the registry is used"
    listed = await checked(jp_fetch, "GET", "registries")
    assert [r["source"] for r in listed["registries"]] == ["admin", "user"]
    assert host in homes["user_file"].read_text()

    removed = await checked(jp_fetch, "DELETE", "registries", host)
    assert removed == {"host": host, "removed": True}
    gone = await checked(jp_fetch, "DELETE", "registries", host, expect=404)
    assert gone["code"] == "not_found"


async def test_renaming_a_user_registry_keeps_what_was_not_sent(
    jp_fetch: Fetch, token_registry: Registry, pki: PKI, homes: dict[str, Path], tmp_path: Path
) -> None:
    host = token_registry.host
    entry = {
        "host": host,
        "display_name": "Mine",
        "ca_pem": pki.ca_file.read_text(),
        "client_cert": str(tmp_path / "c.pem"),
        "client_key": str(tmp_path / "k.pem"),
        "insecure": True,
        "username": "carol",
    }
    homes["user_file"].write_text(json.dumps([entry]))
    body = {"host": host, "display_name": "Renamed"}
    renamed = await checked(jp_fetch, "POST", "registries", body=body, expect=201)
    assert (renamed["name"], renamed["insecure"]) == ("Renamed", True)
    [saved] = json.loads(homes["user_file"].read_text())["registries"]
    assert saved == {**entry, "display_name": "Renamed", "auth": "auto"}
    body = {"host": host, "insecure": False, "ca_pem": ""}
    await checked(jp_fetch, "POST", "registries", body=body, expect=201)
    [saved] = json.loads(homes["user_file"].read_text())["registries"]
    assert "insecure" not in saved and "ca_pem" not in saved, "what is sent replaces"
    assert saved["display_name"] == "Renamed" and saved["client_key"] == str(tmp_path / "k.pem")


async def test_a_ca_for_an_insecure_registry_is_refused(
    jp_fetch: Fetch, pki: PKI, homes: dict[str, Path]
) -> None:
    """As for a login: TLS unverified, the CA would be saved and never checked."""
    host = "127.0.0.1:1"  # refuses connections: the status of the one added comes at once
    ca = pki.ca_file.read_text()
    body = {"host": host, "insecure": True, "ca_pem": ca}
    error = await checked(jp_fetch, "POST", "registries", body=body, expect=400)
    assert error["code"] == "config_error"
    assert f"not used for {host} when it is insecure" in error["message"]
    assert "not both" in error["hint"]
    assert not homes["user_file"].exists(), "nothing is saved"

    # Made insecure later, while the CA saved with it stays: refused as well, file untouched.
    await checked(jp_fetch, "POST", "registries", body={"host": host, "ca_pem": ca}, expect=201)
    saved = homes["user_file"].read_text()
    body = {"host": host, "insecure": True}
    error = await checked(jp_fetch, "POST", "registries", body=body, expect=400)
    assert "not both" in error["hint"]
    assert homes["user_file"].read_text() == saved
    body = {"host": host, "insecure": True, "ca_pem": ""}
    insecure = await checked(jp_fetch, "POST", "registries", body=body, expect=201)
    assert insecure["insecure"] is True


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"host": "has space"}, "config_error", "not a registry host"),
        ({"host": "r.example", "ca_pem": "not a certificate"}, "config_error", "CA"),
        ({"display_name": "no host"}, "bad_request", "host"),
        ({"host": "r.example", "colour": "red"}, "bad_request", "colour"),
        ({"host": 5}, "bad_request", "host"),
        ({"host": "reg.example:abc"}, "config_error", "port 'abc' must be a number"),
        ({"host": "[::1"}, "config_error", "missing the ']'"),
        ({"host": "https://"}, "config_error", "no registry host"),
        ({"host": "a_b.example"}, "config_error", "invalid character '_'"),
        ({"host": "a" * 64 + ".example"}, "config_error", "more than the 63"),
    ],
)
async def test_add_registry_bad_input(
    jp_fetch: Fetch, body: dict[str, Any], code: str, words: str, homes: dict[str, Path]
) -> None:
    error = await checked(jp_fetch, "POST", "registries", body=body, expect=400)
    assert error["code"] == code
    assert words in error["message"]
    assert error.get("hint") or code == "bad_request"
    assert not homes["user_file"].exists(), "nothing is saved"
    listed = await checked(jp_fetch, "GET", "registries", params={"live": "false"})
    assert [r["source"] for r in listed["registries"]] == ["admin"]


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("a" * 64 + ".example.com", "more than the 63"),
        (".".join(["a" * 60] * 5), "more than the 253"),
    ],
)
async def test_a_host_longer_than_dns_allows_is_bad_input(
    jp_fetch: Fetch, host: str, words: str
) -> None:
    """Named as too long before any connection (whose name lookup would fail unexpectedly)."""
    for route in (("trust",), ("login",), ()):
        body = {"username": "u", "password": "p"} if route == ("login",) else {}
        method = "GET" if not route else "POST"
        error = await checked(
            jp_fetch, method, "registries", host, *route, body=body or None, expect=400
        )
        assert error["code"] == "config_error"
        assert words in error["message"]
        assert error["hint"]


async def test_bad_entries_already_saved_spoil_only_their_own_row(
    jp_fetch: Fetch, basic_registry: Registry, homes: dict[str, Path]
) -> None:
    homes["user_file"].write_text(
        json.dumps({"registries": [{"host": "reg.example:abc"}, {"host": "good.invalid"}]})
    )
    homes["docker"].mkdir(parents=True, exist_ok=True)
    auth = {"auth": "dTpw"}  # u:p
    (homes["docker"] / "config.json").write_text(json.dumps({"auths": {"[::1": auth}}))
    for live in ("true", "false"):
        listed = await checked(jp_fetch, "GET", "registries", params={"live": live})
        rows = {r["host"]: r for r in listed["registries"]}
        assert set(rows) == {basic_registry.host, "good.invalid", "reg.example:abc", "[::1"}
        assert rows[basic_registry.host]["error"] is None or live == "false"
        assert "port 'abc' must be a number" in rows["reg.example:abc"]["error"]["message"]
        assert rows["reg.example:abc"]["source"] == "user"
        assert "missing the ']'" in rows["[::1"]["error"]["message"]
        assert rows["[::1"]["source"] == "config"
    assert rows[basic_registry.host]["error"] is None

    # Saving another registry keeps the bad entry for the user to fix.
    body = {"host": "another.invalid", "display_name": "Another"}
    await checked(jp_fetch, "POST", "registries", body=body, expect=201)
    saved = json.loads(homes["user_file"].read_text())["registries"]
    assert {r["host"] for r in saved} == {"reg.example:abc", "good.invalid", "another.invalid"}

    # The bad entry can be removed from the list as it is shown, and nothing else goes with it.
    removed = await checked(jp_fetch, "DELETE", "registries", "reg.example:abc")
    assert removed == {"host": "reg.example:abc", "removed": True}
    saved = json.loads(homes["user_file"].read_text())["registries"]
    assert {r["host"] for r in saved} == {"good.invalid", "another.invalid"}
    error = await checked(jp_fetch, "DELETE", "registries", "reg.example:abc", expect=400)
    assert "port 'abc' must be a number" in error["message"]


async def test_a_missing_credential_helper_is_a_documented_error(
    jp_fetch: Fetch, basic_registry: Registry, homes: dict[str, Path]
) -> None:
    """A config.json copied from Docker Desktop names a helper the notebook does not have: the
    list still answers, each row saying why its credentials cannot be read."""
    homes["docker"].mkdir(parents=True, exist_ok=True)
    (homes["docker"] / "config.json").write_text(json.dumps({"credsStore": "nosuch"}))
    host = basic_registry.host
    for live in ("false", "true"):
        listed = await checked(jp_fetch, "GET", "registries", params={"live": live})
        rows = {row["host"]: row for row in listed["registries"]}
        error = rows[host]["error"]
        assert rows[host]["source"] == "admin" and rows[host]["reachable"] is None
        assert error["code"] == "credential_helper_error" and "credsStore" in error["hint"]
    for method, path in [
        ("POST", ("registries", host, "logout")),
    ]:
        error = await checked(jp_fetch, method, *path, expect=500)
        assert error["code"] == "credential_helper_error"
        assert "docker-credential-nosuch" in error["message"] and "credsStore" in error["hint"]


async def test_admin_registry_cannot_be_added_or_removed(
    jp_fetch: Fetch, basic_registry: Registry
) -> None:
    host = basic_registry.host
    error = await checked(jp_fetch, "DELETE", "registries", host, expect=409)
    assert error["code"] == "admin_registry" and "administrator" in error["message"]
    error = await checked(jp_fetch, "POST", "registries", body={"host": host}, expect=409)
    assert error["code"] == "admin_registry"


async def test_huge_body_is_refused_before_anything_is_saved(
    jp_fetch: Fetch, homes: dict[str, Path]
) -> None:
    body = {"host": "r.example", "display_name": "x" * (2 << 20)}
    error = await checked(jp_fetch, "POST", "registries", body=body, expect=400)
    assert error["code"] == "bad_request"
    assert "MiB" in error["message"]
    assert not homes["user_file"].exists(), "nothing is saved"


async def test_body_must_be_a_json_object(jp_fetch: Fetch, basic_registry: Registry) -> None:
    response = await jp_fetch(
        "regauth",
        "api",
        "registries",
        basic_registry.host,
        "login",
        method="POST",
        body="{not json",
        raise_error=False,
    )
    assert response.code == 400
    assert json.loads(response.body)["code"] == "bad_request"


async def test_kubernetes_disabled(
    jp_fetch: Fetch, basic_registry: Registry, homes: dict[str, Path]
) -> None:
    host = basic_registry.host
    for method in ("GET", "POST", "DELETE"):
        error = await checked(jp_fetch, method, "registries", host, "kube", expect=501)
        assert error["code"] == "kubernetes_disabled"
        assert "RegAuthApp.kubernetes" in error["hint"]
    error = await checked(
        jp_fetch,
        "POST",
        "registries",
        host,
        "login",
        body={"username": "alice", "password": basic_registry.password, "kube": True},
        expect=501,
    )
    assert error["code"] == "kubernetes_disabled"
    assert not config_json(homes), "a refused Kubernetes login stores nothing"

    body = {"username": "alice", "password": basic_registry.password}
    await checked(jp_fetch, "POST", "registries", host, "login", body=body)
    error = await checked(
        jp_fetch, "POST", "registries", host, "logout", body={"kube": True}, expect=501
    )
    assert error["code"] == "kubernetes_disabled"
    assert host in config_json(homes)["auths"], "a refused Kubernetes logout erases nothing"


class TestKubernetesEnabled:
    @pytest.fixture
    def jp_server_config(self, homes: dict[str, Path]) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
            "RegAuthApp": {
                "docker_config_dir": str(homes["docker"]),
                "kubernetes": True,
                "namespace": "team-a",
                "default_base_image": "registry.example/base:1",
            },
        }

    @pytest.fixture(autouse=True)
    def no_cluster(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    async def test_settings_reach_the_frontend(self, jp_fetch: Fetch) -> None:
        data = await checked(jp_fetch, "GET", "version")
        kube = data["kubernetes"]
        assert (kube["enabled"], kube["namespace"]) == (True, "team-a")
        assert kube["available"] is False  # no cluster here: see tests/kube for one
        assert data["default_base_image"] == "registry.example/base:1"

    async def test_without_a_cluster_is_501(self, jp_fetch: Fetch) -> None:
        error = await checked(jp_fetch, "GET", "registries", "r.example", "kube", expect=501)
        assert error["code"] == "kubernetes_unavailable"
        assert "KUBECONFIG" in error["hint"]

    async def test_login_stands_when_the_kubernetes_step_fails(
        self,
        jp_fetch: Fetch,
        basic_registry: Registry,
        homes: dict[str, Path],
        unreachable_cluster: Path,
    ) -> None:
        assert basic_registry.ca_file is not None
        body = {
            "username": "alice",
            "password": basic_registry.password,
            "ca_pem": basic_registry.ca_file.read_text(),
            "kube": True,
        }
        host = basic_registry.host
        result = await checked(jp_fetch, "POST", "registries", host, "login", body=body)
        assert (result["host"], result["username"]) == (host, "alice")
        assert host in config_json(homes)["auths"], "the credentials are stored"
        error = result["kube"]["error"]
        assert error["code"] and error["message"]
        assert basic_registry.password not in json.dumps(result)
