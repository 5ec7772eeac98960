"""Reach the cluster: in-cluster (the pod's service-account token) or a kubeconfig; find the
namespace to work in; turn API refusals into errors that name the verb and resource."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from .detect import SERVICE_ACCOUNT_DIR
from .errors import KubeconfigNotFound, KubeForbidden, NamespaceNotFound
from .errors import KubeError as KubeError  # where callers have always imported it from

PROFILE_LABEL = ("app.kubernetes.io/part-of", "kubeflow-profile")
T = TypeVar("T")


@dataclass
class Cluster:
    """An API client plus the namespace it works in by default."""

    api: client.ApiClient
    namespace: str
    in_cluster: bool = False

    def __repr__(self) -> str:
        return f"Cluster(namespace={self.namespace!r}, in_cluster={self.in_cluster})"


def connect(
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    namespace: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    environ: Mapping[str, str] | None = None,
) -> Cluster:
    """A kubeconfig when one is given or ``$KUBECONFIG`` is set, else the pod's service account
    (token, CA and namespace files under ``service_account_dir``), else ``~/.kube/config``."""
    env = os.environ if environ is None else environ
    path = str(kubeconfig or env.get("KUBECONFIG", ""))
    token = service_account_dir / "token"
    try:
        if not path and token.is_file() and env.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster(service_account_dir, env, namespace)
        path = path or str(Path.home() / ".kube" / "config")
        api = config.new_client_from_config(config_file=path, context=context)  # type: ignore[no-untyped-call]
        _, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        if context:
            contexts, _ = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
            active = next((c for c in contexts if c["name"] == context), active)
    except (ConfigException, OSError) as error:
        raise KubeconfigNotFound(type(error).__name__) from None
    kube_namespace = str((active or {}).get("context", {}).get("namespace") or "")
    return Cluster(api, detect_namespace(namespace, kube_namespace, service_account_dir, env))


def _in_cluster(directory: Path, env: Mapping[str, str], namespace: str | None) -> Cluster:
    host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
    configuration: Any = client.Configuration()
    configuration.host = f"https://{host}:{port}"
    configuration.ssl_ca_cert = str(directory / "ca.crt")
    # The kubelet rotates the projected token: read it on every request, not once.

    def refresh(c: Any) -> None:
        c.api_key["authorization"] = (directory / "token").read_text().strip()

    configuration.refresh_api_key_hook = refresh
    configuration.api_key = {"authorization": ""}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(configuration)
    return Cluster(api, detect_namespace(namespace, "", directory, env), in_cluster=True)


def detect_namespace(
    explicit: str | None,
    kubeconfig_namespace: str,
    service_account_dir: Path,
    env: Mapping[str, str],
) -> str:
    """The namespace to work in: the one given, the pod's own (Kubeflow runs a notebook in its
    profile namespace), the one ``NB_PREFIX`` (``/notebook/<namespace>/<name>``) names, the
    kubeconfig context's, else ``default``."""
    if explicit:
        return explicit
    namespace_file = service_account_dir / "namespace"
    if namespace_file.is_file() and (own := namespace_file.read_text().strip()):
        return own
    parts = env.get("NB_PREFIX", "").strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "notebook" and parts[1]:
        return parts[1]
    return kubeconfig_namespace or "default"


def is_profile_namespace(api: client.ApiClient, namespace: str) -> bool | None:
    """Whether ``namespace`` is a Kubeflow profile's; None when we may not read namespaces."""
    try:
        found = client.CoreV1Api(api).read_namespace(namespace)
    except ApiException:
        return None
    key, value = PROFILE_LABEL
    labels = (found.metadata and found.metadata.labels) or {}
    return labels.get(key) == value


def _status_body(error: ApiException) -> dict[str, Any]:
    """The ``Status`` object of a refusal, or {} where the body is not one (a path nobody
    serves answers with plain text)."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def _refused_verb(body: dict[str, Any]) -> str | None:
    """The verb RBAC refused, from its message (``... cannot create resource "poddefaults"
    ...``): it can be another than the request's, as a server-side apply that creates the
    object needs ``create``. Only that one word is taken from the message."""
    found = re.search(r'\bcannot ([a-z]+) resource "', str(body.get("message") or ""))
    return found.group(1) if found else None


def _not_found(resource: str, body: dict[str, Any]) -> tuple[str, str]:
    """What a 404 other than a missing namespace means: the object, or the whole API, is
    missing."""
    if body:
        return "not found", f"the {resource} object is gone; run the command again"
    served = f"the {resource} API is not served by this cluster"
    if resource.startswith("poddefaults"):
        served += " (is the Kubeflow PodDefault CRD installed?)"
    return "API not served", served


def failure(verb: str, resource: str, namespace: str, error: ApiException | HTTPError) -> KubeError:
    """A KubeError naming what was refused. Only the status, the API's reason, the verb RBAC
    refused and the kind of a missing object are reported: a response body can echo the
    request's data."""
    where = f"in namespace {namespace}" if namespace else "in the cluster"
    if isinstance(error, HTTPError):
        return KubeError(
            f"cannot reach the Kubernetes API to {verb} {resource} {where}",
            hint="check the kubeconfig's server address, or run inside the cluster",
        )
    status = error.status or 500
    body = _status_body(error)
    reason = str(body.get("reason") or "")
    if status == 403:
        verb = _refused_verb(body) or verb
        return KubeForbidden(
            f"cannot {verb} {resource} {where}: forbidden",
            verb=verb,
            resource=resource,
            where=where,
            reason=reason,
        )
    prefix = f"cannot {verb} {resource} {where}"
    if status == 404 and (body.get("details") or {}).get("kind") == "namespaces":
        return NamespaceNotFound(f"{prefix}: 404 namespace not found", namespace)
    what = f"{status} {error.reason}"
    hints = {
        401: "the kubeconfig's credentials were not accepted; refresh them",
        409: "someone else changed the object at the same time; try again",
        422: "the API server rejected the object; see its validation message in the server log",
    }
    hint = hints.get(status, "see the API server's log")
    if status == 404:
        missing, hint = _not_found(resource, body)
        what = f"404 {missing}"
    elif status == 409 and reason == "AlreadyExists":
        hint = f"an object of that name exists already in {namespace or 'the cluster'}"
    return KubeError(f"{prefix}: {what}", hint=hint, status=status, reason=reason)


def dry_run_param(dry_run: bool) -> str | None:
    """The API's ``dryRun`` for a write: ``All`` has the server check (rights, validity,
    admission) and keep nothing; None writes."""
    return "All" if dry_run else None


def call(
    verb: str, resource: str, namespace: str, function: Callable[..., T], *args: Any, **kw: Any
) -> T:
    """``function(*args, **kw)``, with API errors turned into a :class:`KubeError`."""
    try:
        return function(*args, **kw)
    except (ApiException, HTTPError) as error:
        raise failure(verb, resource, namespace, error) from None


def missing_ok(
    verb: str, resource: str, namespace: str, function: Callable[..., T], *args: Any, **kw: Any
) -> T | None:
    """As :func:`call`, with 404 (not found) answered by None."""
    try:
        return function(*args, **kw)
    except ApiException as error:
        if error.status == 404:
            return None
        raise failure(verb, resource, namespace, error) from None
    except HTTPError as error:
        raise failure(verb, resource, namespace, error) from None
