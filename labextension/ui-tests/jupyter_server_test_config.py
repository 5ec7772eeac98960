"""Jupyter Server configuration for the browser tests (started by playwright.config.ts).

Isolated: HOME, DOCKER_CONFIG and XDG_CONFIG_HOME point into the run's directory (set by
scripts/ui-test), so the registry under test is trusted and logged in only through the panel.
"""

import os
import tempfile
from pathlib import Path

import jupyterlab
from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821 (provided by the config loader)
configure_jupyter_server(c)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.get("REGAUTH_UI_PORT", "8888"))
# Galata turns XSRF checks off (its own Node-side file helpers send no XSRF token); the server
# tests check that the API refuses requests without one.
c.ServerApp.jpserver_extensions = {"jupyter_regauth": True}
c.ServerApp.allow_root = True

# The built extension, from the working tree, whether or not the package is installed.
built = Path(__file__).resolve().parents[2] / "jupyter_regauth" / "labextension"
links = Path(tempfile.mkdtemp(prefix="regauth-labextensions-"))
(links / "jupyter-regauth").symlink_to(built)
c.LabServerApp.extra_labextensions_path = [
    str(Path(jupyterlab.__file__).parent / "galata"),
    str(links),
]
