"""REST handlers: parse the request, call the ``RegAuth`` facade in a thread, serialize.

Every handler is ``@web.authenticated`` and ``@authorized`` against the ``regauth`` resource;
``APIHandler`` checks XSRF on anything but GET. Errors leave as ``{code, message, hint}``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import unquote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .. import __version__
from ..errors import ConfigError, RegAuthError
from ..profiles import RegistryProfile, normalize_host
from ..registry.trust import load_pem_bundle
from ..service import RegAuth, RegistryStatus
from .errors import ApiError, BadRequest, error_body, http_status
from .kube import Kube

log = logging.getLogger(__name__)

#: The authorization resource every handler checks, so an ``Authorizer`` can allow or deny
#: registry operations separately from contents, kernels and terminals.
AUTH_RESOURCE = "regauth"
T = TypeVar("T")
INTERNAL_ERROR = {
    "code": "internal_error",
    "message": "the server failed unexpectedly",
    "hint": "see the Jupyter server log",
}
#: The largest JSON body taken. A CA bundle, a client key or a build spec is a few kB; the
#: server itself accepts bodies of hundreds of MiB, which would otherwise be parsed and saved.
MAX_BODY = 1 << 20


class RegAuthHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> RegAuth:
        service: RegAuth = self.settings["regauth_service"]
        return service

    @property
    def kube(self) -> Kube:
        kube: Kube = self.settings["regauth_kube"]
        return kube

    async def live_status(self, host: str) -> dict[str, Any]:
        """A registry's status from contacting it, with its Kubernetes summary."""
        status = (await self.call(self.service.status, host)).to_dict()
        status["kube"] = await self.kube.summary(self, host)
        return status

    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking core call in the extension's thread pool, so the server keeps serving."""
        loop = asyncio.get_running_loop()
        calls: Executor = self.settings["regauth_calls"]
        return await loop.run_in_executor(calls, functools.partial(func, *args, **kwargs))

    def json_object(self) -> dict[str, Any]:
        if len(self.request.body) > MAX_BODY:
            raise BadRequest(
                f"the request body is {len(self.request.body) / MAX_BODY:.1f} MiB, "
                f"more than the {MAX_BODY >> 20} MiB this API takes",
                hint="send only the fields the API documents",
            )
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise BadRequest("the request body is not JSON", hint="send a JSON object") from None
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        return data

    def body(
        self, allowed: dict[str, type | tuple[type, ...]], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The JSON body checked: only ``allowed`` keys, of their types, ``required`` ones set."""
        data = self.json_object()
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise BadRequest(
                f"unknown field(s): {', '.join(unknown)}",
                hint=f"known fields: {', '.join(sorted(allowed))}",
            )
        for name, kind in allowed.items():
            if name in data and not isinstance(data[name], kind):
                kinds = kind if isinstance(kind, tuple) else (kind,)
                wanted = " or ".join(_json_type(k) for k in kinds)
                got = _json_type(type(data[name]))
                raise BadRequest(f"field {name!r} must be {wanted}, not {got}")
        missing = [name for name in required if not data.get(name)]
        if missing:
            raise BadRequest(f"missing field(s): {', '.join(missing)}")
        return data

    def host(self, raw: str) -> str:
        return normalize_host(unquote(raw))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Our errors as ``{code, message, hint}``; anything unexpected without its details."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RegAuthError):
            self.set_status(http_status(exc))
            body = error_body(exc)
        elif isinstance(exc, web.HTTPError):
            body = {"code": "http_error", "message": exc.log_message or self._reason}
        else:
            body = INTERNAL_ERROR
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Expected errors are logged by code and message only: never a traceback of locals.
        if isinstance(value, RegAuthError):
            log.info("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


class VersionHandler(RegAuthHandler):
    """``GET /regauth/api/version``: lets the frontend check the server side is installed."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(
            {
                "version": __version__,
                "kubernetes": self.kube.settings(),
                "default_base_image": self.settings["regauth_default_base"] or None,
            }
        )


