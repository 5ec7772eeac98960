"""Apply, inspect and remove one registry's objects in a namespace, and roll out to many.

Objects are written with server-side apply under one field manager and only when they differ
from what is desired, so a second run changes nothing. ``remove`` deletes what carries the
registry's label, which is exactly what ``apply`` wrote.

Both run their writes twice: first as a server-side dry run, in which the API server checks
every write's rights, validity and admission and keeps nothing, then for real. A verb the Role
lacks or an object the server rejects is so refused before the first write, not halfway through
(which would leave Secrets that no ServiceAccount or PodDefault names, or the reverse).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..errors import RegAuthError
from . import objects as o
from .client import call, dry_run_param, failure, missing_ok
from .errors import (
    ForeignSecret,
    InvalidSelector,
    KubeError,
    KubeletNeedsPassword,
    LayoutConflict,
    NamespaceNotFound,
)
from .notes import Note, pod_defaults_not_served, service_accounts_not_listed
from .objects import Combined, Manifest, RegistrySpec
from .serviceaccount import (
    DEFAULT_ACCOUNTS,
    accounts_listing,
    merge_pull_secrets,
    pull_secret_names,
)

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
CONFLICT = 409
# Rebuilding the combined Secrets after a conflict: each retry follows a write by another
# applier, so a few are enough even with several registries applied at once.
COMBINE_ATTEMPTS = 5


@dataclass
class ObjectStatus:
    """How one Kubernetes object compares with what it should be, and what was done to it."""

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
    """The state of a registry's Kubernetes objects in one namespace."""

    host: str
    namespace: str
    objects: list[ObjectStatus] = field(default_factory=list)
    service_accounts: dict[str, bool] = field(default_factory=dict)  # name -> lists our Secret
    selector_label: str = ""
    notes: list[Note] = field(default_factory=list)  # what was skipped or could not be checked

    @property
    def configured(self) -> bool:
        """The registry's own pull Secret is there (the combined pair alone is every other
        registry's), every object is as it should be, and every ServiceAccount lists it."""
        present = [s for s in self.objects if s.action != "deleted"]
        pull = o.Names(self.host).docker_secret
        return (
            any(s.kind == "Secret" and s.name == pull for s in present)
            and all(s.exists and s.matches for s in present)
            and all(self.service_accounts.values())
        )

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
            # The notes in words, as they always were, and each with its code and fields.
            "notes": [str(note) for note in self.notes],
            "note_details": [note.to_dict() for note in self.notes],
        }


