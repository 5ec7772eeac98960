"""What ``RegAuth.kube_*`` do: a registry's local login (credentials, CA, client pair) turned
into a :class:`RegistrySpec`, and the cluster reached with the options every verb shares."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..reference import push_target
from . import containerd, spawner
from .apply import Applier, KubeReport, RolloutReport, rollout
from .buildjob import Builder, BuildRequest, build_job
from .client import Cluster, call, connect, dry_run_param
from .detect import SERVICE_ACCOUNT_DIR
from .objects import COMBINED, DEFAULT_HOME, KAPTAIN, Names, RegistrySpec
from .serviceaccount import DEFAULT_ACCOUNTS

if TYPE_CHECKING:
    from ..service import RegAuth


@dataclass(frozen=True)
class KubeOptions:
    """How to reach the cluster and shape the objects."""

    kubeconfig: str | None = None
    context: str | None = None
    home: str = DEFAULT_HOME
    service_accounts: Sequence[str] = DEFAULT_ACCOUNTS
    kaptain_names: bool = (
        False  # name the combined Secrets docker-secret/docker-registry-certificate
    )
    service_account_dir: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_home(self.home)

    def connect(self, namespace: str | None) -> Cluster:
        return connect(
            kubeconfig=self.kubeconfig,
            context=self.context,
            namespace=namespace,
            service_account_dir=self.service_account_dir or SERVICE_ACCOUNT_DIR,
        )

    def applier(self, cluster: Cluster, namespace: str) -> Applier:
        return Applier(
            cluster.api,
            namespace,
            home=self.home,
            service_accounts=self.service_accounts,
            combined=KAPTAIN if self.kaptain_names else COMBINED,
        )


def registry_spec(service: RegAuth, host: str) -> RegistrySpec:
    """The registry as logged in here: only its own credentials, its CA and client pair."""
    profile = service.profile(host)
    credentials = service.docker_config.get(profile.host)
    if credentials is None or credentials.anonymous:
        raise ConfigError(
            f"not logged in to {profile.host}",
            hint=f"log in to {profile.host} first; the cluster gets what that login stored",
        )
    trust = service.trust_for(profile.host)
    cert = trust.client_cert.read_text() if trust.client_cert else ""
    key = trust.client_key.read_text() if trust.client_key else ""
    return RegistrySpec(
        profile.host, credentials, profile.name, trust.ca_pem.decode().strip(), cert, key
    )


def run(
    service: RegAuth, verb: str, host: str, namespace: str | None, options: KubeOptions
) -> KubeReport:
    """``apply``, ``status`` or ``remove`` of ``host`` in ``namespace`` (detected when None)."""
    cluster = options.connect(namespace)
    with cluster.api:
        applier = options.applier(cluster, cluster.namespace)
        if verb == "remove":
            return applier.remove(service.profile(host).host)
        spec = registry_spec(service, host)
        return applier.apply(spec) if verb == "apply" else applier.status(spec)


def run_rollout(
    service: RegAuth, verb: str, host: str, selector: str, options: KubeOptions, workers: int = 8
) -> RolloutReport:
    """``apply`` (or ``remove``) in every namespace whose labels match ``selector``."""
    cluster = options.connect(None)
    spec = registry_spec(service, host) if verb == "apply" else None
    with cluster.api:

        def one(namespace: str) -> KubeReport:
            applier = options.applier(cluster, namespace)
            return applier.apply(spec) if spec else applier.remove(service.profile(host).host)

        return rollout(cluster.api, selector, one, workers=workers)


def hosts_toml(
    service: RegAuth, host: str, *, header_auth: bool = False, override_path: bool = False
) -> dict[str, str]:
    """The node files (relative to ``/etc/containerd/certs.d``), mirrors from the profile."""
    spec = registry_spec(service, host)
    mirror_of = service.profile(host).mirror_of
    return containerd.node_files(
        spec, mirror_of, header_auth=header_auth, override_path=override_path
    )


def node_daemonset(service: RegAuth, host: str, namespace: str, **kw: Any) -> list[dict[str, Any]]:
    spec = registry_spec(service, host)
    return containerd.daemonset(spec, service.profile(host).mirror_of, namespace=namespace, **kw)


def check_home(home: str) -> None:
    """The notebook user's home is where mounts go: a pod takes only absolute mount paths, but
    a PodDefault with a relative one is admitted and then breaks every pod it matches."""
    if not home.startswith("/"):
        raise ConfigError(
            f"the notebook user's home must be an absolute path, not {home!r}",
            hint="e.g. --home /home/jovyan",
        )


def spawner_profile(service: RegAuth, host: str, home: str = DEFAULT_HOME) -> dict[str, Any]:
    check_home(home)
    spec = registry_spec(service, host)
    return {
        "profile": spawner.profile_entry(spec, home=home),
        # Not in the profile's override (a list there replaces the hub's own): the generated
        # config adds it to the hub's list.
        "image_pull_secret": Names(spec.host).docker_secret,
        "jupyterhub_config": spawner.jupyterhub_config(spec, home=home),
    }


@dataclass
class BuildJobResult:
    """A finished in-cluster build Job and the manifest of the image it pushed."""

    namespace: str
    job: str
    context: str  # the context artifact, by digest
    image: str
    manifest: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _dockerfile_in(directory: Path, dockerfile: str) -> str:
    """``dockerfile`` as a path relative to ``directory``: only what lies inside the context
    reaches the pod, so a Dockerfile elsewhere is refused."""
    path = (directory / dockerfile).resolve()
    root = directory.resolve()
    if not path.is_relative_to(root):
        raise ConfigError(
            f"the Dockerfile {dockerfile} is not inside the build context {directory}",
            hint="move the Dockerfile into the build context directory, or give that "
            "directory as the context",
        )
    if not path.is_file():
        if Path(dockerfile).is_absolute():
            raise ConfigError(
                f"there is no Dockerfile {dockerfile}", hint="check the Dockerfile's path"
            )
        raise ConfigError(
            f"{directory} has no {dockerfile}", hint="give the build context directory"
        )
    return path.relative_to(root).as_posix()


def build(
    service: RegAuth,
    context_dir: str | Path,
    image: str,
    namespace: str | None,
    options: KubeOptions,
    *,
    dockerfile: str = "Dockerfile",
    builder: Builder = "buildkit",
    create: bool = True,
) -> BuildJobResult:
    """Ship ``context_dir`` as an OCI artifact next to ``image``, make sure the registry's
    Secrets are in the namespace, and create the Job that builds and pushes ``image``."""
    from ..images.artifact import ArtifactFile

    directory = Path(context_dir)
    dockerfile = _dockerfile_in(directory, dockerfile)
    target = push_target(image)
    spec = registry_spec(service, target.domain)
    context_ref = f"{target.domain}/{target.path}-build-context:{secrets.token_hex(6)}"
    # Titled by its name, whatever path it was given by: the Job builds in WORKSPACE/name.
    context = ArtifactFile(directory, directory.resolve().name)
    # The cluster, the Secrets and the Job are settled before the context is pushed: a build
    # that cannot start (no cluster, no right to create Jobs) leaves no artifact behind.
    cluster = options.connect(namespace)
    with cluster.api:
        if create:
            options.applier(cluster, cluster.namespace).apply(spec)
            # Checked, admitted and not kept (dryRun): the same Job, by the context's tag.
            draft = BuildRequest(str(target), context_ref, context.title, dockerfile, builder)
            _create_job(cluster, build_job(spec, draft, cluster.namespace), dry_run=True)
        pushed = service.push_artifact(context_ref, [context])
        request = BuildRequest(str(target), pushed.reference, context.title, dockerfile, builder)
        body = build_job(spec, request, cluster.namespace)
        if not create:
            return BuildJobResult(cluster.namespace, "", pushed.reference, str(target), body)
        made = _create_job(cluster, body)
        return BuildJobResult(
            cluster.namespace, made.metadata.name, pushed.reference, str(target), body
        )


def _create_job(cluster: Cluster, body: dict[str, Any], *, dry_run: bool = False) -> Any:
    from kubernetes import client

    batch: Any = client.BatchV1Api(cluster.api)
    return call(
        "create",
        "jobs.batch",
        cluster.namespace,
        batch.create_namespaced_job,
        cluster.namespace,
        body,
        dry_run=dry_run_param(dry_run),
    )
