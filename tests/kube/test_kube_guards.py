"""What apply refuses before its first write, what it skips, and what status and remove cover:
identity tokens, foreign and mixed combined Secrets, missing namespaces, clusters without the
PodDefault CRD, colliding slugs, every ServiceAccount, on the real API server."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from kubernetes import client as kubernetes_client
from kubernetes.client.exceptions import ApiException

from jupyter_regauth.cli import main
from jupyter_regauth.command_hints import command_hint
from jupyter_regauth.credentials.entries import decode_entry
from jupyter_regauth.credentials.types import Credentials
from jupyter_regauth.errors import ConfigError
from jupyter_regauth.kube import rbac
from jupyter_regauth.kube.apply import Applier, rollout
from jupyter_regauth.kube.client import failure
from jupyter_regauth.kube.errors import (
    ForeignSecret,
    KubeletNeedsPassword,
    LayoutConflict,
    NamespaceNotFound,
)
from jupyter_regauth.kube.objects import COMBINED, KAPTAIN, Names, RegistrySpec
from jupyter_regauth.kube.serviceaccount import DEFAULT_ACCOUNTS
from jupyter_regauth.magics import RegAuthMagics

from ..cli_helpers import regauth
from ..conftest import Registry
from ..test_magics import Session, ip, shell  # noqa: F401 (fixtures)
from ..test_server_openapi import check_named
from .conftest import KubeCluster
from .helpers import logged_in, managed_objects, pull_secret_names, secret_data
from .test_kube_access import user_without, wait_allowed

# The client's models are typed; the tests pass plain dicts, which it sends as they are.
client: Any = kubernetes_client


def spec(host: str) -> RegistrySpec:
    return RegistrySpec(host, Credentials(username="robot", password=secrets.token_hex(8)))


def admin(kube_cluster: KubeCluster, **extra: Any) -> dict[str, Any]:
    return {"kubeconfig": str(kube_cluster.admin_kubeconfig), **extra}


def admin_option(kube_cluster: KubeCluster) -> tuple[str, str]:
    """The same, as the command line's option."""
    return ("--kubeconfig", str(kube_cluster.admin_kubeconfig))


