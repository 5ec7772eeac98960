"""Give a namespace's pods access to registries, and take it away again.

Our own objects (the two Secrets and the PodDefault) are written with server-side apply under one
field manager, so applying twice changes nothing. The ServiceAccount belongs to someone else: only
our entry in its ``imagePullSecrets`` is added or removed, with optimistic concurrency.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..credentials.entries import check_storable, encode_entry
from ..credentials.types import Credentials
from ..errors import RegAuthError
from . import objects
from .objects import CERTIFICATE_NAME, DOCKER_CONFIG_NAME, FIELD_MANAGER, POD_DEFAULT, Manifest

APPLY = "application/apply-patch+yaml"
PODDEFAULTS = ("kubeflow.org", "v1alpha1")
RIGHTS = "get/patch/delete on secrets and poddefaults.kubeflow.org, get/update on serviceaccounts"


class KubeError(RegAuthError):
    """The Kubernetes API refused or could not be reached."""

    code = "kube_error"


def _failure(action: str, namespace: str, error: ApiException | HTTPError) -> KubeError:
    # Only the status and reason are reported: a response body can echo the request's data.
    if isinstance(error, HTTPError):
        return KubeError(
            f"cannot reach the Kubernetes API to {action}",
            hint="check the kubeconfig's server address, or run inside the cluster",
        )
    status = error.status or 500
    hints = {
        401: "the kubeconfig's credentials were not accepted; refresh them",
        403: f"your account needs {RIGHTS} in namespace {namespace}; ask a cluster admin",
        404: "the PodDefault CRD (kubeflow.org) or the ServiceAccount does not exist here",
        409: "someone else changed the object at the same time; try again",
    }
    return KubeError(
        f"Kubernetes refused to {action} in namespace {namespace}: {status} {error.reason}",
        hint=hints.get(status, "see the API server's log"),
        status=status,
    )


class RegistryAccess:
    """Registry credentials and CAs for the pods of one namespace."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        *,
        service_account: str = "default",
        home: str = "/home/jovyan",
    ) -> None:
        self.namespace = namespace
        self.service_account = service_account
        self.home = home
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)

    def __repr__(self) -> str:
        return f"RegistryAccess(namespace={self.namespace!r})"

    def hosts(self) -> list[str]:
        """The registries this namespace has access to."""
        return sorted(self._auths())

    def grant(self, host: str, credentials: Credentials, *, ca_pem: str | None = None) -> list[str]:
        """Store ``credentials`` (and ``ca_pem``) for ``host``; returns all granted hosts."""
        check_storable(credentials)
        auths = self._auths()
        auths[host] = encode_entry(credentials)
        cas = self._cas(auths)
        if ca_pem:
            cas[host] = ca_pem
        self._write(auths, cas)
        self._pull_secret(add=True)
        return sorted(auths)

    def revoke(self, host: str) -> list[str]:
        """Forget ``host``; with no host left, remove every object we made. Returns the rest."""
        auths = self._auths()
        if auths.pop(host, None) is None:
            return sorted(auths)
        if auths:
            self._write(auths, self._cas(auths))
            return sorted(auths)
        self._pull_secret(add=False)
        self._call("delete the PodDefault", self._delete_pod_default)
        for name in (DOCKER_CONFIG_NAME, CERTIFICATE_NAME):
            self._call(f"delete Secret {name}", self._delete_secret, name)
        return []

    def _write(self, auths: dict[str, Any], cas: dict[str, str]) -> None:
        # The PodDefault first: it is what fails when the CRD is missing or not ours to write,
        # and then no Secret has been written yet.
        ns = self.namespace
        self._call(
            "apply the PodDefault",
            self._custom.patch_namespaced_custom_object,
            *PODDEFAULTS,
            ns,
            "poddefaults",
            POD_DEFAULT,
            objects.pod_default(ns, sorted(auths), self.home),
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
        )
        self._apply_secret(objects.config_secret(ns, auths))
        if cas:
            self._apply_secret(objects.ca_secret(ns, cas))
        else:
            self._call(f"delete Secret {CERTIFICATE_NAME}", self._delete_secret, CERTIFICATE_NAME)

    def _apply_secret(self, body: Manifest) -> None:
        name = body["metadata"]["name"]
        self._call(
            f"apply Secret {name}",
            self._core.patch_namespaced_secret,
            name,
            self.namespace,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
        )

    def _read_secret(self, name: str) -> dict[str, str]:
        try:
            secret = self._core.read_namespaced_secret(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return {}
            raise _failure(f"read Secret {name}", self.namespace, error) from None
        except HTTPError as error:
            raise _failure(f"read Secret {name}", self.namespace, error) from None
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _auths(self) -> dict[str, Any]:
        config = self._read_secret(DOCKER_CONFIG_NAME).get(".dockerconfigjson")
        auths: dict[str, Any] = json.loads(config)["auths"] if config else {}
        return auths

    def _cas(self, auths: dict[str, Any]) -> dict[str, str]:
        stored = self._read_secret(CERTIFICATE_NAME)
        return {h: stored[objects.ca_key(h)] for h in auths if objects.ca_key(h) in stored}

    def _delete_secret(self, name: str) -> None:
        try:
            self._core.delete_namespaced_secret(name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    def _delete_pod_default(self) -> None:
        try:
            self._custom.delete_namespaced_custom_object(
                *PODDEFAULTS, self.namespace, "poddefaults", POD_DEFAULT
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def _pull_secret(self, *, add: bool) -> None:
        """Add or remove our Secret in the ServiceAccount's ``imagePullSecrets``; the update
        carries the read resourceVersion, so a concurrent change is retried, not overwritten."""
        action = f"update ServiceAccount {self.service_account}"
        for attempt in range(3):
            account = self._call(
                action,
                self._core.read_namespaced_service_account,
                self.service_account,
                self.namespace,
            )
            refs = account.image_pull_secrets or []
            names = [r.name for r in refs]
            if (DOCKER_CONFIG_NAME in names) == add:
                return
            if add:
                refs.append(client.V1LocalObjectReference(name=DOCKER_CONFIG_NAME))
            else:
                refs = [r for r in refs if r.name != DOCKER_CONFIG_NAME]
            account.image_pull_secrets = refs
            try:
                self._core.replace_namespaced_service_account(
                    self.service_account, self.namespace, account
                )
                return
            except ApiException as error:
                if error.status != 409 or attempt == 2:
                    raise _failure(action, self.namespace, error) from None

    def _call(self, action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ApiException, HTTPError) as error:
            raise _failure(action, self.namespace, error) from None