class _Kind:
    """get / apply / delete / list for one kind, with errors naming verb and resource."""

    def __init__(self, api: client.ApiClient, kind: str) -> None:
        self.kind, self.api = kind, api
        self.dry_run = False  # writes are checked by the API server and not kept
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
            dry_run=self._dry_run,
        )  # fmt: skip

    def drop_data_keys(self, live: Manifest, keys: Sequence[str]) -> str:
        """Delete ``keys`` from a Secret's data, whoever set them (server-side apply removes
        only the fields its own manager set), only onto the version of ``live`` read; returns
        the new resourceVersion."""
        meta = live["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        patch = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "data": dict.fromkeys(keys),  # null removes the key
        }
        patched = call(
            "patch", self.resource, namespace, self._patch, *self._args(namespace, name, patch),
            _content_type=MERGE_PATCH, field_manager=o.FIELD_MANAGER, dry_run=self._dry_run,
        )  # fmt: skip
        return _resource_version(self._json(patched))

    def create(self, body: Manifest) -> None:
        """Create the object; where it exists already, a 409 KubeError. (Apply creates too, but
        it ignores a resourceVersion on a missing object, so it cannot guard a creation.)"""
        namespace = body["metadata"]["namespace"]
        args = (namespace, body) if not self.path else self._args(namespace, body)
        call(
            "create", self.resource, namespace, self._create, *args,
            field_manager=o.FIELD_MANAGER, dry_run=self._dry_run,
        )  # fmt: skip

    def delete(self, namespace: str, name: str, *, resource_version: str | None = None) -> None:
        """Delete (already gone is fine); with ``resource_version``, only that version."""
        options = None
        if resource_version is not None:
            options = client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=resource_version)
            )
        args = self._args(namespace, name)
        missing_ok(
            "delete", self.resource, namespace, self._delete, *args,
            body=options, dry_run=self._dry_run,
        )  # fmt: skip

    @property
    def _dry_run(self) -> str | None:
        return dry_run_param(self.dry_run)

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
        self._pod_defaults_served: bool | None = None

    def __repr__(self) -> str:
        return f"Applier(namespace={self.namespace!r})"

    def desired(self, spec: RegistrySpec) -> list[Manifest]:
        wanted = o.registry_objects(
            spec, self.namespace, home=self.home, combined=self.combined, system_cas=self.system_cas
        )
        if not self.pod_defaults_served:
            wanted = [body for body in wanted if body["kind"] != "PodDefault"]
        return wanted

    @property
    def pod_defaults_served(self) -> bool:
        """Whether the cluster serves Kubeflow's PodDefaults (a plain JupyterHub does not)."""
        if self._pod_defaults_served is None:
            group, version, plural = o.PODDEFAULT_API
            custom: Any = client.CustomObjectsApi(self.api)
            found = missing_ok(
                "discover", f"{group}/{version}", "", custom.get_api_resources, group, version
            )
            names = {r.name for r in found.resources or []} if found is not None else set()
            self._pod_defaults_served = plural in names
        return self._pod_defaults_served

    # -- the three verbs ---------------------------------------------------------------------

    def apply(self, spec: RegistrySpec) -> KubeReport:
        names = o.Names(spec.host)
        report = self._report(spec.host)
        # Everything that would make the result unusable is checked before the first write.
        _check_kubelet_can_use(spec)
        self._check_namespace()
        self._check_combined_names()
        self._check_layout(names.slug)
        self._note_pod_defaults(report)
        self._rehearsed(report, lambda into: self._apply_writes(spec, into))
        return report

    def _apply_writes(self, spec: RegistrySpec, report: KubeReport) -> None:
        names = o.Names(spec.host)
        # The PodDefault goes last: applying it first would offer a Configuration whose
        # Secrets do not exist yet.
        wanted = self.desired(spec)
        report.objects += [self._converge(body) for body in wanted]
        stale = self._stale(
            spec.host, names.slug, {(b["kind"], b["metadata"]["name"]) for b in wanted}
        )
        report.objects += self._delete(stale)
        report.objects += self._combine()
        merge_pull_secrets(
            self.api,
            self.namespace,
            self.service_accounts,
            add=[names.docker_secret],
            remove=_pull_secrets(stale),  # under an older name
            dry_run=self.dry_run,
        )
        report.service_accounts = self._accounts(names.docker_secret)

    def status(self, spec: RegistrySpec) -> KubeReport:
        report = self._report(spec.host)
        self._check_namespace()  # else a mistyped name would read as "not configured"
        self._note_pod_defaults(report)
        # The registry's own objects, then the combined pair its PodDefault mounts, as the
        # registries' Secrets make it now.
        for body in self.desired(spec) + self._combined_objects():
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
        report = self._report(host)
        self._check_namespace()  # else a mistyped name would read as "nothing to remove"
        self._check_layout(o.Names(host).slug)
        self._rehearsed(report, lambda into: self._remove_writes(host, into))
        return report

    def _remove_writes(self, host: str, report: KubeReport) -> None:
        names = o.Names(host)
        # Every ServiceAccount that lists the Secret, not only the ones named now: an apply
        # may have added it to others.
        stale = self._stale(host, names.slug, set())
        secrets = [names.docker_secret]
        secrets += [name for name in _pull_secrets(stale) if name not in secrets]
        listing = accounts_listing(self.api, self.namespace, secrets)
        accounts = list(self.service_accounts)
        if listing is None:
            cleaned = self.service_accounts
            report.notes.append(service_accounts_not_listed(host, self.namespace, cleaned))
        else:
            accounts += [a for a in listing if a not in accounts]
        merge_pull_secrets(self.api, self.namespace, accounts, remove=secrets, dry_run=self.dry_run)
        report.objects += self._delete(stale)
        report.objects += self._combine()
        report.service_accounts = self._accounts(names.docker_secret, accounts)

    @property
    def dry_run(self) -> bool:
        return self.kinds["Secret"].dry_run

    def _rehearsed(self, report: KubeReport, writes: Callable[[KubeReport], None]) -> None:
        """``writes(report)`` as a dry run (into a report thrown away), then for real: see the
        module's docstring."""
        for kind in self.kinds.values():
            kind.dry_run = True
        try:
            writes(self._report(report.host))
        finally:
            for kind in self.kinds.values():
                kind.dry_run = False
        writes(report)

    # -- checks before writing ---------------------------------------------------------------

    def _check_namespace(self) -> None:
        """A missing namespace is named as such (where we may read namespaces at all)."""
        core: Any = client.CoreV1Api(self.api)
        try:
            core.read_namespace(self.namespace)
        except ApiException as error:
            if error.status == 404:
                raise NamespaceNotFound(
                    f"namespace {self.namespace} does not exist", self.namespace
                ) from None
            if error.status != 403:  # not allowed to look: the writes will tell
                raise failure("get", "namespaces", "", error) from None
        except HTTPError as error:  # no API server there
            raise failure("get", "namespaces", "", error) from None

    def _check_layout(self, slug: str) -> None:
        """Refuse where other registries' PodDefaults in the namespace mount a combined Secret
        of another name, or under another home: rebuilding the pair under our names would
        delete the Secret their pods mount."""
        if not self.pod_defaults_served:
            return
        others: dict[tuple[str, str], list[str]] = {}
        for item in self.kinds["PodDefault"].list(self.namespace, o.MANAGED_SELECTOR):
            meta = item.get("metadata") or {}
            if (meta.get("labels") or {}).get(o.REGISTRY_LABEL) == slug:
                continue  # the one being written now
            layout = _layout(item)
            if layout is not None and layout != (self.combined.docker, self.home):
                host = (meta.get("annotations") or {}).get(o.HOST_ANNOTATION, meta.get("name"))
                others.setdefault(layout, []).append(str(host))
        if not others:
            return
        (docker, home), hosts = sorted(others.items())[0]
        raise LayoutConflict(
            f"the PodDefaults of {', '.join(sorted(hosts))} in namespace {self.namespace} mount "
            f"the combined Secret {docker} with home {home}, not {self.combined.docker} with "
            f"home {self.home}",
            namespace=self.namespace,
            hosts=sorted(hosts),
            kaptain_names=docker == o.KAPTAIN.docker,
            home=home,
        )

    def _check_combined_names(self) -> None:
        """The combined Secrets' names must be free or ours (``docker-secret`` may well be
        someone else's)."""
        for name in (self.combined.docker, self.combined.certificate):
            live = self.kinds["Secret"].get(self.namespace, name)
            if live is not None and not _managed_by_us(live):
                raise self._foreign(name)

    def _foreign(self, name: str) -> ForeignSecret:
        return ForeignSecret(self.namespace, name, kaptain_names=self.combined == o.KAPTAIN)

    def _note_pod_defaults(self, report: KubeReport) -> None:
        if not self.pod_defaults_served:
            report.notes.append(pod_defaults_not_served(report.host))

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
            self._drop_stray_keys(body, live)
            self.kinds[kind].apply(body)
        elif live is None:
            self.kinds[kind].create(body)
        else:
            version = self._drop_stray_keys(body, live) or _resource_version(live)
            self.kinds[kind].apply(body, resource_version=version)
        return ObjectStatus(kind, name, True, True, found, "updated" if live else "created")

    def _drop_stray_keys(self, body: Manifest, live: Manifest | None) -> str | None:
        """Remove the data keys of ``live`` that ``body`` lacks (added by ``kubectl edit``, say:
        our apply would leave them, and report the drift on every run); returns the new
        resourceVersion, None where there were none."""
        stray = sorted(set((live or {}).get("data") or {}) - set(body.get("data") or {}))
        if live is None or not stray:
            return None
        return self.kinds[body["kind"]].drop_data_keys(live, stray)

    def _managed(self, selector: str) -> list[tuple[str, Manifest]]:
        full = f"{o.MANAGED_SELECTOR},{selector}"
        # PodDefaults first: a pod admitted meanwhile must not get volumes of deleted Secrets.
        kinds = ("PodDefault", "Secret") if self.pod_defaults_served else ("Secret",)
        return [
            (kind, item) for kind in kinds for item in self.kinds[kind].list(self.namespace, full)
        ]

    def _stale(
        self, host: str, slug: str, keep: set[tuple[str, str]]
    ) -> list[tuple[str, Manifest]]:
        """This registry's objects not in ``keep``, and what an older version wrote for ``host``
        under another slug (before slugs of hosts with a '-' got a hash), from one listing."""
        stale = []
        for kind, item in self._managed(o.REGISTRY_LABEL):  # every registry's objects
            meta = item["metadata"]
            label = (meta.get("labels") or {}).get(o.REGISTRY_LABEL)
            if label == slug:
                if (kind, meta["name"]) not in keep:
                    stale.append((kind, item))
            elif (meta.get("annotations") or {}).get(o.HOST_ANNOTATION) == host:
                stale.append((kind, item))
        return stale

    def _delete(self, stale: list[tuple[str, Manifest]]) -> list[ObjectStatus]:
        for kind, item in stale:
            self.kinds[kind].delete(self.namespace, item["metadata"]["name"])
        return [
            ObjectStatus(kind, item["metadata"]["name"], False, True, [], "deleted")
            for kind, item in stale
        ]

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
                if error.status != CONFLICT:
                    raise
                if error.reason == "AlreadyExists":
                    # Created since we listed: by another apply (retry), or by someone else.
                    self._check_combined_names()
                if attempt == COMBINE_ATTEMPTS:
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

    def _accounts(self, secret: str, accounts: Sequence[str] = ()) -> dict[str, bool]:
        found = {}
        for account in accounts or self.service_accounts:
            names = pull_secret_names(self.api, self.namespace, account)
            if names is not None:
                found[account] = secret in names
        return found


