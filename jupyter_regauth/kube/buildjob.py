"""An in-cluster Dockerfile build: a Job that fetches the build context (an OCI artifact in the
same registry), builds it daemonlessly and pushes the image, reporting the digest in its
termination message.

Builders: BuildKit rootless (``buildctl-daemonless.sh``; the registry CA and client pair in
``buildkitd.toml``) or Kaniko (``--registry-certificate``, ``--registry-client-cert``,
``DOCKER_CONFIG=/kaniko/.docker``). Both read the registry's own Secrets that ``apply`` wrote.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any, Literal

from .objects import MANAGED_BY, REGISTRY_LABEL, Manifest, Names, RegistrySpec

Builder = Literal["buildkit", "kaniko"]
BUILDKIT_IMAGE = "moby/buildkit:v0.23.2-rootless"
KANIKO_IMAGE = "cgr.dev/chainguard/kaniko:latest"
ORAS_IMAGE = "ghcr.io/oras-project/oras:v1.2.3"
BUILD_LABEL = "jupyter-regauth/build"
ISTIO_INJECT = "sidecar.istio.io/inject"
DOCKER, TLS, CLIENT, WORKSPACE = "/regauth/docker", "/regauth/tls", "/regauth/client", "/workspace"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_IMAGE_DIGEST = re.compile(r'"containerimage\.digest"\s*:\s*"(sha256:[0-9a-f]{64})"')


@dataclass(frozen=True)
class BuildRequest:
    """An in-cluster build: the context artifact to build from and the image to push."""

    image: str  # where to push, host/repository:tag
    context: str  # the context artifact, host/repository@sha256:...
    context_dir: str  # the directory's name inside the artifact
    dockerfile: str = "Dockerfile"
    builder: Builder = "buildkit"


def buildkitd_toml(spec: RegistrySpec) -> str:
    registry = json.dumps(spec.host)
    lines = [f"[registry.{registry}]"]
    if spec.ca_pem:
        lines.append(f'  ca = ["{TLS}/ca.crt"]')
    if spec.client_cert_pem:
        lines += [
            f"  [[registry.{registry}.keypair]]",
            f'    key = "{CLIENT}/tls.key"',
            f'    cert = "{CLIENT}/tls.crt"',
        ]
    return "\n".join(lines) + "\n"


def _volumes(spec: RegistrySpec, docker_path: str) -> tuple[list[Manifest], list[Manifest]]:
    names = Names(spec.host)
    config = [{"key": "config.json", "path": "config.json"}]
    volumes: list[Manifest] = [
        {"name": "workspace", "emptyDir": {}},
        {"name": "docker", "secret": {"secretName": names.docker_secret, "items": config}},
    ]
    mounts: list[Manifest] = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "docker", "mountPath": docker_path, "readOnly": True},
    ]
    if spec.ca_pem:
        volumes.append({"name": "tls", "secret": {"secretName": names.certificate_secret}})
        mounts.append({"name": "tls", "mountPath": TLS, "readOnly": True})
    if spec.client_cert_pem:
        volumes.append({"name": "client", "secret": {"secretName": names.client_secret}})
        mounts.append({"name": "client", "mountPath": CLIENT, "readOnly": True})
    return volumes, mounts


def _fetch(spec: RegistrySpec, request: BuildRequest, mounts: list[Manifest]) -> Manifest:
    args = ["pull", request.context, "-o", WORKSPACE, "--registry-config", f"{DOCKER}/config.json"]
    if spec.ca_pem:
        args += ["--ca-file", f"{TLS}/ca.crt"]
    if spec.client_cert_pem:
        args += ["--cert-file", f"{CLIENT}/tls.crt", "--key-file", f"{CLIENT}/tls.key"]
    fetch_mounts = [{**m, "mountPath": DOCKER} if m["name"] == "docker" else m for m in mounts]
    return {
        "name": "fetch-context",
        "image": ORAS_IMAGE,
        "args": args,
        "volumeMounts": fetch_mounts,
    }


def _buildkit(spec: RegistrySpec, request: BuildRequest, mounts: list[Manifest]) -> Manifest:
    context = f"{WORKSPACE}/{request.context_dir}"
    build = [
        "buildctl-daemonless.sh",
        "build",
        "--frontend",
        "dockerfile.v0",
        "--local",
        f"context={context}",
        "--local",
        f"dockerfile={context}",
        "--opt",
        f"filename={request.dockerfile}",
        "--output",
        f"type=image,name={request.image},push=true",
        "--metadata-file",
        "/dev/termination-log",
    ]
    script = (
        'mkdir -p "$HOME/.config/buildkit"\n'
        'printf "%s" "$BUILDKITD_TOML" > "$HOME/.config/buildkit/buildkitd.toml"\n'
        f"exec {shlex.join(build)}"
    )
    return {
        "name": "build",
        "image": BUILDKIT_IMAGE,
        "command": ["sh", "-c", script],
        "env": [
            {"name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox"},
            {"name": "BUILDKITD_TOML", "value": buildkitd_toml(spec)},
            {"name": "DOCKER_CONFIG", "value": DOCKER},
        ],
        "securityContext": {
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "seccompProfile": {"type": "Unconfined"},
            "appArmorProfile": {"type": "Unconfined"},
        },
        "volumeMounts": mounts,
    }


def _kaniko(spec: RegistrySpec, request: BuildRequest, mounts: list[Manifest]) -> Manifest:
    args = [
        f"--context=dir://{WORKSPACE}/{request.context_dir}",
        f"--dockerfile={request.dockerfile}",
        f"--destination={request.image}",
        "--digest-file=/dev/termination-log",
    ]
    if spec.ca_pem:
        args.append(f"--registry-certificate={spec.host}={TLS}/ca.crt")
    if spec.client_cert_pem:
        args.append(f"--registry-client-cert={spec.host}={CLIENT}/tls.crt,{CLIENT}/tls.key")
    return {
        "name": "build",
        "image": KANIKO_IMAGE,
        "args": args,
        "env": [{"name": "DOCKER_CONFIG", "value": "/kaniko/.docker"}],
        "volumeMounts": mounts,
    }


def build_job(spec: RegistrySpec, request: BuildRequest, namespace: str) -> Manifest:
    """The Job (``generateName``d: each build is a new one)."""
    docker_path = "/kaniko/.docker" if request.builder == "kaniko" else DOCKER
    volumes, mounts = _volumes(spec, docker_path)
    make = _kaniko if request.builder == "kaniko" else _buildkit
    labels = {**MANAGED_BY, REGISTRY_LABEL: Names(spec.host).slug, BUILD_LABEL: "true"}
    pod: dict[str, Any] = {
        # Kubeflow profile namespaces inject Istio sidecars: the proxy is not up while the init
        # container fetches the context, and it never exits, so the Job would never complete.
        "metadata": {"labels": labels, "annotations": {ISTIO_INJECT: "false"}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [_fetch(spec, request, mounts)],
            "containers": [make(spec, request, mounts)],
            "volumes": volumes,
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "regauth-build-", "namespace": namespace, "labels": labels},
        "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 86400, "template": pod},
    }


def digest_from_message(message: str) -> str | None:
    """The pushed digest in a build container's termination message: BuildKit's metadata JSON
    (``containerimage.digest``) or Kaniko's digest file."""
    try:
        data = json.loads(message)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("containerimage.digest"), str):
        return str(data["containerimage.digest"])
    # The kubelet keeps 4 KiB of the message: long metadata is cut, and its keys come sorted,
    # the config's digest (and the descriptor's) before the image's. Only that key will do.
    if found := _IMAGE_DIGEST.search(message):
        return found.group(1)
    if message.lstrip().startswith("{"):
        return None  # BuildKit's metadata, cut before the image digest: the Job's log has it
    found = DIGEST.search(message)  # Kaniko's digest file
    return found.group(0) if found else None


def job_digest(api: Any, namespace: str, job: str) -> str | None:
    """The digest a finished build Job reported, None while it has not."""
    from kubernetes import client

    from .client import call

    core = client.CoreV1Api(api)
    pods = call(
        "list",
        "pods",
        namespace,
        core.list_namespaced_pod,
        namespace,
        label_selector=f"job-name={job}",
    )
    for pod in pods.items:
        for status in (pod.status and pod.status.container_statuses) or []:
            done = status.state and status.state.terminated
            if done and done.exit_code == 0 and done.message:
                return digest_from_message(done.message)
    return None
