"""The ``jupyter_regauth`` server extension and its handlers.

Handlers stay thin: they authenticate, authorize against the ``regauth`` resource, call the core
and serialize. Every route lives under ``<base_url>/regauth/api/``.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web

from .. import __version__

#: The authorization resource every handler checks, so an ``Authorizer`` can allow or deny
#: registry operations separately from contents, kernels and terminals.
AUTH_RESOURCE = "regauth"


class VersionHandler(APIHandler):
    """``GET /regauth/api/version``: lets the frontend check the server side is installed."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish({"version": __version__})


class RegAuthApp(ExtensionApp):
    """Server extension entry point, named in ``_jupyter_server_extension_points``."""

    name = "jupyter_regauth"

    def initialize_handlers(self) -> None:
        self.handlers.extend([(r"/regauth/api/version", VersionHandler)])
