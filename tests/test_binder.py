"""``binder/start`` launches the demo registry and hands over to the command it is given: run here
with a command that checks the registry answers (reachable and trusted through the profile the
script exported) and that the server extension is enabled; and the demo, stopped, stops what it
started."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_regauth.testing.demo import parse_args

ROOT = Path(__file__).resolve().parent.parent
MARK = "----extensions----"


def test_jupyter_lab_options_pass_through_the_demo() -> None:
    """``bash scripts/demo --no-browser`` as one would start jupyter lab; --port stays the
    registry's."""
    args = parse_args(["--no-browser", "--port", "5000", "--ServerApp.port=8890", "--no-b"])
    assert args.port == 5000 and not args.no_lab
    assert args.lab_args == ["--no-browser", "--ServerApp.port=8890", "--no-b"]


def test_start_runs_the_demo_and_the_command(tmp_path: Path) -> None:
    # What `pip install .` (postBuild) puts in etc/jupyter, placed in this home's config here.
    home = tmp_path / "home"
    shutil.copytree(
        ROOT / "jupyter-config" / "server-config", home / ".jupyter" / "jupyter_server_config.d"
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "REGAUTH_DEMO_DIR": str(tmp_path / "demo"),
        "PYTHONPATH": str(ROOT),
        "DOCKER_CONFIG": str(home / ".docker"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("REGAUTH_REGISTRIES_FILE", None)
    env.pop("REGAUTH_CERTS_D", None)
    check = (
        f'echo "$REGAUTH_REGISTRIES_FILE"; {sys.executable} -m jupyter_regauth.cli ls --json; '
        f"echo {MARK}; {sys.executable} -m jupyter server extension list 2>&1"
    )
    proc = subprocess.Popen(
        [str(ROOT / "binder" / "start"), "bash", "-c", check],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the demo stays behind the command: stopped below as a group
    )
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        _stop_group(proc.pid)
    assert proc.returncode == 0, err

    info = json.loads((tmp_path / "demo" / "info.json").read_text())
    registries_file, rest = out.split("\n", 1)
    assert registries_file == info["registries_file"]
    listing, extensions = rest.split(MARK)
    (demo,) = json.loads(listing)
    assert demo["host"] == info["host"]
    assert (demo["source"], demo["reachable"], demo["trusted"]) == ("admin", True, True)
    assert demo["auth_scheme"] == "basic"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", extensions)
    assert re.search(r"^\s*jupyter_regauth enabled$", plain, re.M), plain
    assert re.search(r"^\s*jupyter_regauth \S+ OK$", plain, re.M), "the extension imports"
    password = Path(info["password_file"]).read_text()
    assert password not in out


def _stop_group(pgid: int) -> None:
    """SIGTERM the session started above (the demo stops its registry), then wait for it."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pgid, signal.SIGKILL)
    raise AssertionError("the demo did not stop on SIGTERM")


def test_the_demo_stopped_by_sigterm_stops_jupyterlab_and_the_registry(tmp_path: Path) -> None:
    """A SIGTERM to the demo alone (``kill PID``, or a service manager stopping it)."""
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    info = tmp_path / "info.json"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_regauth.testing.demo",
            "--workdir",
            str(tmp_path / "d"),
            "--info-file",
            str(info),
            "--",
            "--no-browser",
            "--ServerApp.port=0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(
            (tmp_path / "runtime").glob("jpserver-*.json")
        ):
            assert demo.poll() is None, "the demo exited early"
            time.sleep(0.2)
        children = _children(demo.pid)
        assert len(children) == 2  # the registry and JupyterLab
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in children)
    finally:
        _stop_group(demo.pid)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
