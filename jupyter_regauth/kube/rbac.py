"""The minimal rights jupyter-regauth needs, as a Role (one namespace) or ClusterRole (rollout)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

ROLE_NAME = "jupyter-regauth"

# What each verb does: SSA is a patch; status and remove list by label; the ServiceAccount is
# read and replaced (its imagePullSecrets list is not ours to apply), and listed by remove to
# find every one that names our Secret; build Jobs are created.
RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "update"]},
    {
        "apiGroups": ["kubeflow.org"],
        "resources": ["poddefaults"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "create", "delete"]},
]
# Rollout finds its namespaces by label: that is cluster-wide.
CLUSTER_RULES = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}]


def role(namespace: str | None = None, *, cluster: bool = False) -> dict[str, Any]:
    """The Role for one ``namespace``, or (``cluster``) a ClusterRole that also lists namespaces."""
    metadata: dict[str, Any] = {
        "name": ROLE_NAME,
        "labels": {"app.kubernetes.io/managed-by": "jupyter-regauth"},
    }
    if cluster:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": metadata,
            "rules": copy.deepcopy(RULES + CLUSTER_RULES),
        }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata,
        "rules": copy.deepcopy(RULES),
    }


def role_yaml(namespace: str | None = None, *, cluster: bool = False) -> str:
    return yaml.safe_dump(role(namespace, cluster=cluster), sort_keys=False)
