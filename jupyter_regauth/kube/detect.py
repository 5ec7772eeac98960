"""Is there a cluster to configure? Answered without importing the Kubernetes client."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def cluster_configured(
    service_account_dir: Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None
) -> bool:
    """True in a pod with a service account, or where ``$KUBECONFIG`` or ``~/.kube/config`` is:
    the places ``client.connect`` looks."""
    env = os.environ if environ is None else environ
    if env.get("KUBECONFIG"):
        return True
    if env.get("KUBERNETES_SERVICE_HOST") and (service_account_dir / "token").is_file():
        return True
    return (Path.home() / ".kube" / "config").is_file()
