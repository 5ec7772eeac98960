"""jupyter-regauth: make a private container registry just work from a notebook."""

from __future__ import annotations

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-regauth"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .server.app import RegAuthApp

    return [{"module": "jupyter_regauth", "app": RegAuthApp}]
