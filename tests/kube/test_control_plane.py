"""The test control plane behaves like a cluster: API, CRD, PodDefault admission, RBAC."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .conftest import KubeCluster, RbacUser

SELECTOR = {"regauth-test/registry": "true"}


def pod(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> Any:
    return {
        "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.test/model:1",
                    "env": [{"name": "A", "value": "1"}],
                }
            ]
        },
    }


def create_pod(api: client.ApiClient, namespace: str, body: Any) -> dict[str, Any]:
    """Create a pod and return the object the API server admitted, as plain JSON."""
    created = client.CoreV1Api(api).create_namespaced_pod(namespace, body)
    admitted: dict[str, Any] = api.sanitize_for_serialization(created)  # type: ignore[no-untyped-call]
    return admitted


def volume_names(admitted: dict[str, Any]) -> set[str]:
    return {v["name"] for v in admitted["spec"].get("volumes", [])}


def pod_default(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1alpha1",
        "kind": "PodDefault",
        "metadata": {"name": name},
        "spec": {
            "desc": "Registry credentials",
            "selector": {"matchLabels": SELECTOR},
            "env": [{"name": "DOCKER_CONFIG", "value": "/home/jovyan/.docker"}],
            "volumes": [{"name": "docker-secret", "secret": {"secretName": "regauth-docker"}}],
            "volumeMounts": [{"name": "docker-secret", "mountPath": "/home/jovyan/.docker"}],
        },
    }


def test_api_server_answers_with_its_version(kube_cluster: KubeCluster) -> None:
    with kube_cluster.api_client() as api:
        version = client.VersionApi(api).get_code()
    assert (version.major, version.minor) == ("1", "33")
    # The serving certificate chains to the CA the cluster hands out; anonymous requests are
    # authenticated as system:anonymous, which RBAC lets read /version and nothing private.
    ca_file = kube_cluster.control_plane.ca_file
    assert ca_file.read_bytes() == kube_cluster.ca_pem
    with httpx.Client(verify=ssl.create_default_context(cafile=ca_file)) as anonymous:
        assert anonymous.get(f"{kube_cluster.server}/version").json()["minor"] == "33"
        assert anonymous.get(f"{kube_cluster.server}/api/v1/secrets").status_code == 403


def test_poddefault_crd_is_established(kube_cluster: KubeCluster) -> None:
    with kube_cluster.api_client() as api:
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(
            "poddefaults.kubeflow.org"
        )
    admitted = api.sanitize_for_serialization(crd)
    assert admitted["spec"]["names"]["kind"] == "PodDefault"
    conditions = {(c["type"], c["status"]) for c in admitted["status"]["conditions"]}
    assert ("Established", "True") in conditions


def test_webhook_applies_matching_poddefault(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults", pod_default("registry")
        )
        matched = create_pod(api, kube_namespace, pod("matched", SELECTOR))
        other = create_pod(api, kube_namespace, pod("other", {"app": "x"}))

    container = matched["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "A", "value": "1"},
        {"name": "DOCKER_CONFIG", "value": "/home/jovyan/.docker"},
    ]
    assert {"name": "docker-secret", "mountPath": "/home/jovyan/.docker"} in container[
        "volumeMounts"
    ]
    volumes = {v["name"]: v for v in matched["spec"]["volumes"]}
    assert volumes["docker-secret"]["secret"]["secretName"] == "regauth-docker"
    annotations = matched["metadata"]["annotations"]
    assert "poddefault.admission.kubeflow.org/poddefault-registry" in annotations
    assert matched["status"]["phase"] == "Pending"
    # The ServiceAccount admission plugin ran too: the API access volume is projected.
    assert any(name.startswith("kube-api-access-") for name in volume_names(matched))
    # A pod the selector does not match is admitted untouched.
    assert [e["name"] for e in other["spec"]["containers"][0]["env"]] == ["A"]
    assert "docker-secret" not in volume_names(other)


def test_excluded_pod_is_not_mutated(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults", pod_default("registry")
        )
        excluded = create_pod(
            api,
            kube_namespace,
            pod("excluded", SELECTOR, {"poddefault.admission.kubeflow.org/exclude": "true"}),
        )
    assert [e["name"] for e in excluded["spec"]["containers"][0]["env"]] == ["A"]
    assert "docker-secret" not in volume_names(excluded)


def test_conflicting_poddefault_rejects_the_pod(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    clashing = pod("clash", SELECTOR)
    clashing["spec"]["containers"][0]["env"].append({"name": "DOCKER_CONFIG", "value": "/other"})
    with kube_cluster.api_client() as api:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults", pod_default("registry")
        )
        with pytest.raises(ApiException) as rejected:
            client.CoreV1Api(api).create_namespaced_pod(kube_namespace, clashing)
    assert "conflict occurred while applying poddefaults: registry" in str(rejected.value.body)


def test_narrow_user_is_confined_to_its_role(
    kube_cluster: KubeCluster, rbac_user_kubeconfig: RbacUser
) -> None:
    namespace = rbac_user_kubeconfig.namespace
    with kube_cluster.api_client(rbac_user_kubeconfig.kubeconfig) as api:
        core = client.CoreV1Api(api)
        secret: Any = {"metadata": {"name": "allowed"}}
        core.create_namespaced_secret(namespace, secret)
        listed = api.sanitize_for_serialization(core.list_namespaced_secret(namespace))
        assert [s["metadata"]["name"] for s in listed["items"]] == ["allowed"]
        with pytest.raises(ApiException) as outside:
            core.list_namespaced_secret("default")
        assert outside.value.status == 403
        with pytest.raises(ApiException) as verb:
            core.create_namespaced_pod(namespace, pod("nope", {}))
        assert verb.value.status == 403
