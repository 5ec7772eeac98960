"""The wheel installs a working JupyterLab extension and server extension.

Builds the wheel the way ``pip install .`` does (isolated build env, the hatch-jupyter-builder hook
running ``jlpm install`` and ``jlpm build:prod``; skipped when the labextension is already built),
installs it into a fresh virtual environment and asks Jupyter's own tools what they see there
(``python -m`` runs what ``jupyter labextension`` and ``jupyter server extension`` run, with the
venv's interpreter, whatever other ``jupyter-*`` scripts PATH holds).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import jupyter_regauth

ROOT = Path(__file__).resolve().parents[1]
DATA = f"jupyter_regauth-{jupyter_regauth.__version__}.data/data"
LABEXT = f"{DATA}/share/jupyter/labextensions/jupyter-regauth"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Installed:
    wheel: Path
    prefix: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        return _run([str(self.prefix / "bin" / args[0]), *args[1:]], env=self.env, cwd=self.prefix)


def _run(cmd: list[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    output = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, f"{cmd[:3]} exited {done.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    wheels = tmp_path_factory.mktemp("wheels")
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(wheels)])
    (wheel,) = wheels.glob("jupyter_regauth-*.whl")

    prefix = tmp_path_factory.mktemp("venv")
    # System site-packages supply jupyterlab and jupyter_server; only our wheel goes in the venv.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(prefix)
    jupyter_home = tmp_path_factory.mktemp("jupyter-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER"))}
    # Keep per-user Jupyter config and data out of the picture: only the venv's prefix counts.
    env |= {
        "JUPYTER_CONFIG_DIR": str(jupyter_home / "config"),
        "JUPYTER_DATA_DIR": str(jupyter_home / "data"),
        "PATH": f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    }
    installed = Installed(wheel, prefix, env)
    installed.run("python", "-m", "pip", "install", "--no-deps", "--ignore-installed", str(wheel))
    return installed


def test_wheel_ships_labextension_and_server_config(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        package = json.loads(wheel.read(f"{LABEXT}/package.json"))
        install = json.loads(wheel.read(f"{LABEXT}/install.json"))
        server_config = json.loads(
            wheel.read(f"{DATA}/etc/jupyter/jupyter_server_config.d/jupyter_regauth.json")
        )
    assert {
        f"{LABEXT}/static/style.js",
        f"{LABEXT}/schemas/jupyter-regauth/plugin.json",
        "jupyter_regauth/server/app.py",
    } <= names
    assert package["name"] == "jupyter-regauth"
    assert package["version"] == jupyter_regauth.__version__
    assert f"{LABEXT}/{package['jupyterlab']['_build']['load']}" in names
    assert install["packageManager"] == "python"
    assert install["packageName"] == "jupyter-regauth"
    assert server_config == {"ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}}}
    # Shipped once, as shared-data; not a second copy inside the package.
    assert not any(name.startswith("jupyter_regauth/labextension/") for name in names)


def test_package_is_imported_from_the_venv(installed: Installed) -> None:
    out = installed.run("python", "-c", "import jupyter_regauth; print(jupyter_regauth.__file__)")
    assert Path(out.strip()).resolve().is_relative_to(installed.prefix.resolve())


def test_labextension_is_enabled_and_ok(installed: Installed) -> None:
    out = installed.run("python", "-m", "jupyterlab.labextensions", "list")
    labextensions = installed.prefix / "share" / "jupyter" / "labextensions"
    assert str(labextensions) in out, out
    version = re.escape(jupyter_regauth.__version__)
    line = rf"^\s*jupyter-regauth v{version} enabled OK \(python, jupyter-regauth\)$"
    assert re.search(line, out, re.MULTILINE), out


def test_server_extension_is_enabled_and_ok(installed: Installed) -> None:
    out = installed.run("python", "-m", "jupyter_server.extension.serverextension", "list")
    assert str(installed.prefix / "etc" / "jupyter") in out, out
    assert re.search(r"^\s*jupyter_regauth enabled$", out, re.MULTILINE), out
    version = re.escape(jupyter_regauth.__version__)
    assert re.search(rf"^\s*jupyter_regauth {version} OK$", out, re.MULTILINE), out
