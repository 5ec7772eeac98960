"""Every route of the API refuses requests without a valid login, requests an ``Authorizer``
denies for the ``regauth`` resource, and cookie-session writes without the XSRF token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .test_server_openapi import Fetch, spec
from .test_server_scaffold import DenyRegAuth, _browser_login, _cookie_header

JOB = "0" * 32


def _routes() -> list[tuple[str, tuple[str, ...]]]:
    routes = []
    for template, item in spec()["paths"].items():
        path = template.replace("{host}", "127.0.0.1:5000").replace("{id}", JOB)
        for method in ("get", "post", "delete"):
            if method in item:
                routes.append((method.upper(), ("regauth", "api", *path.strip("/").split("/"))))
    return routes


ROUTES = _routes()
WRITES = [(m, p) for m, p in ROUTES if m != "GET"]


def _ids(routes: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    return [f"{m} {'/'.join(p[2:])}" for m, p in routes]


@pytest.fixture
def jp_server_config(docker_config: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
        "RegAuthApp": {"docker_config_dir": str(docker_config)},
    }


async def _send(jp_fetch: Fetch, method: str, path: tuple[str, ...], **kw: Any) -> Any:
    body = None if method in ("GET", "DELETE") else "{}"
    return await jp_fetch(
        *path, method=method, body=body, raise_error=False, allow_nonstandard_methods=True, **kw
    )


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=_ids(ROUTES))
async def test_refused_without_token(jp_fetch: Fetch, method: str, path: tuple[str, ...]) -> None:
    response = await _send(jp_fetch, method, path, headers={"Authorization": ""})
    assert response.code == 403


@pytest.mark.parametrize(("method", "path"), WRITES, ids=_ids(WRITES))
async def test_cookie_write_without_xsrf_refused(
    jp_fetch: Fetch, jp_serverapp: Any, method: str, path: tuple[str, ...]
) -> None:
    cookies = await _browser_login(jp_fetch, jp_serverapp.identity_provider.token)
    session = {"Authorization": "", "Cookie": _cookie_header(cookies)}
    refused = await _send(jp_fetch, method, path, headers=session)
    assert refused.code == 403
    assert b"_xsrf" in refused.body
    passed = await _send(
        jp_fetch, method, path, headers=session | {"X-XSRFToken": cookies["_xsrf"]}
    )
    assert passed.code != 403, "with the token the request reaches the handler"
    assert isinstance(json.loads(passed.body), dict)


class TestDenied:
    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_regauth": True},
                "authorizer_class": DenyRegAuth,
            }
        }

    @pytest.mark.parametrize(("method", "path"), ROUTES, ids=_ids(ROUTES))
    async def test_refused_by_authorizer(
        self, jp_fetch: Fetch, method: str, path: tuple[str, ...]
    ) -> None:
        response = await _send(jp_fetch, method, path)
        assert response.code == 403
