"""The server extension loads into a real Jupyter Server and guards its routes.

Requests go through the server's own stack (token and cookie login, XSRF, the Authorizer), the same
path the JupyterLab frontend takes.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPResponse

import jupyter_regauth

Fetch = Callable[..., Awaitable[HTTPResponse]]
VERSION = ("regauth", "api", "version")


class DenyRegAuth(Authorizer):
    """Allows everything except the ``regauth`` resource, as an operator's Authorizer might."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "regauth"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}}}


def _cookies(response: HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def _browser_login(jp_fetch: Fetch, token: str) -> dict[str, str]:
    """Log in through the login form, as a browser does, and return the session cookies."""
    page = await jp_fetch("login", headers={"Authorization": ""})
    cookies = _cookies(page)
    response = await jp_fetch(
        "login",
        method="POST",
        body=urllib.parse.urlencode({"password": token, "_xsrf": cookies["_xsrf"]}),
        headers={"Authorization": "", "Cookie": _cookie_header(cookies)},
        follow_redirects=False,
        raise_error=False,
    )
    assert response.code == 302, response.code
    return cookies | _cookies(response)


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def test_extension_is_loaded(jp_serverapp: Any) -> None:
    assert jp_serverapp.extension_manager.extensions["jupyter_regauth"].enabled
    assert "jupyter_regauth" in jp_serverapp.extension_manager.extension_apps


async def test_version_with_token(jp_fetch: Fetch) -> None:
    response = await jp_fetch(*VERSION)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body)["version"] == jupyter_regauth.__version__


@pytest.mark.parametrize("authorization", ["", "token not-the-token"])
async def test_version_refused_without_valid_token(jp_fetch: Fetch, authorization: str) -> None:
    response = await jp_fetch(*VERSION, headers={"Authorization": authorization}, raise_error=False)
    assert response.code == 403
    assert jupyter_regauth.__version__.encode() not in response.body


async def test_version_with_login_cookie(jp_fetch: Fetch, jp_serverapp: Any) -> None:
    cookies = await _browser_login(jp_fetch, jp_serverapp.identity_provider.token)
    response = await jp_fetch(
        *VERSION, headers={"Authorization": "", "Cookie": _cookie_header(cookies)}
    )
    assert json.loads(response.body)["version"] == jupyter_regauth.__version__


async def test_cookie_post_without_xsrf_is_refused(jp_fetch: Fetch, jp_serverapp: Any) -> None:
    cookies = await _browser_login(jp_fetch, jp_serverapp.identity_provider.token)
    session = {"Authorization": "", "Cookie": _cookie_header(cookies)}
    refused = await jp_fetch(*VERSION, method="POST", body="{}", headers=session, raise_error=False)
    assert refused.code == 403
    assert b"_xsrf" in refused.body
    # The same request carrying the XSRF token gets past the check, to the missing POST method:
    # so the 403 above came from the XSRF check, not from authentication.
    with_xsrf = session | {"X-XSRFToken": cookies["_xsrf"]}
    passed = await jp_fetch(
        *VERSION, method="POST", body="{}", headers=with_xsrf, raise_error=False
    )
    assert passed.code == 405


class TestAuthorizer:
    """An operator's Authorizer can deny the ``regauth`` resource without touching the rest."""

    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_regauth": True},
                "authorizer_class": DenyRegAuth,
            }
        }

    async def test_denied_resource_is_refused(self, jp_fetch: Fetch) -> None:
        denied = await jp_fetch(*VERSION, raise_error=False)
        assert denied.code == 403
        status = await jp_fetch("api", "status")
        assert status.code == 200
