"""The ``jupyter_regauth`` server extension: configuration, the one ``RegAuth``, the routes.

Handlers stay thin: they authenticate, authorize against the ``regauth`` resource, call the core
and serialize. Every route lives under ``<base_url>/regauth/api/``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Int, List, Unicode, default
from traitlets.config import Configurable

from ..credentials import DockerConfig
from ..profiles import ProfileStore
from ..service import RegAuth
from .handlers import (
    AUTH_RESOURCE,
    KubeHandler,
    LoginHandler,
    LogoutHandler,
    RegistriesHandler,
    RegistryHandler,
    TrustHandler,
    VersionHandler,
)
from .job_handlers import JobEventsHandler, JobHandler, JobsHandler
from .jobs import JobManager
from .kube import Kube

__all__ = ["AUTH_RESOURCE", "RegAuthApp", "RegistryProfiles", "VersionHandler"]

API = r"/regauth/api"
HOST = r"(?P<raw_host>[^/]+)"
JOB = r"(?P<job_id>[0-9a-f]{32})"
#: Threads for the handlers' blocking calls. Their own pool, not asyncio's default executor
#: (cores + 4 threads, shared with tornado's name resolution and other extensions): a call
#: mostly waits on a registry, and a few unreachable ones must not starve the whole server.
CALL_WORKERS = 32


class RegistryProfiles(Configurable):
    """The administrator's registries, as ``c.RegistryProfiles.*`` in the server's config."""

    registries = List(
        Dict(),
        help="Admin-defined registries: dicts with host, display_name, ca_file or ca_pem, "
        "client_cert, client_key, auth (auto|basic|token), insecure, mirror_of, username.",
    ).tag(config=True)

    registries_file = Unicode(
        help="A JSON or YAML file of admin-defined registries (e.g. a mounted ConfigMap); "
        "defaults to $REGAUTH_REGISTRIES_FILE, so the CLI and magics in a pod see it too."
    ).tag(config=True)

    @default("registries_file")
    def _registries_file_default(self) -> str:
        return os.environ.get("REGAUTH_REGISTRIES_FILE", "")

    user_file = Unicode("", help="Where user-added registries are kept.").tag(config=True)

    def store(self) -> ProfileStore:
        return ProfileStore(self.registries, self.registries_file, self.user_file)


class RegAuthApp(ExtensionApp):
    """Server extension entry point, named in ``_jupyter_server_extension_points``."""

    name = "jupyter_regauth"
    classes = [RegistryProfiles]  # noqa: RUF012  (traitlets reads it as a plain list)

    kubernetes = Bool(
        False, help="Offer Kubernetes configuration (Secrets, PodDefault, ServiceAccount)."
    ).tag(config=True)
    namespace = Unicode(
        "", help="Kubernetes namespace to configure (default: the pod's own namespace)."
    ).tag(config=True)
    docker_config_dir = Unicode(
        "", help="Where config.json lives (default: $DOCKER_CONFIG, else ~/.docker)."
    ).tag(config=True)
    certs_dir = Unicode(
        "",
        help="Where per-registry CAs go, as certs.d/<host>/ca.crt (default: $REGAUTH_CERTS_D, "
        "else ~/.config/containers/certs.d).",
    ).tag(config=True)
    default_base_image = Unicode(
        "", help="Base image the build form starts from (empty: an image with only the folder)."
    ).tag(config=True)
    job_workers = Int(2, help="How many image jobs run at the same time.").tag(config=True)
    timeout = Int(30, help="Seconds to wait for a registry before giving up.").tag(config=True)

    def initialize_settings(self) -> None:
        service = RegAuth(
            profiles=RegistryProfiles(parent=self).store(),
            docker_config=DockerConfig(_path(self.docker_config_dir)),
            certs_root=_path(self.certs_dir),
            timeout=float(self.timeout),
        )
        self.jobs = JobManager(self.job_workers)
        self.calls = ThreadPoolExecutor(CALL_WORKERS, thread_name_prefix="regauth-call")
        self.settings.update(
            regauth_service=service,
            regauth_calls=self.calls,
            regauth_kube=Kube(service, enabled=self.kubernetes, namespace=self.namespace),
            regauth_jobs=self.jobs,
            regauth_default_base=self.default_base_image,
        )

    def initialize_handlers(self) -> None:
        routes: list[tuple[str, Any]] = [
            (rf"{API}/version", VersionHandler),
            (rf"{API}/registries", RegistriesHandler),
            (rf"{API}/registries/{HOST}", RegistryHandler),
            (rf"{API}/registries/{HOST}/trust", TrustHandler),
            (rf"{API}/registries/{HOST}/login", LoginHandler),
            (rf"{API}/registries/{HOST}/logout", LogoutHandler),
            (rf"{API}/registries/{HOST}/kube", KubeHandler),
            (rf"{API}/jobs", JobsHandler),
            (rf"{API}/jobs/{JOB}", JobHandler),
            (rf"{API}/jobs/{JOB}/events", JobEventsHandler),
        ]
        self.handlers.extend(routes)

    async def stop_extension(self) -> None:
        self.jobs.shutdown()
        self.calls.shutdown(wait=False, cancel_futures=True)


def _path(text: str) -> Path | None:
    return Path(os.path.expanduser(text)) if text else None
