"""skopeo reads what ``regauth login`` wrote: our config.json and our certs.d are all it needs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .cli_helpers import regauth
from .conftest import Registry
from .fabricate import oci_image


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "XDG_RUNTIME_DIR": os.environ["XDG_RUNTIME_DIR"]},
    )


def test_skopeo_uses_our_login(
    basic_registry: Registry, docker_config: Path, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    digest = oci_image(layout, "v1", {"model/weights.bin": b"\x00" * 1024})
    # Before login skopeo is refused (and does not trust the CA).
    target = f"docker://{basic_registry.host}/team/model:v1"
    before = skopeo("copy", f"oci:{layout}:v1", target)
    assert before.returncode != 0
    login = regauth(
        "login",
        basic_registry.host,
        "-u",
        "alice",
        "--password-stdin",
        "--ca-file",
        str(basic_registry.ca_file),
        stdin=basic_registry.password,
    )
    assert login.code == 0, login.stderr
    # Only what login wrote: $HOME/.docker/config.json and $HOME/.config/containers/certs.d.
    copied = skopeo("copy", f"oci:{layout}:v1", target)
    assert copied.returncode == 0, copied.stderr
    inspected = skopeo("inspect", "--raw", target)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["layers"][0]["size"] > 0
    # And our client sees the same image with the same digest.
    assert regauth("tags", f"{basic_registry.host}/team/model", "--json").json() == ["v1"]
    info = regauth("inspect", f"{basic_registry.host}/team/model:v1", "--json").json()
    assert info["digest"] == digest
    assert info["config"]["architecture"] == "amd64"
    assert "team/model" in regauth("catalog", basic_registry.host, "--json").json()


def test_skopeo_uses_our_identity_token(
    token_registry: Registry, docker_config: Path, tmp_path: Path
) -> None:
    """After a token login only a refresh token is stored; skopeo trades it for access tokens."""
    layout = tmp_path / "layout"
    digest = oci_image(layout, "v1", {"model/config.json": b"{}"})
    login = regauth(
        "login",
        token_registry.host,
        "-u",
        "carol",
        "--password-stdin",
        "--ca-file",
        str(token_registry.ca_file),
        stdin=token_registry.password,
    )
    assert login.code == 0, login.stderr
    target = f"docker://{token_registry.host}/carol/model:v1"
    copied = skopeo("copy", f"oci:{layout}:v1", target)
    assert copied.returncode == 0, copied.stderr
    info = regauth("inspect", f"{token_registry.host}/carol/model:v1", "--json").json()
    assert info["digest"] == digest
    grants = [r.get("grant_type") for r in token_registry.extra["issuer"].requests]  # type: ignore[attr-defined]
    assert "refresh_token" in grants