def _pull_secrets(objects: list[tuple[str, Manifest]]) -> list[str]:
    """The names of the pull (dockerconfigjson) Secrets among ``objects``."""
    return [
        item["metadata"]["name"] for _, item in objects if item.get("type") == o.DOCKER_CONFIG_TYPE
    ]


def _resource_version(live: Manifest) -> str:
    return str(live["metadata"]["resourceVersion"])


def _managed_by_us(live: Manifest) -> bool:
    labels = (live.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(o.MANAGED_BY_KEY) == o.FIELD_MANAGER)


def _layout(pod_default: Manifest) -> tuple[str, str] | None:
    """The combined docker Secret a PodDefault mounts and the home it mounts it under."""
    spec = pod_default.get("spec") or {}
    secret = next(
        (
            (v.get("secret") or {}).get("secretName")
            for v in spec.get("volumes") or []
            if v.get("name") == o.DOCKER_CONFIG_VOLUME
        ),
        None,
    )
    path = next(
        (
            m.get("mountPath")
            for m in spec.get("volumeMounts") or []
            if m.get("name") == o.DOCKER_CONFIG_VOLUME
        ),
        None,
    )
    if not secret or not path:
        return None
    return str(secret), str(path).removesuffix("/.docker")


def _check_kubelet_can_use(spec: RegistrySpec) -> None:
    """The kubelet reads a pull Secret's username/password (or ``auth``) only: an identity
    (refresh) token in it would make every pull anonymous."""
    creds = spec.credentials
    if creds.password or not (creds.identity_token or creds.registry_token):
        return
    token = "an identity token" if creds.identity_token else "a registry token"
    raise KubeletNeedsPassword(spec.host, token)


