"""The Kubernetes endpoints' bridge to the core, which they reach only when it is turned on.

The core's facade offers ``kube_status(host)``, ``kube_apply(host)`` and ``kube_remove(host)``
(each taking ``namespace=`` when the server configures one). When Kubernetes is disabled in the
server's configuration, or no cluster is configured where the server runs, they answer 501.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RegAuthError
from ..kube.detect import cluster_configured
from ..service import RegAuth
from .errors import ApiError

if TYPE_CHECKING:
    from .handlers import RegAuthHandler


class Kube:
    def __init__(self, service: RegAuth, *, enabled: bool, namespace: str) -> None:
        self.service = service
        self.enabled = enabled
        self.namespace = namespace

    @property
    def available(self) -> bool:
        return self.enabled and cluster_configured()

    def settings(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "available": self.available,
            "namespace": self.namespace or None,
        }

    def require(self) -> None:
        if not self.enabled:
            raise ApiError(
                501,
                "kubernetes_disabled",
                "Kubernetes support is turned off on this server",
                hint="ask the administrator to set RegAuthApp.kubernetes = True",
            )
        if not self.available:
            raise ApiError(
                501,
                "kubernetes_unavailable",
                "no Kubernetes cluster is configured where this server runs",
                hint="run the server in a pod with a service account, or set KUBECONFIG",
            )

    async def call(self, handler: RegAuthHandler, operation: str, host: str) -> dict[str, Any]:
        self.require()
        method = getattr(self.service, f"kube_{operation}")
        options = {"namespace": self.namespace} if self.namespace else {}
        result = await handler.call(method, host, **options)
        data: dict[str, Any] = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        data.setdefault("host", host)
        data.setdefault("namespace", self.namespace)
        data.setdefault("configured", False)
        data["objects"] = [_with_state(o) for o in data.get("objects", [])]
        return data

    async def summary(self, handler: RegAuthHandler, host: str) -> dict[str, Any] | None:
        """``{configured}`` for a registry's status, or None when Kubernetes is off."""
        if not self.available:
            return None
        try:
            status = await self.call(handler, "status", host)
        except RegAuthError:
            return {"configured": None}
        return {"configured": bool(status["configured"])}


def _with_state(item: dict[str, Any]) -> dict[str, Any]:
    """The API's one-word ``state`` (and a ``message`` naming drifted fields) for an object the
    core reports as exists / matches / drift / action."""
    if item.get("action") == "deleted":
        state = "removed"
    elif not item.get("exists"):
        state = "missing"
    else:
        state = "present" if item.get("matches") else "outdated"
    drift = item.get("drift") or []
    message = f"differs in {', '.join(drift)}" if drift else item.get("action", "")
    return {**item, "state": state, "message": message}
