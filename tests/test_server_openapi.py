"""The OpenAPI document is valid, documents every route the extension serves, and is what the
other server tests validate each JSON response against (``checked``)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
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


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        resolved: dict[str, Any] = spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return resolved
    return schema


def _request_bodies() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, schema) of each documented JSON request body; a oneOf's variants apart."""
    found = []
    for template, item in spec()["paths"].items():
        path = template.replace("{host}", "r.example")
        for method, operation in item.items():
            if method in ("get", "post", "delete") and "requestBody" in operation:
                schema = _resolve(operation["requestBody"]["content"]["application/json"]["schema"])
                for variant in schema.get("oneOf", [schema]):
                    found.append((method.upper(), path, _resolve(variant)))
    return found


BODIES = _request_bodies()
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", list: "array", dict: "object"}


def _ids(bodies: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [f"{m} {p} {s['properties'].get('kind', {}).get('const', '')}" for m, p, s in bodies]


def _wrong_value(schema: dict[str, Any]) -> Any:
    """A value of a JSON type that ``schema`` does not allow."""
    values = [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]
    types = schema.get("type", [])
    allowed = {types} if isinstance(types, str) else set(types)
    allowed |= {"null" if v is None else JSON_TYPES[type(v)] for v in values}
    return next(v for v in (5, "text", True, [], {}) if JSON_TYPES[type(v)] not in allowed)


def _kind(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema["properties"].get("kind")
    return {"kind": kind["const"]} if kind else {}


@pytest.fixture
def jp_server_config(docker_config: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
        "RegAuthApp": {"docker_config_dir": str(docker_config)},
    }


@pytest.mark.parametrize(("method", "path", "schema"), BODIES, ids=_ids(BODIES))
async def test_request_bodies_are_checked_as_documented(
    jp_fetch: Fetch, method: str, path: str, schema: dict[str, Any]
) -> None:
    """Each documented field is known and typed, each required one required, no other taken."""
    parts = path.strip("/").split("/")
    assert schema.get("additionalProperties") is False
    error = await checked(jp_fetch, method, *parts, body={**_kind(schema), "zz": 1}, expect=400)
    assert error["message"] == "unknown field(s): zz"
    for name, field in schema["properties"].items():
        if name == "kind":
            continue
        body = {**_kind(schema), name: _wrong_value(field)}
        error = await checked(jp_fetch, method, *parts, body=body, expect=400)
        assert error["message"].startswith(f"field {name!r} must be "), error
    required = [name for name in schema.get("required", []) if name != "kind"]
    if required:
        error = await checked(jp_fetch, method, *parts, body=_kind(schema), expect=400)
        assert error["message"] == f"missing field(s): {', '.join(required)}"
