"""The demo: a local TLS registry with a fresh CA and a demo user, and JupyterLab configured for it.

python -m jupyter_regauth.testing.demo [--port 5443] [--no-lab] [--info-file PATH]
    [-- jupyter lab options]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .pki import make_ca
from .registry import LocalRegistry, free_port


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Other options go to jupyter lab (--no-browser, --ServerApp.port=8890); "
        "--port is the registry's.",
        allow_abbrev=False,  # --no-b is jupyter lab's --no-browser cut short, not --no-lab
    )
    parser.add_argument("--port", type=int, default=0, help="registry port (default: a free one)")
    parser.add_argument("--workdir", type=Path, help="where the registry keeps its data")
    parser.add_argument(
        "--no-lab", action="store_true", help="only run the registry (until interrupted)"
    )
    parser.add_argument(
        "--info-file",
        type=Path,
        help="once the registry answers, write its host, CA, profiles file, username and "
        "password file here as JSON (for scripts such as binder/start)",
    )
    parser.add_argument("lab_args", nargs="*", help="extra arguments for jupyter lab")
    args, lab_options = parser.parse_known_args(argv)
    args.lab_args = [*lab_options, *args.lab_args]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="regauth-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ca = make_ca("jupyter-regauth demo CA")
    ca_file = workdir / "demo-ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    password = secrets.token_urlsafe(12)  # a throwaway made for this run only
    registry = LocalRegistry(
        workdir / "registry", ca=ca, users={"demo": password}, port=args.port or free_port()
    )
    registries_file = workdir / "registries.json"
    registries_file.write_text(
        json.dumps(
            {
                "registries": [
                    {
                        "host": registry.host,
                        "display_name": "Demo registry",
                        "description": "A local distribution registry with a private CA",
                        "ca_file": str(ca_file),
                        "username": "demo",
                    }
                ]
            },
            indent=2,
        )
    )
    with registry:
        if args.info_file:
            _write_info(args.info_file, registry.host, ca_file, registries_file, password, workdir)
        print(
            "\n".join(
                [
                    "jupyter-regauth demo registry",
                    f"  address:  https://{registry.host}",
                    "  username: demo",
                    f"  password: {password}",
                    f"  CA:       {ca_file}",
                    f"  profiles: {registries_file}",
                    "",
                ]
            ),
            flush=True,
        )
        if args.no_lab:
            # Blocked first, so the signal ends the wait and the registry is stopped on the way
            # out, rather than the default action killing this process and orphaning it.
            stop = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            signal.sigwait(stop)
            return 0
        env = {**os.environ, "REGAUTH_REGISTRIES_FILE": str(registries_file)}
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ServerApp.ip=127.0.0.1",
            f"--RegistryProfiles.registries_file={registries_file}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # e.g. in a container as root
            *args.lab_args,
        ]
        lab = subprocess.Popen(command, env=env)
        # A SIGTERM to this process alone (kill PID) is passed on to JupyterLab, whose exit ends
        # the wait: the default action would end this process and leave both of them running.
        signal.signal(signal.SIGTERM, lambda *_: lab.terminate())
        try:
            return lab.wait()
        except KeyboardInterrupt:
            lab.send_signal(signal.SIGINT)
            return lab.wait()


def _write_info(
    path: Path, host: str, ca_file: Path, registries_file: Path, password: str, workdir: Path
) -> None:
    """Written last and renamed into place, so a reader polling for it never sees half of it."""
    password_file = workdir / "demo-password"
    password_file.touch(mode=0o600)
    password_file.write_text(password)
    info = {
        "host": host,
        "ca_file": str(ca_file),
        "registries_file": str(registries_file),
        "username": "demo",
        "password_file": str(password_file),
    }
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(info, indent=2) + "\n")
    partial.rename(path)


if __name__ == "__main__":
    sys.exit(main())
