"""JupyterHub profile, containerd hosts.toml + DaemonSet, and the in-cluster build Job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tomllib
from kubernetes import client as kubernetes_client
from traitlets import List
from traitlets.config import Config, Configurable

from jupyter_regauth.cli import main
from jupyter_regauth.kube import containerd, spawner
from jupyter_regauth.kube.buildjob import BuildRequest, build_job, digest_from_message
from jupyter_regauth.kube.facade import registry_spec
from jupyter_regauth.kube.objects import Names
from jupyter_regauth.profiles import RegistryProfile

from ..conftest import Registry
from .conftest import KubeCluster
from .helpers import logged_in

# The client's models are typed; the tests pass plain dicts, which it sends as they are.
client: Any = kubernetes_client


class KubeSpawner(Configurable):
    profile_list: List[Any] = List(config=True)


def test_jupyterhub_config_snippet(basic_registry: Registry, docker_config: Path) -> None:
    spec = registry_spec(logged_in(basic_registry), basic_registry.host)
    names = Names(basic_registry.host)
    c = Config()
    c.KubeSpawner.profile_list = [{"display_name": "existing"}]
    exec(spawner.jupyterhub_config(spec, home="/home/kubeflow"), {"c": c})  # noqa: S102  # noqa: S102 (the generated config runs as jupyterhub does)
    profiles = KubeSpawner(config=c).profile_list
    assert profiles[0] == {"display_name": "existing"}
    override = profiles[1]["kubespawner_override"]
    assert override["image_pull_secrets"] == [names.docker_secret]
    assert override["environment"]["DOCKER_CONFIG"] == "/home/kubeflow/.docker"
    assert override["environment"]["SSL_CERT_FILE"] == "/home/kubeflow/.tls/ca-bundle.crt"
    mounts = {m["mountPath"]: m["name"] for m in override["volume_mounts"]}
    volumes = {v["name"]: v["secret"]["secretName"] for v in override["volumes"]}
    assert volumes[mounts["/home/kubeflow/.docker"]] == names.docker_secret
    assert volumes[mounts["/home/kubeflow/.tls"]] == names.certificate_secret
    # An unset profile_list is appended to as well.
    fresh = Config()
    exec(spawner.jupyterhub_config(spec), {"c": fresh})  # noqa: S102  # noqa: S102
    assert len(KubeSpawner(config=fresh).profile_list) == 1
    assert basic_registry.password not in spawner.jupyterhub_config(spec)


def test_hosts_toml_for_registry_and_mirror(
    kube_cluster: KubeCluster, kube_namespace: str, basic_registry: Registry, docker_config: Path
) -> None:
    service = logged_in(basic_registry)
    host = basic_registry.host
    service.profiles.save_user(RegistryProfile(host=host, mirror_of=("docker.io", "*")))
    spec = registry_spec(service, host)
    files = containerd.node_files(spec, ("docker.io", "*"), header_auth=True)
    own = tomllib.loads(files[f"{host}/hosts.toml"])
    entry = own["host"][f"https://{host}"]
    assert own["server"] == f"https://{host}"
    assert entry["capabilities"] == ["pull", "resolve", "push"]
    assert entry["ca"] == f"/etc/containerd/certs.d/{host}/ca.crt"
    assert entry["header"]["authorization"][0].startswith("Basic ")
    assert files[f"{host}/ca.crt"] == spec.ca_pem
    mirror = tomllib.loads(files["docker.io/hosts.toml"])
    assert mirror["server"] == "https://registry-1.docker.io"
    assert mirror["host"][f"https://{host}"]["capabilities"] == ["pull", "resolve"]
    default = tomllib.loads(files["_default/hosts.toml"])
    assert "server" not in default and f"https://{host}" in default["host"]
    overridden = containerd.node_files(spec, override_path=True)[f"{host}/hosts.toml"]
    assert tomllib.loads(overridden)["host"][f"https://{host}/v2"]["override_path"] is True

    # The CLI refuses to print credentials; the DaemonSet is accepted by the API server.
    assert main(["kube", "hosts-toml", host, "--header-auth"]) == 1
    secret, daemonset = containerd.daemonset(spec, ("docker.io",), namespace=kube_namespace)
    with kube_cluster.api_client() as api:
        client.CoreV1Api(api).create_namespaced_secret(kube_namespace, secret)
        made = client.AppsV1Api(api).create_namespaced_daemon_set(kube_namespace, daemonset)
    volumes = {v.name: v for v in made.spec.template.spec.volumes}
    assert volumes["certs-d"].host_path.path == "/etc/containerd/certs.d"
    script = made.spec.template.spec.init_containers[0].command[2]
    assert f"/host/{host}/hosts.toml" in script and "/host/docker.io/hosts.toml" in script


def test_build_job_is_accepted_and_context_pushed(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
) -> None:
    service = logged_in(basic_registry)
    context = tmp_path / "model"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY weights.bin /model/\n")
    (context / "weights.bin").write_bytes(b"\x00" * 1024)
    image = f"{basic_registry.host}/team/model:1"
    result = service.kube_build_job(
        context, image, kube_namespace, kubeconfig=str(kube_cluster.admin_kubeconfig)
    )
    assert result.job.startswith("regauth-build-")
    # The context artifact is in the same registry, and pulls back to the same files.
    out = tmp_path / "pulled"
    service.pull(result.context, out)
    assert (out / "model" / "Dockerfile").read_bytes() == (context / "Dockerfile").read_bytes()
    with kube_cluster.api_client() as api:
        job: Any = api.sanitize_for_serialization(
            client.BatchV1Api(api).read_namespaced_job(result.job, kube_namespace)
        )
    pod = job["spec"]["template"]["spec"]
    fetch, build = pod["initContainers"][0], pod["containers"][0]
    assert fetch["args"][:2] == ["pull", result.context]
    assert "buildctl-daemonless.sh build" in build["command"][2]
    assert "--metadata-file /dev/termination-log" in build["command"][2]
    env = {e["name"]: e["value"] for e in build["env"]}
    toml = tomllib.loads(env["BUILDKITD_TOML"])
    assert toml["registry"][basic_registry.host]["ca"] == ["/regauth/tls/ca.crt"]
    secrets = {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]}
    names = Names(basic_registry.host)
    assert secrets["docker"] == names.docker_secret and secrets["tls"] == names.certificate_secret


def test_kaniko_job_and_digest(
    kube_cluster: KubeCluster, kube_namespace: str, mtls_registry: Registry
) -> None:
    from jupyter_regauth.credentials.types import Credentials
    from jupyter_regauth.kube.objects import RegistrySpec

    spec = RegistrySpec(
        mtls_registry.host,
        Credentials("dave", "unused"),
        ca_pem="-----BEGIN CERTIFICATE-----\n",
        client_cert_pem="cert",
        client_key_pem="key",
    )
    request = BuildRequest(
        f"{mtls_registry.host}/m:1", f"{mtls_registry.host}/m-ctx@sha256:" + "a" * 64, "ctx",
        builder="kaniko",
    )  # fmt: skip
    body = build_job(spec, request, kube_namespace)
    with kube_cluster.api_client() as api:
        client.BatchV1Api(api).create_namespaced_job(kube_namespace, body)
    args = body["spec"]["template"]["spec"]["containers"][0]["args"]
    host = mtls_registry.host
    assert f"--registry-certificate={host}=/regauth/tls/ca.crt" in args
    assert f"--registry-client-cert={host}=/regauth/client/tls.crt,/regauth/client/tls.key" in args
    assert "--digest-file=/dev/termination-log" in args
    digest = "sha256:" + "b" * 64
    assert digest_from_message(json.dumps({"containerimage.digest": digest})) == digest
    assert digest_from_message(digest + "\n") == digest
    assert digest_from_message("failed") is None


@pytest.mark.parametrize("action", ["spawner-profile", "hosts-toml"])
def test_cli_prints_without_secrets(
    action: str,
    basic_registry: Registry,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logged_in(basic_registry)
    assert main(["kube", action, basic_registry.host]) == 0
    out = capsys.readouterr().out
    assert basic_registry.host in out and basic_registry.password not in out