@dataclass
class RolloutReport:
    """An apply across the namespaces a selector picks: a report or an error for each."""

    selector: str
    reports: list[KubeReport] = field(default_factory=list)
    errors: dict[str, dict[str, object]] = field(default_factory=dict)  # namespace -> error

    @property
    def namespaces(self) -> list[str]:
        """Every namespace the selector matched, whether it went through or failed."""
        return sorted([r.namespace for r in self.reports] + list(self.errors))

    @property
    def changed(self) -> list[str]:
        return sorted(r.namespace for r in self.reports if r.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "namespaces": self.namespaces,
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
    try:
        listed = call("list", "namespaces", "", core.list_namespace, label_selector=selector)
    except KubeError as error:
        if error.status == 400:  # the one thing of ours in the request
            raise InvalidSelector(selector) from None
        raise
    namespaces = sorted(str(ns.metadata.name) for ns in listed.items if ns.metadata)
    result = RolloutReport(selector)

    def one(namespace: str) -> KubeReport | dict[str, object]:
        try:
            return action(namespace)
        except RegAuthError as error:
            return error.to_dict()
        except Exception as error:  # one namespace's surprise must not stop the others
            # Only the type: the text of an unknown error may hold what the request carried.
            return {
                "code": "unexpected_error",
                "message": f"unexpected {type(error).__name__} in namespace {namespace}",
                "hint": f"run the action alone in namespace {namespace} to see it",
            }

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for namespace, outcome in zip(namespaces, pool.map(one, namespaces), strict=True):
            if isinstance(outcome, dict):
                result.errors[namespace] = outcome
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
