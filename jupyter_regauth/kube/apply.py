"""Apply, inspect and remove one registry's objects in a namespace, and roll out to many.

Objects are written with server-side apply under one field manager and only when they differ
from what is desired, so a second run changes nothing. ``remove`` deletes what carries the
registry's label, which is exactly what ``apply`` wrote.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from ..errors import RegAuthError
from . import objects as o
from .client import KubeError, call, missing_ok
from .objects import Combined, Manifest, RegistrySpec
from .serviceaccount import DEFAULT_ACCOUNTS, merge_pull_secrets, pull_secret_names

APPLY_PATCH = "application/apply-patch+yaml"
CONFLICT = 409
# Rebuilding the combined Secrets after a conflict: each retry follows a write by another
# applier, so a few are enough even with several registries applied at once.
COMBINE_ATTEMPTS = 5


@dataclass
class ObjectStatus:
    kind: str
    name: str
    exists: bool
    matches: bool
    drift: list[str] = field(default_factory=list)  # field paths that differ; never values
    action: str = ""  # created, updated, unchanged, deleted

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class KubeReport:
    host: str
    namespace: str
    objects: list[ObjectStatus] = field(default_factory=list)
    service_accounts: dict[str, bool] = field(default_factory=dict)  # name -> lists our Secret
    selector_label: str = ""

    @property
    def configured(self) -> bool:
        present = [s for s in self.objects if s.action != "deleted"]
        return bool(present) and all(s.exists and s.matches for s in present)

    @property
    def changed(self) -> bool:
        return any(s.action in ("created", "updated", "deleted") for s in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "namespace": self.namespace,
            "configured": self.configured,
            "changed": self.changed,
            "selector_label": self.selector_label,
            "objects": [s.to_dict() for s in self.objects],
            "service_accounts": dict(self.service_accounts),
        }


class _Kind:
    """get / apply / delete / list for one kind, with errors naming verb and resource."""

    def __init__(self, api: client.ApiClient, kind: str) -> None:
        self.kind, self.api = kind, api
        self.path: tuple[str, ...]
        core: Any = client.CoreV1Api(api)
        custom: Any = client.CustomObjectsApi(api)
        if kind == "Secret":
            self.resource, self.path = "secrets", ()
            self._get, self._patch = core.read_namespaced_secret, core.patch_namespaced_secret
            self._delete, self._list = core.delete_namespaced_secret, core.list_namespaced_secret
            self._create = core.create_namespaced_secret
        else:
            self.resource, self.path = "poddefaults.kubeflow.org", o.PODDEFAULT_API
            self._get = custom.get_namespaced_custom_object
            self._patch = custom.patch_namespaced_custom_object
            self._delete = custom.delete_namespaced_custom_object
            self._list = custom.list_namespaced_custom_object
            self._create = custom.create_namespaced_custom_object

    def _args(self, namespace: str, *rest: Any) -> tuple[Any, ...]:
        # CoreV1Api takes (name, namespace, ...); CustomObjectsApi (group, version, ns, plural, ..)
        if not self.path:
            return (*rest[:1], namespace, *rest[1:])
        group, version, plural = self.path
        return (group, version, namespace, plural, *rest)

    def _json(self, found: Any) -> Manifest:
        data: Manifest = self.api.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
        return data

    def get(self, namespace: str, name: str) -> Manifest | None:
        found = missing_ok("get", self.resource, namespace, self._get, *self._args(namespace, name))
        return None if found is None else self._json(found)

    def apply(self, body: Manifest, *, resource_version: str | None = None) -> None:
        """Server-side apply; with ``resource_version``, only onto that version of the object
        (else a 409 KubeError)."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        if resource_version is not None:
            body = {**body, "metadata": {**body["metadata"], "resourceVersion": resource_version}}
        args = self._args(namespace, name, body)
        call(
            "patch", self.resource, namespace, self._patch, *args,
            field_manager=o.FIELD_MANAGER, force=True, _content_type=APPLY_PATCH,
        )  # fmt: skip

    def create(self, body: Manifest) -> None:
        """Create the object; where it exists already, a 409 KubeError. (Apply creates too, but
        it ignores a resourceVersion on a missing object, so it cannot guard a creation.)"""
        namespace = body["metadata"]["namespace"]
        args = (namespace, body) if not self.path else self._args(namespace, body)
        call("create", self.resource, namespace, self._create, *args, field_manager=o.FIELD_MANAGER)

    def delete(self, namespace: str, name: str, *, resource_version: str | None = None) -> None:
        """Delete (already gone is fine); with ``resource_version``, only that version."""
        options = None
        if resource_version is not None:
            options = client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=resource_version)
            )
        args = self._args(namespace, name)
        missing_ok("delete", self.resource, namespace, self._delete, *args, body=options)

    def list(self, namespace: str, selector: str) -> list[Manifest]:
        args = self._args(namespace) if self.path else (namespace,)
        listed = missing_ok(
            "list", self.resource, namespace, self._list, *args, label_selector=selector
        )
        items = [] if listed is None else self._json(listed).get("items", [])
        return list(items)


