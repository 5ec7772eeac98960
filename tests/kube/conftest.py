"""Session fixtures for a REAL Kubernetes control plane: etcd + kube-apiserver (RBAC, admission
chain with the ServiceAccount plugin), the PodDefault CRD, and the PodDefault mutating webhook
registered for profile namespaces. An admin kubeconfig plus a namespaced user with a narrow Role."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from jupyter_regauth.testing.pki import LOOPBACK_NAMES, issue

from .control_plane import ControlPlane, control_plane_binaries
from .poddefault_webhook import PodDefaultWebhook

MANIFESTS = Path(__file__).parent / "manifests"
PROFILE_LABEL = {"app.kubernetes.io/part-of": "kubeflow-profile"}


def pytest_collection_finish(session: pytest.Session) -> None:
    # A first build takes minutes: do it before any test starts, outside the per-test timeout.
    if any("kube_cluster" in getattr(item, "fixturenames", ()) for item in session.items):
        control_plane_binaries()


@dataclass
class KubeCluster:
    control_plane: ControlPlane
    admin_kubeconfig: Path

    @property
    def server(self) -> str:
        return self.control_plane.server

    @property
    def ca_pem(self) -> bytes:
        return self.control_plane.ca_pem

    def kubeconfig(self, user: str, groups: tuple[str, ...] = (), namespace: str = "") -> Path:
        """A kubeconfig authenticating as ``user`` in ``groups`` through a client certificate."""
        return self.control_plane.kubeconfig(user, groups, namespace)

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for ``kubeconfig`` (the admin's by default)."""
        path = str(kubeconfig or self.admin_kubeconfig)
        return config.new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]

    def create_namespace(self, prefix: str = "regauth") -> str:
        """A fresh Kubeflow-profile namespace (the webhook applies there) with its ``default``
        ServiceAccount, which the ServiceAccount admission plugin needs for every pod."""
        name = f"{prefix}-{secrets.token_hex(4)}"
        namespace: Any = {"metadata": {"name": name, "labels": PROFILE_LABEL}}
        account: Any = {"metadata": {"name": "default"}}
        with self.api_client() as api:
            core = client.CoreV1Api(api)
            core.create_namespace(namespace)
            core.create_namespaced_service_account(name, account)
        return name

    def delete_namespace(self, name: str) -> None:
        with self.api_client() as api:
            client.CoreV1Api(api).delete_namespace(name)


@dataclass
class RbacUser:
    user: str
    namespace: str
    kubeconfig: Path


def _wait_established(api: Any, crd: str, timeout: float = 30.0) -> None:
    extensions = client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = extensions.read_custom_resource_definition(crd).status
        conditions = (status and status.conditions) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise RuntimeError(f"CRD {crd} was not established after {timeout:.0f}s")


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    workdir = tmp_path_factory.mktemp("kube")
    control_plane = ControlPlane(workdir, control_plane_binaries())
    webhook: PodDefaultWebhook | None = None
    try:
        control_plane.start()
        admin = control_plane.kubeconfig("regauth-admin", ("system:masters",))
        cluster = KubeCluster(control_plane, admin)
        with cluster.api_client() as api:
            crd = yaml.safe_load((MANIFESTS / "poddefault-crd.yaml").read_text())
            client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
            _wait_established(api, crd["metadata"]["name"])

            custom = client.CustomObjectsApi(api)

            def list_pod_defaults(namespace: str) -> list[dict[str, Any]]:
                found: Any = custom.list_namespaced_custom_object(
                    "kubeflow.org", "v1alpha1", namespace, "poddefaults"
                )
                items: list[dict[str, Any]] = found["items"]
                return items

            serving = issue(control_plane.ca, "poddefaults-webhook", names=LOOPBACK_NAMES)
            cert, key = serving.write(workdir / "webhook", "tls")
            webhook = PodDefaultWebhook(cert, key, list_pod_defaults)
            webhook.start()
            registration = yaml.safe_load((MANIFESTS / "poddefault-webhook.yaml").read_text())
            for hook in registration["webhooks"]:
                hook["clientConfig"] = {
                    "url": webhook.url,
                    "caBundle": base64.b64encode(control_plane.ca_pem).decode(),
                }
            client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(
                registration
            )
            yield cluster
    finally:
        if webhook is not None:
            webhook.stop()
        control_plane.stop()


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A second control plane without the PodDefault CRD or webhook: a cluster where JupyterHub,
    not Kubeflow, runs the notebooks."""
    workdir = tmp_path_factory.mktemp("bare-kube")
    control_plane = ControlPlane(workdir, control_plane_binaries())
    try:
        control_plane.start()
        admin = control_plane.kubeconfig("regauth-admin", ("system:masters",))
        yield KubeCluster(control_plane, admin)
    finally:
        control_plane.stop()


@pytest.fixture(scope="session")
def rbac_user_kubeconfig(kube_cluster: KubeCluster) -> RbacUser:
    """A user whose only rights are a Role in one namespace: Secrets, ServiceAccounts and
    PodDefaults there, plus read access to its pods."""
    namespace = kube_cluster.create_namespace("regauth-rbac")
    user = "regauth-user"
    rules = [
        {
            "apiGroups": [""],
            "resources": ["secrets", "serviceaccounts"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": ["kubeflow.org"],
            "resources": ["poddefaults"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    ]
    role: Any = {"metadata": {"name": user}, "rules": rules}
    binding: Any = {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    with kube_cluster.api_client() as api:
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.create_namespaced_role(namespace, role)
        rbac.create_namespaced_role_binding(namespace, binding)
    return RbacUser(user, namespace, kube_cluster.kubeconfig(user, namespace=namespace))


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    """A fresh profile namespace for one test, deleted afterwards."""
    name = kube_cluster.create_namespace()
    yield name
    kube_cluster.delete_namespace(name)
