"""apply / status / remove of a registry's objects on the real API server, admitted by the
PodDefault webhook, with Secrets that log in to the real registry."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kubernetes_client

from jupyter_regauth.cli import main
from jupyter_regauth.credentials.entries import decode_entry
from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.kube.apply import Applier, KubeReport
from jupyter_regauth.kube.objects import Names, RegistrySpec
from jupyter_regauth.registry import RegistryClient, TrustConfig

from ..conftest import Registry
from .conftest import KubeCluster
from .helpers import logged_in, managed_objects, pull_secret_names, secret_data

# The client's models are typed; the tests pass plain dicts, which it sends as they are.
client: Any = kubernetes_client


def test_secrets_log_in_to_the_registry(
    kube_cluster: KubeCluster, kube_namespace: str, basic_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(basic_registry)
    host, names = basic_registry.host, Names(basic_registry.host)
    report = service.kube_apply(host, kube_namespace, kubeconfig=str(kube_cluster.admin_kubeconfig))
    assert report.configured and report.changed
    with kube_cluster.api_client() as api:
        kind, docker = secret_data(api, kube_namespace, names.docker_secret)
        _, certs = secret_data(api, kube_namespace, names.certificate_secret)
    assert kind == "kubernetes.io/dockerconfigjson"
    assert docker["config.json"] == docker[".dockerconfigjson"]
    auths = json.loads(docker["config.json"])["auths"]
    assert list(auths) == [host]  # only this registry's entry
    creds = decode_entry(auths[host], path=Path("secret"), key=host)
    ca = basic_registry.ca_file.read_text() if basic_registry.ca_file else ""
    assert certs["certificate.crt"].strip() == certs["ca.crt"].strip() == ca.strip()
    # The bundle adds the registry CA to the system store rather than replacing it.
    bundle = certs["ca-bundle.crt"]
    assert bundle.strip().endswith(ca.strip()) and bundle.count("BEGIN CERTIFICATE") > 10
    trust = TrustConfig(ca_pem=certs["ca.crt"].encode())
    with RegistryClient(host, credentials=creds, trust=trust) as registry:
        assert registry.check_login().username == basic_registry.username


def test_two_registries_combine_on_one_pod(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    token_registry: Registry,
    docker_config: Path,
) -> None:
    # The kubelet reads passwords only: keep the token registry's, not its identity token.
    service = logged_in(basic_registry, token_registry, store_password=True)
    admin: dict[str, Any] = {
        "kubeconfig": str(kube_cluster.admin_kubeconfig),
        "home": "/home/kubeflow",
    }
    first, second = Names(basic_registry.host), Names(token_registry.host)
    for registry in (basic_registry, token_registry):
        assert service.kube_apply(registry.host, kube_namespace, **admin).configured
    with kube_cluster.api_client() as api:
        _, combined = secret_data(api, kube_namespace, "regauth-docker-secret")
        assert set(json.loads(combined["config.json"])["auths"]) == {
            basic_registry.host,
            token_registry.host,
        }
        pod_default: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults", first.pod_default
        )
        assert pod_default["spec"]["desc"] == f"Registry {basic_registry.host}: credentials and CA"
        assert next(iter(pod_default["spec"]["selector"]["matchLabels"])) == first.selector_label
        body: Any = {
            "metadata": {
                "name": "notebook",
                "labels": {first.selector_label: "true", second.selector_label: "true"},
            },
            "spec": {"containers": [{"name": "main", "image": f"{basic_registry.host}/m:1"}]},
        }
        pod: Any = api.sanitize_for_serialization(
            client.CoreV1Api(api).create_namespaced_pod(kube_namespace, body)
        )
    annotations = pod["metadata"]["annotations"]
    assert f"poddefault.admission.kubeflow.org/poddefault-{first.pod_default}" in annotations
    assert f"poddefault.admission.kubeflow.org/poddefault-{second.pod_default}" in annotations
    # The ServiceAccount admission plugin copied both pull Secrets onto the pod.
    assert {s["name"] for s in pod["spec"]["imagePullSecrets"]} == {
        first.docker_secret,
        second.docker_secret,
    }
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DOCKER_CONFIG"] == "/home/kubeflow/.docker"
    assert env["REGISTRY_AUTH_FILE"] == "/home/kubeflow/.docker/config.json"
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == "/home/kubeflow/.tls/ca-bundle.crt"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/home/kubeflow/.docker"] == "regauth-docker-config"
    assert mounts["/home/kubeflow/.tls"] == "regauth-docker-registry-certificate"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["regauth-docker-config"]["secret"]["secretName"] == "regauth-docker-secret"


def test_service_account_merge_is_idempotent_and_keeps_entries(
    kube_cluster: KubeCluster, kube_namespace: str, basic_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(basic_registry)
    names = Names(basic_registry.host)
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.patch_namespaced_service_account(
            "default", kube_namespace, {"imagePullSecrets": [{"name": "team-pull"}]}
        )
        editor: Any = {"metadata": {"name": "default-editor"}}
        core.create_namespaced_service_account(kube_namespace, editor)
        admin: dict[str, Any] = {"kubeconfig": str(kube_cluster.admin_kubeconfig)}
        first = service.kube_apply(basic_registry.host, kube_namespace, **admin)
        version = core.read_namespaced_service_account("default", kube_namespace)
        again = service.kube_apply(basic_registry.host, kube_namespace, **admin)
        assert first.changed and not again.changed
        assert all(s.action == "unchanged" for s in again.objects)
        after = core.read_namespaced_service_account("default", kube_namespace)
        assert after.metadata.resource_version == version.metadata.resource_version
        assert pull_secret_names(api, kube_namespace) == ["team-pull", names.docker_secret]
        assert pull_secret_names(api, kube_namespace, "default-editor") == [names.docker_secret]
        assert again.service_accounts == {"default": True, "default-editor": True}


def test_apply_removes_data_keys_added_by_hand(
    kube_cluster: KubeCluster, kube_namespace: str, basic_registry: Registry, docker_config: Path
) -> None:
    """A key added with an update (as ``kubectl edit`` does) belongs to another field manager,
    which our server-side apply would leave in place and report as drift on every run."""
    service = logged_in(basic_registry)
    names = Names(basic_registry.host)
    admin: dict[str, Any] = {"kubeconfig": str(kube_cluster.admin_kubeconfig)}
    service.kube_apply(basic_registry.host, kube_namespace, **admin)
    extra = {"data": {"note.txt": "aGFuZC1hZGRlZA=="}}
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        for name in (names.certificate_secret, "regauth-docker-secret"):  # own, combined
            core.patch_namespaced_secret(name, kube_namespace, extra, field_manager="kubectl-edit")
        status = service.kube_status(basic_registry.host, kube_namespace, **admin)
        drifted = {s.name: s.drift for s in status.objects if s.drift}
        assert drifted == {
            names.certificate_secret: ["data.note.txt"],
            "regauth-docker-secret": ["data.note.txt"],
        }
        repaired = service.kube_apply(basic_registry.host, kube_namespace, **admin)
        assert repaired.configured
        actions = {s.name: s.action for s in repaired.objects}
        assert actions[names.certificate_secret] == actions["regauth-docker-secret"] == "updated"
        for name in (names.certificate_secret, "regauth-docker-secret"):
            assert "note.txt" not in secret_data(api, kube_namespace, name)[1]
        again = service.kube_apply(basic_registry.host, kube_namespace, **admin)
        assert not again.changed


def test_status_reports_drift_and_remove_leaves_nothing(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    token_registry: Registry,
    docker_config: Path,
) -> None:
    # The kubelet reads passwords only: keep the token registry's, not its identity token.
    service = logged_in(basic_registry, token_registry, store_password=True)
    admin: dict[str, Any] = {"kubeconfig": str(kube_cluster.admin_kubeconfig)}
    names = Names(basic_registry.host)
    with kube_cluster.api_client() as api:
        client.CoreV1Api(api).patch_namespaced_service_account(
            "default", kube_namespace, {"imagePullSecrets": [{"name": "team-pull"}]}
        )
        assert not service.kube_status(basic_registry.host, kube_namespace, **admin).configured
        service.kube_apply(basic_registry.host, kube_namespace, **admin)
        service.kube_apply(token_registry.host, kube_namespace, **admin)
        assert service.kube_status(basic_registry.host, kube_namespace, **admin).configured
        changed: Any = {"spec": {"desc": "edited by hand"}}
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults", names.pod_default, changed
        )
        status = service.kube_status(basic_registry.host, kube_namespace, **admin)
        assert not status.configured
        drifted = {s.name: s.drift for s in status.objects if s.drift}
        assert drifted == {names.pod_default: ["spec.desc"]}
        # apply repairs it.
        assert service.kube_apply(basic_registry.host, kube_namespace, **admin).configured

        removed = service.kube_remove(basic_registry.host, kube_namespace, **admin)
        gone = {f"{s.kind}/{s.name}" for s in removed.objects if s.action == "deleted"}
        assert f"Secret/{names.docker_secret}" in gone
        assert f"PodDefault/{names.pod_default}" in gone
        # The other registry's objects stay; the combined config now holds only it.
        left = managed_objects(api, kube_namespace)
        assert left and not any(names.slug in item for item in left)
        _, combined = secret_data(api, kube_namespace, "regauth-docker-secret")
        assert list(json.loads(combined["config.json"])["auths"]) == [token_registry.host]

        service.kube_remove(token_registry.host, kube_namespace, **admin)
        assert managed_objects(api, kube_namespace) == []
        assert pull_secret_names(api, kube_namespace) == ["team-pull"]
        assert service.kube_remove(token_registry.host, kube_namespace, **admin).objects == []


def test_configured_needs_the_pull_secret_entry_and_is_false_after_remove(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    token_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A ServiceAccount without our entry pulls nothing; and once removed, a registry is not
    configured however well the combined Secrets, rebuilt for another registry, match."""
    service = logged_in(basic_registry, token_registry, store_password=True)
    admin: dict[str, Any] = {"kubeconfig": str(kube_cluster.admin_kubeconfig)}
    host, names = basic_registry.host, Names(basic_registry.host)
    where = ["-n", kube_namespace, "--kubeconfig", str(kube_cluster.admin_kubeconfig)]
    for registry in (basic_registry, token_registry):
        service.kube_apply(registry.host, kube_namespace, **admin)
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        account = core.read_namespaced_service_account("default", kube_namespace)
        account.image_pull_secrets = [
            ref for ref in account.image_pull_secrets if ref.name != names.docker_secret
        ]
        core.replace_namespaced_service_account("default", kube_namespace, account)
    assert main(["--json", "kube", "status", host, *where]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["service_accounts"] == {"default": False}
    assert all(o["exists"] and o["matches"] for o in status["objects"])
    assert status["configured"] is False
    assert main(["kube", "status", host, *where]) == 0
    out = capsys.readouterr().out
    assert "missing pull secret" in out and out.endswith("\nnot configured\n")
    assert service.kube_apply(host, kube_namespace, **admin).configured  # apply repairs it

    assert main(["--json", "kube", "remove", host, *where]) == 0
    removed = json.loads(capsys.readouterr().out)
    assert {o["action"] for o in removed["objects"]} == {"deleted", "updated"}  # the pair rebuilt
    assert removed["configured"] is False
    # Without a ServiceAccount to tell: the registry's own Secrets are gone, that is enough.
    service.kube_apply(host, kube_namespace, **admin)
    with kube_cluster.api_client() as api:
        client.CoreV1Api(api).delete_namespaced_service_account("default", kube_namespace)
    assert main(["kube", "remove", host, *where]) == 0
    out = capsys.readouterr().out
    assert " SA " not in out and out.endswith("\nnot configured\n")


@pytest.mark.parametrize("configured_before", [False, True], ids=["first", "another-before"])
def test_registries_applied_at_once_both_stay_in_the_combined_config(
    kube_cluster: KubeCluster, kube_namespace: str, configured_before: bool
) -> None:
    """Registry B is applied in full while A's apply has listed the registries' Secrets and not
    yet written the combined config: A must not write its stale view over B's entry."""
    first, second, before = "a.registry.test", "b.registry.test", "c.registry.test"

    def spec(host: str) -> RegistrySpec:
        return RegistrySpec(host, Credentials(username=host, password=secrets.token_hex(8)))

    with kube_cluster.api_client() as api:
        if configured_before:  # the combined Secret exists: A's write is an update
            Applier(api, kube_namespace).apply(spec(before))
        applier = Applier(api, kube_namespace)
        listings = applier._managed
        interleaved: list[KubeReport] = []

        def managed_then_b(selector: str) -> list[tuple[str, Any]]:
            found = listings(selector)
            if "!=" in selector and not interleaved:  # the registries' Secrets, for combining
                interleaved.append(Applier(api, kube_namespace).apply(spec(second)))
            return found

        applier._managed = managed_then_b  # type: ignore[method-assign]
        report = applier.apply(spec(first))
        assert interleaved and report.configured
        _, combined = secret_data(api, kube_namespace, "regauth-docker-secret")
        hosts = {first, second} | ({before} if configured_before else set())
        assert set(json.loads(combined["config.json"])["auths"]) == hosts
