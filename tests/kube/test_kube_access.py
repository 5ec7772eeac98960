"""The printed Role is enough and needed; namespaces found in-cluster and from Kubeflow's hints;
rollout to many namespaces."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kubernetes_client

from jupyter_regauth.cli import main
from jupyter_regauth.kube import rbac
from jupyter_regauth.kube.apply import Applier
from jupyter_regauth.kube.client import KubeError, connect, detect_namespace
from jupyter_regauth.kube.facade import registry_spec

from ..conftest import Registry
from .conftest import KubeCluster
from .helpers import logged_in, managed_objects, pull_secret_names

# The client's models are typed; the tests pass plain dicts, which it sends as they are.
client: Any = kubernetes_client


def bind(kube_cluster: KubeCluster, namespace: str, user: str, role: dict[str, Any]) -> None:
    binding: Any = {
        "metadata": {"name": user},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    with kube_cluster.api_client() as api:
        rbac_api = client.RbacAuthorizationV1Api(api)
        rbac_api.create_namespaced_role(namespace, role)
        rbac_api.create_namespaced_role_binding(namespace, binding)
    if "create" in role["rules"][0]["verbs"]:
        wait_allowed(kube_cluster, namespace, user)


def wait_allowed(kube_cluster: KubeCluster, namespace: str, user: str) -> None:
    """RBAC answers from an informer cache: wait until a new binding is seen."""
    review: Any = {
        "spec": {
            "user": user,
            "resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "secrets"},
        }
    }
    with kube_cluster.api_client() as api:
        authz = client.AuthorizationV1Api(api)
        for _ in range(100):
            if authz.create_subject_access_review(review).status.allowed:
                return
            time.sleep(0.05)
    raise AssertionError(f"{user} was never allowed in {namespace}")


def user_without(
    kube_cluster: KubeCluster, namespace: str, resource: str, verb: str, user: str
) -> str:
    """The kubeconfig of ``user``, bound in ``namespace`` to the printed Role without ``verb``
    on ``resource`` (a Role of its own name)."""
    role = rbac.role(namespace)
    role["metadata"]["name"] = user
    [rule] = [r for r in role["rules"] if r["resources"] == [resource]]
    rule["verbs"].remove(verb)
    bind(kube_cluster, namespace, user, role)
    return str(kube_cluster.kubeconfig(user, namespace=namespace))


def test_printed_role_is_enough(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--json", "kube", "rbac", "-n", kube_namespace]) == 0
    role = json.loads(capsys.readouterr().out)
    assert role["kind"] == "Role"
    bind(kube_cluster, kube_namespace, "minimal-user", role)
    user = str(kube_cluster.kubeconfig("minimal-user", namespace=kube_namespace))
    service = logged_in(basic_registry)
    # No namespace given: the kubeconfig context's is used.
    assert service.kube_apply(basic_registry.host, kubeconfig=user).configured
    assert service.kube_status(basic_registry.host, kubeconfig=user).configured
    service.kube_remove(basic_registry.host, kubeconfig=user)
    with kube_cluster.api_client() as api:
        assert managed_objects(api, kube_namespace) == []


def test_user_without_rights_is_told_the_verb_and_resource(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logged_in(basic_registry)
    # A Role missing only "patch" on secrets: the error names exactly that.
    user = user_without(kube_cluster, kube_namespace, "secrets", "patch", "no-patch")
    code = main(["kube", "apply", basic_registry.host, "--kubeconfig", user])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot patch secrets in namespace {kube_namespace}: forbidden" in err
    assert "regauth kube rbac" in err
    assert basic_registry.password not in err
    nobody = str(kube_cluster.kubeconfig("nobody"))
    service = logged_in(basic_registry)
    with pytest.raises(KubeError) as refused:
        service.kube_apply(basic_registry.host, kube_namespace, kubeconfig=nobody)
    assert refused.value.status == 403 and refused.value.code == "kube_forbidden"
    assert refused.value.message.startswith(f"cannot get secrets in namespace {kube_namespace}")
    assert "grant 'get' on secrets" in (refused.value.hint or "")
    assert "kube rbac" not in (refused.value.hint or "")  # the command is the CLI's to name


def test_forbidden_names_the_verb_the_api_server_checked(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Server-side apply is a patch, but one that creates the object needs 'create' too: the
    refusal names the verb the API server refused, not the request's."""
    logged_in(basic_registry)
    user = user_without(kube_cluster, kube_namespace, "poddefaults", "create", "no-create")
    assert main(["kube", "apply", basic_registry.host, "--kubeconfig", user]) == 1
    err = capsys.readouterr().err
    resource = f"poddefaults.kubeflow.org in namespace {kube_namespace}"
    assert f"cannot create {resource}: forbidden" in err
    assert f"grant 'create' on {resource}" in err


