"""The front ends over the Kubernetes core, on the real control plane: the ``%regauth kube``
magic (with the kernel's default registry), the widget's toggle, and the REST endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jupyter_regauth
from jupyter_regauth.nbwidget import KUBE_UNAVAILABLE

from ..conftest import Registry
from ..test_magics import Session, ip, shell  # noqa: F401 (fixtures)
from ..test_server_openapi import Fetch, checked
from ..test_widget import comms, from_browser, login  # noqa: F401 (fixtures and helpers)
from .conftest import KubeCluster
from .helpers import logged_in, managed_objects, pull_secret_names


@pytest.fixture
def cluster_env(
    kube_cluster: KubeCluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """KUBECONFIG for an admin whose context namespace is the test's profile namespace, as a
    notebook's own kubeconfig would be."""
    kubeconfig = kube_cluster.kubeconfig("notebook-admin", ("system:masters",), kube_namespace)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return kube_namespace


def test_magic_kube_apply_status_remove_on_the_default_registry(
    ip: Session,  # noqa: F811
    basic_registry: Registry,
    cluster_env: str,
    kube_cluster: KubeCluster,
) -> None:
    logged_in(basic_registry)
    ip.ok(f"%regauth use {basic_registry.host}")
    applied = ip.ok("%regauth kube apply")  # HOST from `use`, namespace from the kubeconfig
    assert applied.data["namespace"] == cluster_env and applied.data["configured"]
    status = ip.ok("%regauth kube status")
    assert all(o["exists"] and o["matches"] for o in status.data["objects"])
    assert "PodDefault" in str(status) and "PodDefault" in status._repr_html_()
    with kube_cluster.api_client() as api:
        assert managed_objects(api, cluster_env)
        assert any(n.startswith("regauth-") for n in pull_secret_names(api, cluster_env))
    ip.ok("%regauth kube remove")
    with kube_cluster.api_client() as api:
        assert managed_objects(api, cluster_env) == []


def test_widget_login_configures_kubernetes(
    comms: list[dict[str, Any]],  # noqa: F811
    basic_registry: Registry,
    docker_config: Path,
    cluster_env: str,
    kube_cluster: KubeCluster,
) -> None:
    service = jupyter_regauth.service.RegAuth()
    assert basic_registry.ca_file is not None
    service.trust(basic_registry.host, basic_registry.ca_file.read_bytes())
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    assert not widget.kube.disabled and widget.kube.tooltip != KUBE_UNAVAILABLE
    from_browser(widget.kube, value=True)
    login(widget, basic_registry.username, basic_registry.password)
    assert "Logged in" in widget.status.value
    with kube_cluster.api_client() as api:
        names = managed_objects(api, cluster_env)
    assert any(n.startswith("PodDefault/") for n in names)
    assert any(n.startswith("Secret/") for n in names)


class TestServer:
    @pytest.fixture
    def jp_server_config(self, docker_config: Path, cluster_env: str) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
            "RegAuthApp": {
                "docker_config_dir": str(docker_config),
                "kubernetes": True,
                "namespace": cluster_env,
            },
        }

    async def test_kube_endpoints(
        self,
        jp_fetch: Fetch,
        basic_registry: Registry,
        cluster_env: str,
        kube_cluster: KubeCluster,
    ) -> None:
        logged_in(basic_registry)
        host = basic_registry.host
        version = await checked(jp_fetch, "GET", "version")
        assert version["kubernetes"]["available"] is True
        before = await checked(jp_fetch, "GET", "registries", host, "kube")
        assert before["configured"] is False
        applied = await checked(jp_fetch, "POST", "registries", host, "kube", body={})
        assert applied["configured"] and applied["namespace"] == cluster_env
        status = await checked(jp_fetch, "GET", "registries", host, "kube")
        assert status["configured"]
        assert {o["state"] for o in status["objects"]} == {"present"}
        listed = await checked(jp_fetch, "GET", "registries")
        [row] = [r for r in listed["registries"] if r["host"] == host]
        assert row["kube"]["configured"] is True
        removed = await checked(jp_fetch, "DELETE", "registries", host, "kube")
        assert {o["state"] for o in removed["objects"]} <= {"removed", "missing"}
        with kube_cluster.api_client() as api:
            assert managed_objects(api, cluster_env) == []