def drift(desired: Manifest, live: Manifest) -> list[str]:
    """The field paths where ``live`` differs from ``desired`` (fields we do not set are not
    compared: the API server and other managers add their own)."""
    fields: list[str] = []
    meta, live_meta = desired["metadata"], live.get("metadata", {})
    for section in ("labels", "annotations"):
        have = live_meta.get(section) or {}
        fields += [
            f"metadata.{section}.{k}" for k, v in meta.get(section, {}).items() if have.get(k) != v
        ]
    for key in ("type", "data", "spec"):
        if key not in desired:
            continue
        want, have = desired[key], live.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            # Every data key counts (a stray key is drift); of a spec, only what we set.
            keys = set(want) | set(have) if key == "data" else set(want)
            fields += [f"{key}.{k}" for k in sorted(keys) if want.get(k) != have.get(k)]
        elif want != have:
            fields.append(key)
    return fields


class Applier:
    """One namespace's registry objects."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        *,
        home: str = o.DEFAULT_HOME,
        service_accounts: Sequence[str] = DEFAULT_ACCOUNTS,
        combined: Combined = o.COMBINED,
        system_cas: str | None = None,
    ) -> None:
        self.api, self.namespace, self.home = api, namespace, home
        self.service_accounts = tuple(service_accounts)
        self.combined = combined
        self.system_cas = o.system_ca_bundle() if system_cas is None else system_cas
        self.kinds = {kind: _Kind(api, kind) for kind in ("Secret", "PodDefault")}

    def __repr__(self) -> str:
        return f"Applier(namespace={self.namespace!r})"

    def desired(self, spec: RegistrySpec) -> list[Manifest]:
        return o.registry_objects(
            spec, self.namespace, home=self.home, combined=self.combined, system_cas=self.system_cas
        )

    # -- the three verbs ---------------------------------------------------------------------

    def apply(self, spec: RegistrySpec) -> KubeReport:
        names = o.Names(spec.host)
        report = self._report(spec.host)
        # The PodDefault goes last: applying it first would offer a Configuration whose
        # Secrets do not exist yet.
        wanted = self.desired(spec)
        report.objects += [self._converge(body) for body in wanted]
        report.objects += self._prune(
            names.slug, {(b["kind"], b["metadata"]["name"]) for b in wanted}
        )
        report.objects += self._combine()
        merge_pull_secrets(
            self.api, self.namespace, self.service_accounts, add=[names.docker_secret]
        )
        report.service_accounts = self._accounts(names.docker_secret)
        return report

    def status(self, spec: RegistrySpec) -> KubeReport:
        report = self._report(spec.host)
        for body in self.desired(spec):
            live = self.kinds[body["kind"]].get(self.namespace, body["metadata"]["name"])
            found = drift(body, live) if live is not None else []
            report.objects.append(
                ObjectStatus(
                    body["kind"],
                    body["metadata"]["name"],
                    live is not None,
                    live is not None and not found,
                    found,
                )
            )
        report.service_accounts = self._accounts(o.Names(spec.host).docker_secret)
        return report

    def remove(self, host: str) -> KubeReport:
        names = o.Names(host)
        report = self._report(host)
        merge_pull_secrets(
            self.api, self.namespace, self.service_accounts, remove=[names.docker_secret]
        )
        report.objects += self._prune(names.slug, set())
        report.objects += self._combine()
        report.service_accounts = self._accounts(names.docker_secret)
        return report

    # -- helpers -----------------------------------------------------------------------------

    def _report(self, host: str) -> KubeReport:
        return KubeReport(host, self.namespace, selector_label=o.Names(host).selector_label)

    def _converge(self, body: Manifest) -> ObjectStatus:
        live = self.kinds[body["kind"]].get(self.namespace, body["metadata"]["name"])
        return self._write(body, live)

    def _write(
        self, body: Manifest, live: Manifest | None, *, guarded: bool = False
    ) -> ObjectStatus:
        """Bring ``live`` (as read) to ``body``; ``guarded``: only if it is still as read."""
        kind, name = body["kind"], body["metadata"]["name"]
        found = drift(body, live) if live is not None else []
        if live is not None and not found:
            return ObjectStatus(kind, name, True, True, [], "unchanged")
        if not guarded:
            self.kinds[kind].apply(body)
        elif live is None:
            self.kinds[kind].create(body)
        else:
            self.kinds[kind].apply(body, resource_version=_resource_version(live))
        return ObjectStatus(kind, name, True, True, found, "updated" if live else "created")

    def _managed(self, selector: str) -> list[tuple[str, Manifest]]:
        full = f"{o.MANAGED_SELECTOR},{selector}"
        # PodDefaults first: a pod admitted meanwhile must not get volumes of deleted Secrets.
        return [
            (kind, item)
            for kind in ("PodDefault", "Secret")
            for item in self.kinds[kind].list(self.namespace, full)
        ]

    def _prune(self, registry: str, keep: set[tuple[str, str]]) -> list[ObjectStatus]:
        gone = []
        for kind, item in self._managed(f"{o.REGISTRY_LABEL}={registry}"):
            name = item["metadata"]["name"]
            if (kind, name) not in keep:
                self.kinds[kind].delete(self.namespace, name)
                gone.append(ObjectStatus(kind, name, False, True, [], "deleted"))
        return gone

    def _combine(self) -> list[ObjectStatus]:
        """Rebuild the namespace's combined config.json and CA bundle from every registry's
        Secrets; with no registry left, delete them.

        Two registries applied at once would each write the pair from the Secrets it listed,
        and the later write would drop the other's entry. So the pair is read before the
        registries' Secrets are listed, and written only where unchanged since (by its
        resourceVersion; created only where still absent); after a conflict, all is read again.
        """
        attempt = 1
        while True:
            try:
                return self._combine_once()
            except KubeError as error:
                if error.status != CONFLICT or attempt == COMBINE_ATTEMPTS:
                    raise
                attempt += 1

    def _combine_once(self) -> list[ObjectStatus]:
        secrets = self.kinds["Secret"]
        selector = f"{o.MANAGED_SELECTOR},{o.REGISTRY_LABEL}={self.combined.registry}"
        live = {s["metadata"]["name"]: s for s in secrets.list(self.namespace, selector)}
        done = [
            self._write(body, live.pop(body["metadata"]["name"], None), guarded=True)
            for body in self._combined_objects()
        ]
        for name, item in live.items():  # what no registry needs any more
            secrets.delete(self.namespace, name, resource_version=_resource_version(item))
            done.append(ObjectStatus("Secret", name, False, True, [], "deleted"))
        return done

    def _combined_objects(self) -> list[Manifest]:
        """The combined pair as every registry's Secrets make it now; none without a registry."""
        auths: dict[str, Any] = {}
        cas: list[str] = []
        for kind, item in self._managed(f"{o.REGISTRY_LABEL}!={self.combined.registry}"):
            data = item.get("data") or {}
            if kind != "Secret":
                continue
            if item.get("type") == "kubernetes.io/dockerconfigjson":
                auths.update(json.loads(base64.b64decode(data[".dockerconfigjson"]))["auths"])
            elif "ca.crt" in data:
                cas.append(base64.b64decode(data["ca.crt"]).decode())
        if not auths:
            return []
        return o.combined_objects(
            self.namespace, auths, cas, combined=self.combined, system_cas=self.system_cas
        )

    def _accounts(self, secret: str) -> dict[str, bool]:
        found = {}
        for account in self.service_accounts:
            names = pull_secret_names(self.api, self.namespace, account)
            if names is not None:
                found[account] = secret in names
        return found