def test_a_refused_later_write_leaves_nothing_written(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Role without 'update' on ServiceAccounts: apply's last write would be refused, and
    the dry run finds that out before the Secrets and the PodDefault are written. Then a
    Role without 'delete' on Secrets: remove leaves the ServiceAccount listing the Secret."""
    logged_in(basic_registry)
    user = user_without(kube_cluster, kube_namespace, "serviceaccounts", "update", "no-update")
    assert main(["kube", "apply", basic_registry.host, "--kubeconfig", user]) == 1
    err = capsys.readouterr().err
    assert f"cannot update serviceaccounts in namespace {kube_namespace}: forbidden" in err
    with kube_cluster.api_client() as api:
        assert managed_objects(api, kube_namespace) == []
        assert pull_secret_names(api, kube_namespace) == []

    admin = ["--kubeconfig", str(kube_cluster.admin_kubeconfig), "-n", kube_namespace]
    assert main(["kube", "apply", basic_registry.host, *admin]) == 0
    capsys.readouterr()
    with kube_cluster.api_client() as api:
        written = managed_objects(api, kube_namespace)
        listed = pull_secret_names(api, kube_namespace)
    user = user_without(kube_cluster, kube_namespace, "secrets", "delete", "no-delete")
    assert main(["kube", "remove", basic_registry.host, "--kubeconfig", user]) == 1
    err = capsys.readouterr().err
    assert f"cannot delete secrets in namespace {kube_namespace}: forbidden" in err
    with kube_cluster.api_client() as api:
        assert managed_objects(api, kube_namespace) == written
        assert pull_secret_names(api, kube_namespace) == listed != []


def test_in_cluster_service_account(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
) -> None:
    """The pod's token, CA and namespace files (under a test root) are all it takes."""
    bind(kube_cluster, kube_namespace, "unused", rbac.role(kube_namespace))
    binding: Any = {
        "metadata": {"name": "notebook-sa"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "jupyter-regauth",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": kube_namespace}],
    }
    with kube_cluster.api_client() as api:
        client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(kube_namespace, binding)
    wait_allowed(kube_cluster, kube_namespace, f"system:serviceaccount:{kube_namespace}:default")
    with kube_cluster.api_client() as api:
        request: Any = {"spec": {"expirationSeconds": 600}}
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            "default", kube_namespace, request
        )
    root = tmp_path / "serviceaccount"
    root.mkdir()
    (root / "token").write_text(token.status.token)
    (root / "ca.crt").write_bytes(kube_cluster.ca_pem)
    (root / "namespace").write_text(kube_namespace)
    port = kube_cluster.server.rsplit(":", 1)[1]
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    cluster = connect(service_account_dir=root, environ=env)
    assert cluster.in_cluster and cluster.namespace == kube_namespace
    spec = registry_spec(logged_in(basic_registry), basic_registry.host)
    with cluster.api:
        assert Applier(cluster.api, cluster.namespace).apply(spec).configured


def test_namespace_detection(tmp_path: Path) -> None:
    assert detect_namespace("given", "ctx", tmp_path, {"NB_PREFIX": "/notebook/a/b"}) == "given"
    assert detect_namespace(None, "ctx", tmp_path, {"NB_PREFIX": "/notebook/team-a/nb"}) == "team-a"
    assert detect_namespace(None, "ctx", tmp_path, {}) == "ctx"
    assert detect_namespace(None, "", tmp_path, {}) == "default"
    (tmp_path / "namespace").write_text("kubeflow-user\n")
    assert (
        detect_namespace(None, "ctx", tmp_path, {"NB_PREFIX": "/notebook/x/y"}) == "kubeflow-user"
    )


def test_rollout_to_fifty_namespaces_is_idempotent(
    kube_cluster: KubeCluster, basic_registry: Registry, docker_config: Path
) -> None:
    label = f"rollout-{secrets.token_hex(3)}"
    names = [f"{label}-{i}" for i in range(50)]
    service = logged_in(basic_registry)
    admin: dict[str, Any] = {"kubeconfig": str(kube_cluster.admin_kubeconfig)}
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        for name in names:
            body: Any = {"metadata": {"name": name, "labels": {"regauth-test-team": label}}}
            core.create_namespace(body)
            core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
        try:
            selector = f"regauth-test-team={label}"
            first = service.kube_rollout(basic_registry.host, selector, **admin)
            assert first.errors == {}
            assert sorted(r.namespace for r in first.reports) == sorted(names)
            assert first.changed == sorted(names)
            assert all(r.configured for r in first.reports)
            second = service.kube_rollout(basic_registry.host, selector, **admin)
            assert second.errors == {} and second.changed == []
            removed = service.kube_rollout(basic_registry.host, selector, remove=True, **admin)
            assert removed.errors == {} and len(removed.changed) == 50
            assert all(managed_objects(api, n) == [] for n in names[:5])
        finally:
            for name in names:
                core.delete_namespace(name)
