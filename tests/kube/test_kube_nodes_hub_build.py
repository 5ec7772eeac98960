"""JupyterHub profile, containerd hosts.toml + DaemonSet, and the in-cluster build Job."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from kubernetes import client as kubernetes_client
from traitlets.config import Config

import jupyter_regauth.service
from jupyter_regauth.cli import main
from jupyter_regauth.kube import containerd, spawner
from jupyter_regauth.kube.buildjob import BuildRequest, build_job, digest_from_message
from jupyter_regauth.kube.errors import KubeconfigNotFound, KubeError
from jupyter_regauth.kube.facade import registry_spec
from jupyter_regauth.kube.objects import Names
from jupyter_regauth.profiles import RegistryProfile
from jupyter_regauth.registry.errors import NotFound

from ..conftest import Registry
from .conftest import KubeCluster, RbacUser
from .helpers import logged_in

# The client's models are typed; the tests pass plain dicts, which it sends as they are.
client: Any = kubernetes_client


@pytest.mark.parametrize("form", ["list", "dict"])
def test_jupyterhub_profile_extends_the_hubs_own_pod(
    form: str,
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KubeSpawner's own override code applies the generated profile onto a hub that has a home
    volume and a pull Secret of its own (in either form KubeSpawner takes): both stay, the
    registry's are added, and the API server admits the pod."""
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.admin_kubeconfig))
    from kubespawner import KubeSpawner

    service = logged_in(basic_registry)
    service.kube_apply(basic_registry.host, kube_namespace)
    spec = registry_spec(service, basic_registry.host)
    names = Names(basic_registry.host)
    home: dict[str, Any] = {"name": "home", "emptyDir": {}}
    home_mount: dict[str, Any] = {"name": "home", "mountPath": "/home/kubeflow"}
    c = Config()
    c.KubeSpawner.namespace = kube_namespace
    c.KubeSpawner.volumes = [home] if form == "list" else {"home": home}
    c.KubeSpawner.volume_mounts = [home_mount] if form == "list" else {"home": home_mount}
    c.KubeSpawner.image_pull_secrets = ["hub-pull"]
    c.KubeSpawner.profile_list = [{"display_name": "existing", "slug": "existing"}]
    code = spawner.jupyterhub_config(spec, home="/home/kubeflow")
    assert basic_registry.password not in code
    exec(code, {"c": c})  # noqa: S102 (the generated config runs as jupyterhub runs it)
    assert [p["slug"] for p in c.KubeSpawner.profile_list] == ["existing", f"regauth-{names.slug}"]

    async def pod_manifest() -> Any:
        hub = KubeSpawner(config=c, _mock=True)
        hub.user_options = {"profile": f"regauth-{names.slug}"}
        await hub.load_user_options()
        await hub.load_user_options()  # a second start adds nothing twice
        return await hub.get_pod_manifest()

    manifest = asyncio.run(pod_manifest())
    with kube_cluster.api_client() as api:
        body = api.sanitize_for_serialization(manifest)  # KubeSpawner's asyncio client's model
        pod: Any = api.sanitize_for_serialization(
            client.CoreV1Api(api).create_namespaced_pod(kube_namespace, body)
        )
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "home" in volumes
    docker, tls = f"{names.pod_default}-docker", f"{names.pod_default}-tls"
    assert volumes[docker]["secret"]["secretName"] == names.docker_secret
    assert volumes[tls]["secret"]["secretName"] == names.certificate_secret
    container = pod["spec"]["containers"][0]
    mounts = [(m["name"], m["mountPath"]) for m in container["volumeMounts"]]
    assert ("home", "/home/kubeflow") in mounts
    assert (docker, "/home/kubeflow/.docker") in mounts and (tls, "/home/kubeflow/.tls") in mounts
    assert [s["name"] for s in pod["spec"]["imagePullSecrets"]] == ["hub-pull", names.docker_secret]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DOCKER_CONFIG"] == "/home/kubeflow/.docker"
    assert env["SSL_CERT_FILE"] == "/home/kubeflow/.tls/ca-bundle.crt"
    # The entry as data uses the dict form, which KubeSpawner merges with a hub's dicts.
    override = spawner.profile_entry(spec)["kubespawner_override"]
    assert set(override["volumes"]) == {docker, tls} and "image_pull_secrets" not in override


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
    # No Istio sidecar: it would hold the Job open and cut the init container off.
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"sidecar.istio.io/inject": "false"}
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


