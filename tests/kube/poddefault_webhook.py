"""A PodDefault mutating admission webhook with the Kubeflow webhook's behaviour: on pod CREATE it
lists the PodDefaults of the pod's namespace, applies those whose selector matches the pod's labels
(volumes, imagePullSecrets, service account, labels, annotations, and each container's env, envFrom
and volumeMounts), records each as a ``poddefault-<name>`` annotation, rejects conflicting values,
and skips pods annotated ``poddefault.admission.kubeflow.org/exclude: "true"``.

The kube-apiserver calls it over TLS exactly as it calls the upstream webhook, with the same
``/apply-poddefault`` path and MutatingWebhookConfiguration."""

from __future__ import annotations

import base64
import copy
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "poddefault.admission.kubeflow.org"
PATH = "/apply-poddefault"

Json = dict[str, Any]
log = logging.getLogger(__name__)


class Conflict(ValueError):
    pass


def selector_matches(selector: Json, labels: dict[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics: matchLabels and matchExpressions must all hold."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        holds = {
            "In": present and labels.get(key) in (values or []),
            "NotIn": not present or labels.get(key) not in (values or []),
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not holds:
            return False
    return True


def _merge_named(existing: list[Json], additions: Iterable[Json], what: str) -> list[Json]:
    merged, seen = list(existing), {item["name"]: item for item in existing}
    for item in additions:
        found = seen.setdefault(item["name"], item)
        if found is item:
            merged.append(item)
        elif found != item:
            raise Conflict(f"{what} {item['name']!r} differs from the one already set")
    return merged


def _merge_map(existing: dict[str, str], additions: Iterable[dict[str, str]]) -> dict[str, str]:
    merged = dict(existing)
    for addition in additions:
        for key, value in addition.items():
            if merged.setdefault(key, value) != value:
                raise Conflict(f"{key!r} is already set to a different value")
    return merged


def apply_pod_defaults(pod: Json, defaults: list[Json]) -> Json:
    """The pod with ``defaults`` (matching PodDefault objects) applied; raises Conflict."""
    pod = copy.deepcopy(pod)
    meta, spec = pod.setdefault("metadata", {}), pod["spec"]
    specs = [d["spec"] for d in defaults]

    def each(field: str) -> list[Json]:
        return [item for s in specs for item in s.get(field, [])]

    spec["volumes"] = _merge_named(spec.get("volumes", []), each("volumes"), "volume")
    spec["imagePullSecrets"] = _merge_named(
        spec.get("imagePullSecrets", []), each("imagePullSecrets"), "imagePullSecret"
    )
    for s in specs:
        if s.get("serviceAccountName"):
            spec["serviceAccountName"] = s["serviceAccountName"]
        if "automountServiceAccountToken" in s:
            spec["automountServiceAccountToken"] = s["automountServiceAccountToken"]
    meta["labels"] = _merge_map(meta.get("labels", {}), (s.get("labels", {}) for s in specs))
    annotations = _merge_map(meta.get("annotations", {}), (s.get("annotations", {}) for s in specs))
    for container in spec["containers"]:
        container["env"] = _merge_named(container.get("env", []), each("env"), "env")
        mounts = _merge_named(container.get("volumeMounts", []), each("volumeMounts"), "mount")
        paths = [m["mountPath"] for m in mounts]
        if len(paths) != len(set(paths)):
            raise Conflict(f"two volume mounts share a mount path in container {container['name']}")
        container["volumeMounts"] = mounts
        if env_from := container.get("envFrom", []) + each("envFrom"):
            container["envFrom"] = env_from
    for d in defaults:
        annotations[f"{PREFIX}/poddefault-{d['metadata']['name']}"] = d["metadata"][
            "resourceVersion"
        ]
    meta["annotations"] = annotations
    return pod


def json_patch(before: Json, after: Json) -> list[Json]:
    """``add`` operations (which replace existing members) for changed metadata/spec fields."""
    operations = []
    for section in ("metadata", "spec"):
        old, new = before.get(section, {}), after[section]
        for key, value in new.items():
            if old.get(key) != value and (key in old or value not in ([], {})):
                operations.append({"op": "add", "path": f"/{section}/{key}", "value": value})
    return operations


def review(request: Json, list_pod_defaults: Callable[[str], list[Json]]) -> Json:
    """The AdmissionReview response for one pod CREATE request."""
    response: Json = {"uid": request["uid"], "allowed": True}
    pod = request["object"]
    annotations = pod.get("metadata", {}).get("annotations", {})
    if annotations.get(f"{PREFIX}/exclude") == "true":
        return response
    labels = pod.get("metadata", {}).get("labels", {})
    matching = [
        d
        for d in list_pod_defaults(request["namespace"])
        if selector_matches(d["spec"].get("selector", {}), labels)
    ]
    if not matching:
        return response
    try:
        patched = apply_pod_defaults(pod, matching)
    except Conflict as error:
        names = ",".join(d["metadata"]["name"] for d in matching)
        message = f"conflict occurred while applying poddefaults: {names}: {error}"
        return {"uid": request["uid"], "allowed": False, "status": {"message": message}}
    patch = json.dumps(json_patch(pod, patched)).encode()
    response.update(patchType="JSONPatch", patch=base64.b64encode(patch).decode())
    return response


class PodDefaultWebhook:
    """Serve ``/apply-poddefault`` over TLS on 127.0.0.1 in a background thread."""

    def __init__(
        self, cert: Path, key: Path, list_pod_defaults: Callable[[str], list[Json]]
    ) -> None:
        lister = list_pod_defaults

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.split("?")[0] != PATH:
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = {
                    "apiVersion": body.get("apiVersion", "admission.k8s.io/v1"),
                    "kind": "AdmissionReview",
                    "response": review(body["request"], lister),
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("poddefault webhook: " + format, *args)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}{PATH}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