def test_identity_token_login_is_refused_before_writing(
    kube_cluster: KubeCluster, kube_namespace: str, token_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(token_registry)  # the token service swapped the password for a token
    host = token_registry.host
    with pytest.raises(KubeletNeedsPassword) as refused:
        service.kube_apply(host, kube_namespace, **admin(kube_cluster))
    assert host in refused.value.message and "identity token" in refused.value.message
    assert "kubelet" in refused.value.message
    assert refused.value.hint and "keeping the password" in refused.value.hint
    assert "regauth" not in refused.value.hint and "--" not in refused.value.hint
    # The command line names its own way to keep the password.
    cli = regauth("kube", "apply", host, "-n", kube_namespace, *admin_option(kube_cluster))
    assert cli.code == 1 and f"`regauth login {host} --store-password`" in cli.stderr
    with kube_cluster.api_client() as api:
        assert managed_objects(api, kube_namespace) == []

    # Logging in again with --store-password gives the kubelet a username and password.
    login = regauth(
        "login", host, "--username", token_registry.username, "--password-stdin",
        "--ca-file", str(token_registry.ca_file), "--store-password",
        stdin=token_registry.password + "\n",
    )  # fmt: skip
    assert login.code == 0, login.stderr
    assert service.kube_apply(host, kube_namespace, **admin(kube_cluster)).configured
    with kube_cluster.api_client() as api:
        _, docker = secret_data(api, kube_namespace, Names(host).docker_secret)
    entry = json.loads(docker[".dockerconfigjson"])["auths"][host]
    assert "identitytoken" not in entry
    creds = decode_entry(entry, path=Path("secret"), key=host)
    assert (creds.username, creds.password) == (token_registry.username, token_registry.password)
    assert base64.b64decode(entry["auth"]).decode().endswith(":" + token_registry.password)


def test_foreign_kaptain_secret_is_refused_before_writing(
    kube_cluster: KubeCluster, kube_namespace: str, basic_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(basic_registry)
    foreign: Any = {"metadata": {"name": "docker-secret"}, "stringData": {"config.json": "{}"}}
    with kube_cluster.api_client() as api:
        client.CoreV1Api(api).create_namespaced_secret(kube_namespace, foreign)
        with pytest.raises(ForeignSecret) as refused:
            service.kube_apply(
                basic_registry.host, kube_namespace, **admin(kube_cluster, kaptain_names=True)
            )
        assert refused.value.message == (
            f"Secret docker-secret exists in {kube_namespace} and is not managed by jupyter-regauth"
        )
        hint = refused.value.hint or ""
        assert f"`kubectl -n {kube_namespace} delete secret docker-secret`" in hint
        assert "use the default names" in hint and "--kaptain-names" not in hint
        cli = regauth(
            "kube", "apply", basic_registry.host, "-n", kube_namespace, "--kaptain-names",
            *admin_option(kube_cluster),
        )  # fmt: skip
        assert cli.code == 1 and "or drop --kaptain-names" in cli.stderr
        assert managed_objects(api, kube_namespace) == []


def test_already_exists_is_not_called_a_concurrent_change(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    body: Any = {"metadata": {"name": "twice"}}
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_secret(kube_namespace, body)
        with pytest.raises(ApiException) as again:
            core.create_namespaced_secret(kube_namespace, body)
    error = failure("create", "secrets", kube_namespace, again.value)
    assert error.status == 409 and error.reason == "AlreadyExists"
    assert "same time" not in (error.hint or "") and "exists already" in (error.hint or "")


@pytest.mark.parametrize(
    "second",
    [{"kaptain_names": True}, {"home": "/home/kubeflow"}],
    ids=["kaptain-names", "home"],
)
def test_a_second_layout_in_one_namespace_is_refused(
    kube_cluster: KubeCluster, kube_namespace: str, second: dict[str, Any]
) -> None:
    with kube_cluster.api_client() as api:
        Applier(api, kube_namespace).apply(spec("a.registry.test"))
        before = managed_objects(api, kube_namespace)
        options: dict[str, Any] = {"home": second.get("home", "/home/jovyan")}
        if second.get("kaptain_names"):
            options["combined"] = KAPTAIN
        with pytest.raises(LayoutConflict) as refused:
            Applier(api, kube_namespace, **options).apply(spec("b.registry.test"))
        assert "a.registry.test" in refused.value.message
        assert "regauth-docker-secret" in refused.value.message
        # What the command line needs to name the options that match the others' layout.
        error = refused.value.to_dict()
        assert (error["hosts"], error["kaptain_names"]) == (["a.registry.test"], False)
        assert error["home"] == "/home/jovyan" and "--" not in (refused.value.hint or "")
        assert "without --kaptain-names and with --home /home/jovyan" in (
            command_hint(error, "regauth") or ""
        )
        # Nothing of b was written, and a's combined Secret is still there for its pods.
        assert managed_objects(api, kube_namespace) == before
        _, combined = secret_data(api, kube_namespace, "regauth-docker-secret")
        assert list(json.loads(combined["config.json"])["auths"]) == ["a.registry.test"]
        # Removing b with the other layout would rebuild the pair under other names: refused.
        with pytest.raises(ConfigError):
            Applier(api, kube_namespace, **options).remove("b.registry.test")
        # The same registry may move to another layout while it is the only one.
        moved = Applier(api, kube_namespace, **options).apply(spec("a.registry.test"))
        assert moved.configured


def test_missing_namespace_is_named(
    kube_cluster: KubeCluster, basic_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(basic_registry)
    with pytest.raises(NamespaceNotFound) as missing:
        service.kube_apply(basic_registry.host, "no-such-ns", **admin(kube_cluster))
    assert missing.value.message == "namespace no-such-ns does not exist"
    assert missing.value.hint == "check the namespace's name, or create the namespace first"
    assert missing.value.to_dict()["namespace"] == "no-such-ns"
    cli = regauth(
        "kube", "apply", basic_registry.host, "-n", "no-such-ns", *admin_option(kube_cluster)
    )
    assert cli.code == 1
    assert "Hint: check -n/--namespace, or create the namespace first" in cli.stderr
    # status and remove name it too, rather than "not configured" or "nothing to remove".
    for action in ("status", "remove"):
        cli = regauth(
            "kube", action, basic_registry.host, "-n", "no-such-ns", *admin_option(kube_cluster)
        )
        assert (cli.code, cli.stdout) == (1, ""), action
        assert "namespace no-such-ns does not exist" in cli.stderr, action
    # A user who may write Secrets everywhere but not read namespaces: the write's 404 says it.
    user = f"no-ns-reader-{secrets.token_hex(3)}"
    role: Any = {"metadata": {"name": user}, "rules": rbac.RULES}
    binding: Any = {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    with kube_cluster.api_client() as api:
        cluster_rbac = client.RbacAuthorizationV1Api(api)
        cluster_rbac.create_cluster_role(role)
        cluster_rbac.create_cluster_role_binding(binding)
    try:
        wait_allowed(kube_cluster, "no-such-ns", user)
        kubeconfig = str(kube_cluster.kubeconfig(user))
        with pytest.raises(NamespaceNotFound) as refused:
            service.kube_apply(basic_registry.host, "no-such-ns", kubeconfig=kubeconfig)
        assert refused.value.status == 404
        assert "in namespace no-such-ns: 404 namespace not found" in refused.value.message
        assert refused.value.hint == "check the namespace's name, or create the namespace first"
    finally:
        with kube_cluster.api_client() as api:
            cluster_rbac = client.RbacAuthorizationV1Api(api)
            cluster_rbac.delete_cluster_role_binding(user)
            cluster_rbac.delete_cluster_role(user)


def test_without_the_poddefault_crd_the_secrets_are_written(
    bare_cluster: KubeCluster,
    basic_registry: Registry,
    docker_config: Path,
    ip: Session,  # noqa: F811
) -> None:
    service = logged_in(basic_registry)
    namespace = bare_cluster.create_namespace("jupyterhub")
    names = Names(basic_registry.host)
    options = admin(bare_cluster)
    report = service.kube_apply(basic_registry.host, namespace, **options)
    assert report.configured
    assert {o.kind for o in report.objects} == {"Secret"}
    # The note says so in words, with a code and the host for each front end's own fix.
    [note] = report.to_dict()["note_details"]
    assert note["code"] == "pod_defaults_not_served" and note["host"] == basic_registry.host
    check_named("KubeNote", note)  # as the REST API documents it
    assert "poddefaults" in note["message"] and "JupyterHub (KubeSpawner) profile" in note["hint"]
    [text] = report.to_dict()["notes"]
    assert text == f"{note['message']} ({note['hint']})" and "regauth" not in text
    # The command line names its command, with the host, where the note is shown.
    host = basic_registry.host
    cli = regauth("kube", "status", host, "-n", namespace, *admin_option(bare_cluster))
    assert cli.code == 0, cli.stderr
    assert f"`regauth kube spawner-profile {basic_registry.host}` prints one" in cli.stdout
    magic = ip.ok(
        f"%regauth kube status {basic_registry.host} -n {namespace} "
        f"--kubeconfig {bare_cluster.admin_kubeconfig}"
    )
    assert f"`%regauth kube spawner-profile {basic_registry.host}` prints one" in str(magic)
    with bare_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        kind, _ = secret_data(api, namespace, names.docker_secret)
        assert kind == "kubernetes.io/dockerconfigjson"
        assert pull_secret_names(api, namespace) == [names.docker_secret]
        assert service.kube_status(basic_registry.host, namespace, **options).configured
        service.kube_remove(basic_registry.host, namespace, **options)
        left = core.list_namespaced_secret(namespace, label_selector="app.kubernetes.io/managed-by")
        assert left.items == []
        assert pull_secret_names(api, namespace) == []


def test_hosts_that_map_alike_get_their_own_objects(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    first, second = "reg.example:5000", "reg-example:5000"
    assert Names(first).slug != Names(second).slug
    assert Names("reg.example.5000").slug not in (Names(first).slug, Names(second).slug)
    assert Names("registry.example:5000").slug == "registry-example-5000"  # readable as before
    with kube_cluster.api_client() as api:
        applier, kept = Applier(api, kube_namespace), spec(first)
        applier.apply(kept)
        applier.apply(spec(second))
        applier.remove(second)
        assert applier.status(kept).configured
        left = managed_objects(api, kube_namespace)
        assert f"PodDefault/{Names(first).pod_default}" in left
        assert not any(Names(second).slug in item for item in left)
        _, combined = secret_data(api, kube_namespace, "regauth-docker-secret")
        assert list(json.loads(combined["config.json"])["auths"]) == [first]


def test_objects_under_an_older_slug_are_replaced(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    """A host with a '-' had a readable slug before slugs were made injective: what an older
    version wrote under it is deleted by apply (and its pull Secret leaves the accounts)."""
    host = "reg-example:5000"
    old_slug, new = "reg-example-5000", Names(host)
    assert new.slug != old_slug
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        applier = Applier(api, kube_namespace)
        applier.apply(spec(host))
        # What the older version left: the same objects under the old names and label.
        old_names = []
        for item in core.list_namespaced_secret(
            kube_namespace, label_selector=f"jupyter-regauth/registry={new.slug}"
        ).items:
            body = client.ApiClient().sanitize_for_serialization(item)
            name = body["metadata"]["name"].replace(new.slug, old_slug)
            body["metadata"] = {
                "name": name,
                "labels": {**body["metadata"]["labels"], "jupyter-regauth/registry": old_slug},
                "annotations": body["metadata"]["annotations"],
            }
            core.create_namespaced_secret(kube_namespace, body)
            old_names.append(name)
        old_pull = f"regauth-{old_slug}-docker-secret"
        assert old_pull in old_names
        core.patch_namespaced_service_account(
            "default", kube_namespace, {"imagePullSecrets": [{"name": old_pull}]}
        )
        report = applier.apply(spec(host))
        deleted = {o.name for o in report.objects if o.action == "deleted"}
        assert deleted == set(old_names)
        assert pull_secret_names(api, kube_namespace) == [new.docker_secret]
        left = managed_objects(api, kube_namespace)
        assert not any(f"Secret/{name}" in left for name in old_names)


def test_status_reports_a_missing_combined_secret(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        applier = Applier(api, kube_namespace)
        applier.apply(spec("a.registry.test"))
        client.CoreV1Api(api).delete_namespaced_secret("regauth-docker-secret", kube_namespace)
        status = applier.status(spec("a.registry.test"))
        assert not status.configured
        [combined] = [o for o in status.objects if o.name == "regauth-docker-secret"]
        assert not combined.exists
        assert applier.apply(spec("a.registry.test")).configured  # apply repairs it


def test_remove_cleans_every_service_account(
    kube_cluster: KubeCluster, kube_namespace: str, basic_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(basic_registry)
    names = Names(basic_registry.host)
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_service_account(kube_namespace, {"metadata": {"name": "builder"}})
        options = admin(kube_cluster, service_accounts=("builder",))
        service.kube_apply(basic_registry.host, kube_namespace, **options)
        assert pull_secret_names(api, kube_namespace, "builder") == [names.docker_secret]
        removed = service.kube_remove(basic_registry.host, kube_namespace, **admin(kube_cluster))
        assert pull_secret_names(api, kube_namespace, "builder") == []
        assert removed.service_accounts["builder"] is False and removed.notes == []

    # Where ServiceAccounts may not be listed, the named ones are cleaned and the result says so.
    user = user_without(kube_cluster, kube_namespace, "serviceaccounts", "list", "no-sa-list")
    service.kube_apply(basic_registry.host, kubeconfig=user)
    removed = service.kube_remove(basic_registry.host, kubeconfig=user)
    [note] = removed.to_dict()["note_details"]
    assert note["code"] == "service_accounts_not_listed" and "may not be listed" in note["message"]
    check_named("KubeNote", note)
    assert (note["namespace"], note["service_accounts"]) == (kube_namespace, list(DEFAULT_ACCOUNTS))
    assert "`" not in note["hint"] and "--" not in note["hint"]  # no command line
    hint = command_hint(note, "regauth") or ""
    remove = f"`regauth kube remove {basic_registry.host} -n {kube_namespace} --service-account"
    assert remove in hint
    with kube_cluster.api_client() as api:
        assert pull_secret_names(api, kube_namespace) == []


def test_rollout_reports_an_unexpected_error_and_goes_on(kube_cluster: KubeCluster) -> None:
    label = f"rollout-{secrets.token_hex(3)}"
    names = [f"{label}-{i}" for i in range(2)]
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        for name in names:
            core.create_namespace({"metadata": {"name": name, "labels": {"regauth-odd": label}}})
        try:

            def action(namespace: str) -> Any:
                if namespace == names[0]:
                    raise RuntimeError("surprise")
                return Applier(api, namespace).apply(spec("a.registry.test"))

            result = rollout(api, f"regauth-odd={label}", action)
            assert [r.namespace for r in result.reports] == [names[1]]
            assert result.errors[names[0]]["code"] == "unexpected_error"
            assert "RuntimeError" in str(result.errors[names[0]]["message"])
        finally:
            for name in names:
                core.delete_namespace(name)


def test_rollout_cli_counts_and_fails_on_a_failed_namespace(
    kube_cluster: KubeCluster,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failed namespace is one of those matched, and fails the command (its report printed)."""
    label = f"rollout-{secrets.token_hex(3)}"
    names = [f"{label}-{i}" for i in range(3)]
    logged_in(basic_registry)
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        for name in names:
            core.create_namespace({"metadata": {"name": name, "labels": {"regauth-cli": label}}})
        # Not ours: the combined Secret's name is taken, so that namespace is refused.
        taken = {"metadata": {"name": COMBINED.docker}, "stringData": {"x": "y"}}
        core.create_namespaced_secret(names[1], taken)
        try:
            base = ["kube", "rollout", basic_registry.host, "-l", f"regauth-cli={label}"]
            base += ["--kubeconfig", str(kube_cluster.admin_kubeconfig)]
            assert main(["--json", *base]) == 1
            data = json.loads(capsys.readouterr().out)
            assert data["namespaces"] == names
            assert list(data["errors"]) == [names[1]]
            assert data["errors"][names[1]]["code"] == "foreign_secret"
            assert data["changed"] == [names[0], names[2]]
            assert main(base) == 1
            out = capsys.readouterr().out
            assert out.startswith("3 namespaces, 0 changed, 1 failed\n")
            assert f"  {names[1]}: Secret {COMBINED.docker} exists" in out
            # In a notebook, the cell fails with the same report.
            with pytest.raises(UsageError, match="3 namespaces, 0 changed, 1 failed"):
                RegAuthMagics(InteractiveShell.instance()).regauth(" ".join(base))
        finally:
            for name in names:
                core.delete_namespace(name)


def test_rollout_names_an_invalid_selector(
    kube_cluster: KubeCluster,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logged_in(basic_registry)
    for selector in ("team in (a", "team=a b", "=a"):
        argv = ["kube", "rollout", basic_registry.host, "-l", selector]
        assert main([*argv, *admin_option(kube_cluster)]) == 1
        err = capsys.readouterr().err
        assert f"the label selector {selector!r} is not valid" in err, selector
        assert "Hint: check -l/--selector: write it as Kubernetes does" in err


def test_a_relative_home_is_refused_before_the_cluster_is_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for action in ("apply", "spawner-profile"):
        assert main(["kube", action, "registry.example", "--home", "home/jovyan"]) == 1
        assert "home must be an absolute path, not 'home/jovyan'" in capsys.readouterr().err
