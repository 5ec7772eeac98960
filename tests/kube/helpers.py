"""Shared helpers for the kube tests: a logged-in RegAuth and readers of what the API holds."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from kubernetes import client as kubernetes_client

from ..conftest import logged_in_to as logged_in

__all__ = ["logged_in"]

# The client's models are typed; the tests pass plain dicts, which it sends as they are.
client: Any = kubernetes_client

MANAGED = "app.kubernetes.io/managed-by=jupyter-regauth"


def secret_data(api: Any, namespace: str, name: str) -> tuple[str, dict[str, str]]:
    secret = client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    return secret.type, data


def pull_secret_names(api: Any, namespace: str, account: str = "default") -> list[str]:
    found = client.CoreV1Api(api).read_namespaced_service_account(account, namespace)
    return [r.name for r in found.image_pull_secrets or []]


def managed_objects(api: Any, namespace: str) -> list[str]:
    """Every object in ``namespace`` carrying our managed-by label, across the kinds we write."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    secrets = core.list_namespaced_secret(namespace, label_selector=MANAGED).items
    found: Any = custom.list_namespaced_custom_object(
        "kubeflow.org", "v1alpha1", namespace, "poddefaults", label_selector=MANAGED
    )
    jobs = client.BatchV1Api(api).list_namespaced_job(namespace, label_selector=MANAGED).items
    return (
        [f"Secret/{s.metadata.name}" for s in secrets]
        + [f"PodDefault/{p['metadata']['name']}" for p in found["items"]]
        + [f"Job/{j.metadata.name}" for j in jobs]
    )


def kubeconfig_options(path: Path) -> dict[str, Any]:
    return {"kubeconfig": str(path)}