def _resource_version(live: Manifest) -> str:
    return str(live["metadata"]["resourceVersion"])


@dataclass
class RolloutReport:
    selector: str
    reports: list[KubeReport] = field(default_factory=list)
    errors: dict[str, dict[str, object]] = field(default_factory=dict)  # namespace -> error

    @property
    def changed(self) -> list[str]:
        return sorted(r.namespace for r in self.reports if r.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "namespaces": sorted(r.namespace for r in self.reports),
            "changed": self.changed,
            "errors": dict(self.errors),
        }


def rollout(
    api: client.ApiClient,
    selector: str,
    action: Callable[[str], KubeReport],
    *,
    workers: int = 8,
) -> RolloutReport:
    """Run ``action(namespace)`` for every namespace matching the label ``selector``,
    ``workers`` at a time; a namespace that fails is reported, the others go on."""
    core = client.CoreV1Api(api)
    listed = call("list", "namespaces", "", core.list_namespace, label_selector=selector)
    namespaces = sorted(str(ns.metadata.name) for ns in listed.items if ns.metadata)
    result = RolloutReport(selector)

    def one(namespace: str) -> KubeReport | RegAuthError:
        try:
            return action(namespace)
        except RegAuthError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for namespace, outcome in zip(namespaces, pool.map(one, namespaces), strict=True):
            if isinstance(outcome, RegAuthError):
                result.errors[namespace] = outcome.to_dict()
            else:
                result.reports.append(outcome)
    return result


__all__ = [
    "Applier",
    "KubeError",
    "KubeReport",
    "ObjectStatus",
    "RolloutReport",
    "drift",
    "rollout",
]
