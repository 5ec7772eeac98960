"""jupyter-regauth: make a private container registry just work from a notebook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nbwidget import RegAuthWidget
    from .service import RegAuth

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-regauth"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .server.app import RegAuthApp

    return [{"module": "jupyter_regauth", "app": RegAuthApp}]


# Front ends are imported when used, so importing the package stays cheap.
def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jupyter_regauth``: the ``%regauth`` magics."""
    from .magics import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(shell)


def widget(service: RegAuth | None = None, registry: str | None = None) -> RegAuthWidget:
    """The notebook widget: registry picker, login, status, build and push."""
    # The module is not called ``widget``: importing it would replace this function.
    from .nbwidget import widget as make

    return make(service, registry)
