"""The Kubernetes endpoints' bridge to the core, which they reach only when it is turned on.

The core's facade offers ``kube_status(host)``, ``kube_apply(host)`` and ``kube_remove(host)``
(each taking ``namespace=`` when the server configures one). When Kubernetes is disabled in the
server's configuration, or the installed core lacks those methods, the endpoints answer 501.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RegAuthError
from ..service import RegAuth
from .errors import ApiError

if TYPE_CHECKING:
    from .handlers import RegAuthHandler

OPERATIONS = ("status", "apply", "remove")


class Kube:
    def __init__(self, service: RegAuth, *, enabled: bool, namespace: str) -> None:
        self.service = service
        self.enabled = enabled
        self.namespace = namespace

    @property
    def available(self) -> bool:
        return self.enabled and all(hasattr(self.service, f"kube_{op}") for op in OPERATIONS)

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
                "this installation of jupyter-regauth has no Kubernetes support",
                hint="install jupyter-regauth with its Kubernetes extra",
            )

    async def call(self, handler: RegAuthHandler, operation: str, host: str) -> dict[str, Any]:
        self.require()
        method = getattr(self.service, f"kube_{operation}")
        options = {"namespace": self.namespace} if self.namespace else {}
        result = await handler.call(method, host, **options)
        data: dict[str, Any] = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        data.setdefault("host", host)
        data.setdefault("namespace", self.namespace)
        data.setdefault("objects", [])
        data.setdefault("configured", False)
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
