"""The OpenAPI document is valid, documents every route the extension serves, and is what the
other server tests validate each JSON response against (``checked``)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from tornado.httpclient import HTTPResponse

import jupyter_regauth.server
from jupyter_regauth.server.app import RegAuthApp

SPEC_PATH = Path(jupyter_regauth.server.__file__).parent / "openapi.yaml"
PREFIX = ("regauth", "api")
Fetch = Callable[..., Awaitable[HTTPResponse]]


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return data


def _operation(method: str, path: str) -> dict[str, Any]:
    for template, item in spec()["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in item:
            operation: dict[str, Any] = item[method.lower()]
            return operation
    raise AssertionError(f"{method} {path} is not documented")


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    """The JSON schema documented for this answer, with the components it refers to."""
    responses = _operation(method, path)["responses"]
    response = responses.get(str(status)) or responses.get("default")
    assert response is not None, f"{method} {path} does not document status {status}"
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    # Refs like "#/components/schemas/X" resolve against this root.
    return {"components": spec()["components"], "allOf": [schema]}


def check(method: str, path: str, status: int, body: Any) -> None:
    Draft202012Validator(response_schema(method, path, status)).validate(body)


def check_named(name: str, body: Any) -> None:
    """Validate ``body`` against ``components.schemas[name]``."""
    schema = {"components": spec()["components"], "$ref": f"#/components/schemas/{name}"}
    Draft202012Validator(schema).validate(body)


async def checked(
    jp_fetch: Fetch,
    method: str,
    *path: str,
    body: Any = None,
    expect: int = 200,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    """Call the API, assert the status, validate the JSON answer against the document."""
    response = await jp_fetch(
        *PREFIX,
        *path,
        method=method,
        body=None if body is None and method in ("GET", "DELETE") else json.dumps(body or {}),
        headers=headers or {},
        params=params or {},
        raise_error=False,
        allow_nonstandard_methods=True,
    )
    data = json.loads(response.body)
    assert response.code == expect, (response.code, data)
    assert response.headers["Content-Type"].startswith("application/json")
    check(method, "/" + "/".join(path), response.code, data)
    return data


def test_document_is_valid_openapi_31() -> None:
    assert spec()["openapi"].startswith("3.1")
    validate(spec())


def test_every_route_is_documented() -> None:
    app = RegAuthApp()
    app.initialize_handlers()
    documented = {re.sub(r"\{[^}]+\}", "{}", p) for p in spec()["paths"]}
    served = set()
    for pattern, handler in app.handlers:
        path = re.sub(r"\(\?P<[^>]+>[^)]+\)", "{}", pattern).removeprefix("/regauth/api")
        served.add(path)
        for method in ("get", "post", "delete"):
            if method.upper() in handler.SUPPORTED_METHODS and _implements(handler, method):
                _operation(method, re.sub(r"\{\}", "x" * 32, path))
    assert served == documented


def _implements(handler: type, method: str) -> bool:
    from tornado.web import RequestHandler

    return getattr(handler, method) is not getattr(RequestHandler, method)
