"""Our pull Secrets in ServiceAccounts' ``imagePullSecrets``.

The ServiceAccount belongs to someone else (Kubeflow creates ``default-editor``), so only our
entries are added or removed, every other entry is kept in place, and the update carries the read
``resourceVersion``: a concurrent change is retried, never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .client import call, dry_run_param, failure, missing_ok

DEFAULT_ACCOUNTS = ("default", "default-editor")


def pull_secret_names(api: client.ApiClient, namespace: str, account: str) -> list[str] | None:
    """The account's ``imagePullSecrets`` names, None when it does not exist."""
    core = client.CoreV1Api(api)
    found = missing_ok(
        "get",
        "serviceaccounts",
        namespace,
        core.read_namespaced_service_account,
        account,
        namespace,
    )
    if found is None:
        return None
    return [str(ref.name) for ref in found.image_pull_secrets or []]


def accounts_listing(
    api: client.ApiClient, namespace: str, secrets: Sequence[str]
) -> list[str] | None:
    """The namespace's ServiceAccounts whose ``imagePullSecrets`` name one of ``secrets``; None
    where we may not list ServiceAccounts."""
    core = client.CoreV1Api(api)
    try:
        listed = core.list_namespaced_service_account(namespace)
    except ApiException as error:
        if error.status == 403:
            return None
        raise failure("list", "serviceaccounts", namespace, error) from None
    return sorted(
        str(account.metadata.name)
        for account in listed.items
        if account.metadata and any(ref.name in secrets for ref in account.image_pull_secrets or [])
    )


def merge_pull_secrets(
    api: client.ApiClient,
    namespace: str,
    accounts: Sequence[str],
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    dry_run: bool = False,
) -> list[str]:
    """Add ``add`` and drop ``remove`` in each existing account; returns the accounts changed.
    Accounts that do not exist (yet) are skipped: Kubeflow creates ``default-editor`` later.
    ``dry_run``: the API server checks the updates and keeps none."""
    core = client.CoreV1Api(api)
    changed = []
    for name in accounts:
        for attempt in range(5):
            account = missing_ok(
                "get",
                "serviceaccounts",
                namespace,
                core.read_namespaced_service_account,
                name,
                namespace,
            )
            if account is None:
                break
            refs = list(account.image_pull_secrets or [])
            names = [ref.name for ref in refs]
            kept = [ref for ref in refs if ref.name not in remove]
            kept += [client.V1LocalObjectReference(name=n) for n in add if n not in names]
            if [ref.name for ref in kept] == names:
                break
            account.image_pull_secrets = kept
            try:
                core.replace_namespaced_service_account(
                    name,
                    namespace,
                    account,
                    field_manager="jupyter-regauth",
                    dry_run=dry_run_param(dry_run),
                )
            except ApiException as error:
                if error.status == 409 and attempt < 4:
                    continue
                raise failure("update", "serviceaccounts", namespace, error) from None
            changed.append(name)
            break
    return changed


__all__ = [
    "DEFAULT_ACCOUNTS",
    "accounts_listing",
    "call",
    "merge_pull_secrets",
    "pull_secret_names",
]
