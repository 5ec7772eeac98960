"""The notes of a Kubernetes report: what was skipped or could not be checked.

A note is worded as an error is: a message, a hint in words every front end can act on, a
stable ``code``, and the ``fields`` a front end words its own form of the fix from (the command
line its commands and options, the panel its controls). ``to_dict`` has the shape of an error's,
so one table of command-line hints serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Note:
    code: str
    message: str
    hint: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint, **self.fields}


def pod_defaults_not_served(host: str) -> Note:
    """The cluster has no Kubeflow PodDefaults (a plain JupyterHub): only the Secrets exist."""
    return Note(
        "pod_defaults_not_served",
        "no PodDefault: this cluster does not serve kubeflow.org/v1alpha1 poddefaults",
        "mount the Secrets in notebook pods through a JupyterHub (KubeSpawner) profile instead",
        {"host": host},
    )


def service_accounts_not_listed(host: str, namespace: str, cleaned: Sequence[str]) -> Note:
    """Removing ``host``'s objects, the ServiceAccounts could not be listed: its pull Secret was
    taken off the ``cleaned`` ones only."""
    return Note(
        "service_accounts_not_listed",
        f"ServiceAccounts in {namespace} may not be listed: the pull Secret was taken off "
        f"{', '.join(cleaned)} only",
        "take it off the other ServiceAccounts that list it too, or grant 'list' on "
        f"serviceaccounts in {namespace} and remove again",
        {"host": host, "namespace": namespace, "service_accounts": list(cleaned)},
    )
