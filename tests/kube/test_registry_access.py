"""RegistryAccess against the real API server, ServiceAccount admission and PodDefault webhook."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from jupyter_regauth.credentials.entries import decode_entry
from jupyter_regauth.credentials.errors import InvalidCredentialsError
from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.kube import KubeError, RegistryAccess
from jupyter_regauth.kube.objects import SELECTOR_LABEL
from jupyter_regauth.testing.pki import make_ca

from ..conftest import new_password
from .conftest import KubeCluster, RbacUser

HOST = "registry.test:5000"
OTHER = "mirror.test"


def credentials() -> Credentials:
    # new_password registers it, so the suite-wide check fails if it reaches a log record.
    return Credentials("builder", new_password())


def as_json(api: Any, obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = api.sanitize_for_serialization(obj)
    return data


def secret_data(api: Any, namespace: str, name: str) -> dict[str, str]:
    secret = client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def pull_secret_names(api: Any, namespace: str) -> list[str | None]:
    account = client.CoreV1Api(api).read_namespaced_service_account("default", namespace)
    return [r.name for r in account.image_pull_secrets or []]


def test_granted_registry_reaches_pods(
    kube_cluster: KubeCluster, rbac_user_kubeconfig: RbacUser
) -> None:
    namespace, creds, ca = (
        rbac_user_kubeconfig.namespace,
        credentials(),
        make_ca().cert_pem.decode(),
    )
    # The narrow user's Role is enough to grant access in its own namespace.
    with kube_cluster.api_client(rbac_user_kubeconfig.kubeconfig) as api:
        assert RegistryAccess(api, namespace).grant(HOST, creds, ca_pem=ca) == [HOST]

    with kube_cluster.api_client() as api:
        config = json.loads(
            secret_data(api, namespace, "regauth-docker-config")[".dockerconfigjson"]
        )
        assert decode_entry(config["auths"][HOST], path=Path("secret"), key=HOST) == creds
        assert secret_data(api, namespace, "regauth-registry-certificate")["certificate.crt"] == ca
        body: Any = {
            "metadata": {"name": "notebook", "labels": {SELECTOR_LABEL: "true"}},
            "spec": {"containers": [{"name": "main", "image": f"{HOST}/team/model:1"}]},
        }
        pod = as_json(api, client.CoreV1Api(api).create_namespaced_pod(namespace, body))
    # The ServiceAccount admission plugin copied the pull secret; the webhook mounted the rest.
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regauth-docker-config"}]
    container = pod["spec"]["containers"][0]
    assert {"name": "DOCKER_CONFIG", "value": "/home/jovyan/.docker"} in container["env"]
    assert {"name": "REGISTRY_AUTH_FILE", "value": "/home/jovyan/.docker/config.json"} in container[
        "env"
    ]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/home/jovyan/.docker"] == "docker-secret"
    assert mounts["/home/jovyan/.tls"] == "docker-registry-certificate"


def test_grant_is_idempotent_and_merges_hosts(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        access = RegistryAccess(api, kube_namespace)
        access.grant(HOST, credentials())
        core = client.CoreV1Api(api)
        version: Any = core.read_namespaced_secret("regauth-docker-config", kube_namespace)
        first = secret_data(api, kube_namespace, "regauth-docker-config")
        # Same input again: server-side apply leaves the object as it was.
        config = json.loads(first[".dockerconfigjson"])
        entry = decode_entry(config["auths"][HOST], path=Path("s"), key=HOST)
        access.grant(HOST, entry)
        again: Any = core.read_namespaced_secret("regauth-docker-config", kube_namespace)
        assert again.metadata.resource_version == version.metadata.resource_version

        ca = make_ca().cert_pem.decode()
        assert access.grant(OTHER, credentials(), ca_pem=ca) == [OTHER, HOST]
        assert access.hosts() == [OTHER, HOST]
        cas = secret_data(api, kube_namespace, "regauth-registry-certificate")
        assert cas == {"certificate.crt": ca, "mirror.test.crt": ca}
        assert pull_secret_names(api, kube_namespace) == ["regauth-docker-config"]
        pod_default: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults", "regauth-registries"
        )
        assert pod_default["spec"]["desc"] == f"Registry access: {OTHER}, {HOST}"
        labels = pod_default["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "jupyter-regauth"


def test_revoke_removes_one_host_then_everything(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        # A pull secret someone else put on the ServiceAccount must survive.
        account: Any = {"imagePullSecrets": [{"name": "team-pull"}]}
        core.patch_namespaced_service_account("default", kube_namespace, account)
        access = RegistryAccess(api, kube_namespace)
        access.grant(HOST, credentials(), ca_pem=make_ca().cert_pem.decode())
        access.grant(OTHER, credentials())
        assert pull_secret_names(api, kube_namespace) == ["team-pull", "regauth-docker-config"]

        assert access.revoke(HOST) == [OTHER]
        # HOST's CA went with it, and no CA is left, so neither is its Secret.
        with pytest.raises(ApiException) as gone:
            core.read_namespaced_secret("regauth-registry-certificate", kube_namespace)
        assert gone.value.status == 404

        assert access.revoke(OTHER) == []
        assert access.revoke(OTHER) == []
        assert pull_secret_names(api, kube_namespace) == ["team-pull"]
        managed = core.list_namespaced_secret(
            kube_namespace, label_selector="app.kubernetes.io/managed-by=jupyter-regauth"
        )
        assert managed.items == []
        left: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "kubeflow.org", "v1alpha1", kube_namespace, "poddefaults"
        )
        assert left["items"] == []


def test_forbidden_namespace_gives_a_clear_error_without_secrets(
    kube_cluster: KubeCluster, rbac_user_kubeconfig: RbacUser, kube_namespace: str
) -> None:
    creds = credentials()
    with kube_cluster.api_client(rbac_user_kubeconfig.kubeconfig) as api:
        with pytest.raises(KubeError) as refused:
            RegistryAccess(api, kube_namespace).grant(HOST, creds)
    error = refused.value
    assert error.status == 403
    assert kube_namespace in error.message
    assert error.hint is not None and "serviceaccounts" in error.hint
    for text in (str(error), repr(error), json.dumps(error.to_dict())):
        assert creds.password not in text


def test_grant_refuses_empty_credentials_before_writing(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        access = RegistryAccess(api, kube_namespace)
        with pytest.raises(InvalidCredentialsError):
            access.grant(HOST, Credentials())
        assert access.hosts() == []
        assert pull_secret_names(api, kube_namespace) == []