def test_build_job_on_the_command_line_takes_dir_and_a_kubeconfig_context(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    basic_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """DIR is the build context and --context the kubeconfig's: two things, both given."""
    logged_in(basic_registry)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    kubeconfig = str(kube_cluster.admin_kubeconfig)
    contexts = yaml.safe_load(Path(kubeconfig).read_text())["contexts"]
    image = f"{basic_registry.host}/team/cli-built:1"
    argv = ["--json", "kube", "build-job", str(context), image, "-n", kube_namespace]
    argv += ["--kubeconfig", kubeconfig, "--context", contexts[0]["name"], "--dry-run"]
    assert main(argv) == 0, capsys.readouterr().err
    job = json.loads(capsys.readouterr().out)
    assert job["image"] == image and job["namespace"] == kube_namespace
    assert job["manifest"]["kind"] == "Job"


def test_a_build_that_cannot_start_pushes_no_context(
    rbac_user_kubeconfig: RbacUser,
    basic_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
) -> None:
    """No cluster, or no right to create Jobs: refused before the context is pushed, so no
    artifact is left in the registry for a Job that never was."""
    service = logged_in(basic_registry)
    context = tmp_path / "model"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    image = f"{basic_registry.host}/team/never-built:1"
    with pytest.raises(KubeconfigNotFound):
        service.kube_build_job(context, image, kubeconfig=str(tmp_path / "no-kubeconfig"))
    user = rbac_user_kubeconfig  # Secrets and PodDefaults, but no Jobs
    with pytest.raises(KubeError, match=r"create jobs\.batch") as refused:
        service.kube_build_job(context, image, user.namespace, kubeconfig=str(user.kubeconfig))
    assert refused.value.status == 403
    with pytest.raises(NotFound):
        service.tags(f"{basic_registry.host}/team/never-built-build-context")


def test_build_job_refuses_a_dockerfile_outside_and_a_digest(
    kube_cluster: KubeCluster,
    basic_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only the context reaches the pod, and a digest is not where a new image can go: both are
    refused before anything is pushed."""
    service = logged_in(basic_registry)
    context = tmp_path / "model"
    (context / "sub").mkdir(parents=True)
    (context / "sub" / "gpu.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "outside.Dockerfile").write_text("FROM scratch\n")
    image = f"{basic_registry.host}/team/model"
    kubeconfig = ["--kubeconfig", str(kube_cluster.admin_kubeconfig)]

    def no_push(*args: Any, **kw: Any) -> Any:
        raise AssertionError("pushed")

    # -f is read from the working directory, as docker build reads it.
    with monkeypatch.context() as patched:
        patched.setattr(jupyter_regauth.service.RegAuth, "push_artifact", no_push)
        patched.chdir(tmp_path)
        for outside in (str(tmp_path / "outside.Dockerfile"), "outside.Dockerfile"):
            job = ["kube", "build-job", "model", f"{image}:1", "-f", outside, *kubeconfig]
            assert main(job) == 1
            assert "is not inside the build context" in capsys.readouterr().err
        job = ["kube", "build-job", "model", f"{image}:1", *kubeconfig]
        assert main([*job, "-f", "sub/gpu.Dockerfile"]) == 1
        err = capsys.readouterr().err
        assert "there is no sub/gpu.Dockerfile in the working directory" in err
        assert "give -f model/sub/gpu.Dockerfile" in err
        assert main([*job, "-f", "model/gpu"]) == 1
        assert f"there is no Dockerfile {tmp_path / 'model' / 'gpu'}" in capsys.readouterr().err
        digest = f"{image}@sha256:{'a' * 64}"
        job = ["kube", "build-job", "model", digest, "-f", "model/sub/gpu.Dockerfile"]
        assert main([*job, *kubeconfig]) == 1
        assert "names a digest" in capsys.readouterr().err
    with monkeypatch.context() as patched:
        patched.chdir(context / "sub")
        job = ["kube", "build-job", "..", f"{image}:1", "-f", "gpu.Dockerfile", "--dry-run"]
        assert main([*job, *kubeconfig]) == 0, capsys.readouterr().err
        assert "--opt filename=sub/gpu.Dockerfile" in capsys.readouterr().out
    # A Dockerfile inside, by its absolute path: the Job names it relative to the context.
    result = service.kube_build_job(
        context,
        f"{image}:1",
        dockerfile=str(context / "sub" / "gpu.Dockerfile"),
        create=False,
        kubeconfig=str(kube_cluster.admin_kubeconfig),
    )
    build = result.manifest["spec"]["template"]["spec"]["containers"][0]
    assert "--opt filename=sub/gpu.Dockerfile" in build["command"][2]


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
    # BuildKit's metadata cut at the kubelet's 4 KiB: its sorted keys put other digests first.
    config = "sha256:" + "c" * 64
    metadata = json.dumps(
        {
            "containerimage.buildinfo": "x" * 3000,
            "containerimage.config.digest": config,
            "containerimage.digest": digest,
            "image.name": "r.example/a:1",
        },
        sort_keys=True,
    )
    assert digest_from_message(metadata[:3200]) is None  # cut before either digest's end
    assert digest_from_message(metadata[: metadata.index(digest) + 80]) == digest
    assert digest_from_message(metadata[: metadata.index(config) + 70]) is None  # not the config


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


def test_node_files_never_print_the_client_key(
    mtls_registry: Registry, docker_config: Path, tmp_path: Path
) -> None:
    from ..cli_helpers import regauth

    assert mtls_registry.ca_file is not None
    cert, key = (Path(str(mtls_registry.extra[k])) for k in ("client_cert", "client_key"))
    service = jupyter_regauth.service.RegAuth()
    service.login(
        mtls_registry.host, mtls_registry.username, mtls_registry.password,
        ca_pem=mtls_registry.ca_file.read_bytes(),
        client_cert=cert.read_bytes(), client_key=key.read_bytes(),
    )  # fmt: skip
    host = mtls_registry.host
    printed = regauth("--json", "kube", "hosts-toml", host)
    assert printed.code == 0, printed.stderr
    assert "PRIVATE KEY" not in printed.stdout
    files = printed.json()
    assert f"{host}/hosts.toml" in files and f"{host}/client.cert" in files
    assert f"{host}/client.key" not in files
    text = regauth("kube", "hosts-toml", host)
    assert "PRIVATE KEY" not in text.stdout and f"{host}/client.key" in text.stdout
    # A DaemonSet carrying the key is written, never printed.
    refused = regauth("--json", "kube", "hosts-toml", host, "--daemonset")
    assert refused.code == 1 and "PRIVATE KEY" not in refused.stdout + refused.stderr
    assert "--output" in refused.stderr
    out = tmp_path / "nodes"
    for extra in ([], ["--header-auth"]):
        written = regauth("kube", "hosts-toml", host, "--daemonset", *extra, "-o", str(out))
        assert written.code == 0, written.stderr
        [path] = [Path(p) for p in written.stdout.split()]
        assert path.parent == out and stat.S_IMODE(path.stat().st_mode) == 0o600
        secret, daemonset = yaml.safe_load_all(path.read_text())
        assert daemonset["kind"] == "DaemonSet" and secret["kind"] == "Secret"
        contents = [base64.b64decode(v).decode() for v in secret["data"].values()]
        assert key.read_text() in contents
        assert any("authorization" in c for c in contents) == bool(extra)