class RegistriesHandler(RegAuthHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        live = self.get_query_argument("live", "true") != "false"
        listed = await self.call(self.service.registries)
        if live:
            statuses = list(await asyncio.gather(*(self.row_status(r) for r in listed)))
        else:
            statuses = [{**r.to_dict(), "kube": None} for r in listed]
        self.finish({"registries": statuses})

    async def row_status(self, row: RegistryStatus) -> dict[str, Any]:
        """One row of the list, contacted unless it is known to be unusable; whatever goes wrong
        with one registry is reported in its row, never instead of the list."""
        offline = {**row.to_dict(), "kube": None}
        if row.error is not None:
            return offline
        try:
            return await self.live_status(row.host)
        except RegAuthError as exc:
            return {**offline, "error": exc.to_dict()}
        except Exception:
            log.exception("status of %s failed", row.host)
            return {**offline, "error": INTERNAL_ERROR}

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body(
            {"host": str, "display_name": str, "ca_pem": str, "insecure": bool}, ("host",)
        )
        host = normalize_host(data["host"])
        existing = self.service.profiles.get(host)
        if existing is not None and existing.source == "admin":
            raise ApiError(
                409,
                "admin_registry",
                f"{host} is already defined by the administrator",
                hint="pick it from the list instead of adding it",
            )
        sent: dict[str, Any] = {k: data[k] for k in ("display_name", "insecure") if k in data}
        if "ca_pem" in data:
            sent["ca_pem"] = data["ca_pem"] or None
        if sent.get("ca_pem"):
            load_pem_bundle(sent["ca_pem"].encode(), "CA certificate")  # reject junk before saving
        # Onto the user's profile for the host, if there is one: what was not sent is kept.
        profile = replace(existing or RegistryProfile(host=host), **sent)
        if profile.insecure and profile.ca_pem and (sent.get("insecure") or sent.get("ca_pem")):
            # As for a login: with TLS unverified the CA would be kept, never checked or used.
            raise ConfigError(
                f"a CA certificate is not used for {host} when it is insecure: TLS is not "
                "verified, so the CA would be kept without ever being checked",
                hint="send the CA, to verify the registry with it, or insecure, not both "
                '(ca_pem "" removes the CA saved)',
            )
        await self.call(self.service.profiles.save_user, profile)
        status = await self.live_status(host)
        self.set_status(201)
        self.finish(status)


class RegistryHandler(RegAuthHandler):
    @web.authenticated
    @authorized
    async def get(self, raw_host: str) -> None:
        host = self.host(raw_host)
        status = await self.live_status(host)
        self.finish(status)

    @web.authenticated
    @authorized
    async def delete(self, raw_host: str) -> None:
        # Not validated here: an invalid entry of the user's goes by its host as written.
        text = unquote(raw_host)
        try:
            host = normalize_host(text)
        except ConfigError:
            host = text
        else:
            profile = self.service.profiles.get(host)
            if profile is not None and profile.source == "admin":
                raise ApiError(
                    409,
                    "admin_registry",
                    f"{host} is defined by the administrator and cannot be removed",
                    hint="log out instead to remove your credentials",
                )
        if not await self.call(self.service.profiles.remove_user, text):
            raise ApiError(404, "not_found", f"{host} is not one of your registries")
        self.finish({"host": host, "removed": True})


class TrustHandler(RegAuthHandler):
    @web.authenticated
    @authorized
    async def post(self, raw_host: str) -> None:
        host = self.host(raw_host)
        data = self.body({"ca_pem": str, "fingerprint": str})
        if "ca_pem" not in data:
            if "fingerprint" in data:
                raise BadRequest("a fingerprint confirms a ca_pem: send both, or neither")
            offer = await self.call(self.service.offer_trust, host)
            self.finish(offer.to_dict())
            return
        if not data.get("fingerprint"):
            raise BadRequest(
                "confirm the CA with the fingerprint you checked",
                hint="send the fingerprint of the certificate shown by the offer",
            )
        path = await self.call(
            self.service.trust, host, data["ca_pem"], expected_fingerprint=data["fingerprint"]
        )
        self.finish(
            {"host": host, "trusted": True, "fingerprint": data["fingerprint"], "path": str(path)}
        )


class LoginHandler(RegAuthHandler):
    @web.authenticated
    @authorized
    async def post(self, raw_host: str) -> None:
        host = self.host(raw_host)
        data = self.body(
            {
                "username": str,
                "password": str,
                "ca_pem": str,
                "client_cert": str,
                "client_key": str,
                "insecure": bool,
                "save_profile": bool,
                "kube": bool,
            },
            ("username", "password"),
        )
        if bool(data.get("client_cert")) != bool(data.get("client_key")):
            raise BadRequest("client_cert and client_key go together")
        if data.get("kube"):
            self.kube.require()  # before storing anything, so a 501 leaves nothing half-done
        result = await self.call(
            self.service.login,
            host,
            data["username"],
            data["password"],
            ca_pem=_bytes(data.get("ca_pem")),
            client_cert=_bytes(data.get("client_cert")),
            client_key=_bytes(data.get("client_key")),
            insecure=data.get("insecure"),
            save_profile=data.get("save_profile", True),
            # The kubelet cannot pull with an identity token: keep the password for the cluster.
            store_password=bool(data.get("kube")),
        )
        body = result.to_dict()
        body.pop("extra", None)
        body["kube"] = None
        if data.get("kube"):
            # The login stands (its credentials are stored): a failed Kubernetes step is
            # reported beside it, not instead of it.
            try:
                body["kube"] = await self.kube.call(self, "apply", host)
            except RegAuthError as exc:
                log.info("logged in to %s; Kubernetes setup failed: %s", host, exc)
                body["kube"] = {"error": error_body(exc)}
        self.finish(body)


class LogoutHandler(RegAuthHandler):
    @web.authenticated
    @authorized
    async def post(self, raw_host: str) -> None:
        host = self.host(raw_host)
        data = self.body({"kube": bool})
        kube = data.get("kube", self.kube.available)
        if kube:
            self.kube.require()  # before erasing anything, so a 501 leaves the login as it was
        removed = await self.call(self.service.logout, host)
        body: dict[str, Any] = {"host": host, "removed": removed, "kube": None}
        if kube:
            body["kube"] = await self.kube.call(self, "remove", host)
        self.finish(body)


class KubeHandler(RegAuthHandler):
    @web.authenticated
    @authorized
    async def get(self, raw_host: str) -> None:
        self.finish(await self.kube.call(self, "status", self.host(raw_host)))

    @web.authenticated
    @authorized
    async def post(self, raw_host: str) -> None:
        self.finish(await self.kube.call(self, "apply", self.host(raw_host)))

    @web.authenticated
    @authorized
    async def delete(self, raw_host: str) -> None:
        self.finish(await self.kube.call(self, "remove", self.host(raw_host)))


#: JSON's names for the Python types ``json.loads`` makes.
_JSON_TYPES: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _json_type(kind: type) -> str:
    return _JSON_TYPES.get(kind, kind.__name__)


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text else None
