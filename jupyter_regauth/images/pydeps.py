"""The Python dependencies layer: wheels for the image's platform and Python, installed once.

pip installs into a directory (``--target``) for an interpreter and platform other than the one
running it (``--python-version``, ``--platform``, ``--only-binary=:all:``), so no package code
runs and nothing is compiled. The tree is cached under a digest of everything that determines it
(the requirements text, version, platform, pip options and pip's version): an unchanged spec
re-uses it without pip, its layer then hits the diff_id cache, and a re-push sends nothing.
Files a requirements file points to (``-r``, ``-c``, local paths) are not part of the digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..fileio import cache_root
from .errors import BuildSpecError, ImageError
from .manifest import Platform, canonical_json, config_env
from .progress import ProgressCallback, ProgressEvent, emit
from .spec import BuildSpec, LayerSpec, PythonSpec, major_minor, mask_url

if TYPE_CHECKING:
    from .build import BaseImage

log = logging.getLogger(__name__)

_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
_STDERR_LINES = 12
_POLL_SECONDS = 0.5
_STOP_SECONDS = 5.0
STEP = "python dependencies"  # the progress step of the install
_TREE = "site-packages"  # its name shows in the image history as COPY site-packages DEST


class PipInstallError(ImageError):
    """pip could not install a build spec's Python dependencies."""

    code = "pip_install_failed"


def with_python(
    spec: BuildSpec, base: BaseImage, progress: ProgressCallback | None = None
) -> BuildSpec:
    """``spec`` with its ``python`` section installed and turned into its first layer, and
    ``dest`` put first on PYTHONPATH; ``spec`` itself when it has none. ``progress`` hears of
    the install as the step :data:`STEP`, and may stop it by raising."""
    py = spec.python
    if py is None:
        return spec
    base_env = config_env(base.config)
    version = py.version or major_minor(base_env.get("PYTHON_VERSION", ""))
    if version is None:
        raise BuildSpecError(
            "The Python version to install dependencies for is not known: python.version is not "
            "set and the base image has no PYTHON_VERSION",
            hint='set python.version, e.g. version: "3.11"',
        )
    tree = install(py, version, spec.platform, progress)
    if "PYTHONPATH" in spec.env:
        current = spec.env["PYTHONPATH"]
    else:  # the base's value is literal text: it stays so when the spec's env is expanded
        current = base_env.get("PYTHONPATH", "").replace("$", "\\$")
    path = [py.dest, *(p for p in current.split(":") if p and p != py.dest)]
    return replace(
        spec,
        layers=(LayerSpec(str(tree), py.dest), *spec.layers),
        env={**spec.env, "PYTHONPATH": ":".join(path)},
        python=None,
    )


def platform_tags(platform: Platform) -> list[str]:
    """pip ``--platform`` tags for wheels that run on ``platform`` (glibc 2.28 or newer)."""
    arch = _ARCH.get(platform.architecture) if platform.os == "linux" else None
    if arch is None:
        raise BuildSpecError(
            f"Python dependencies cannot be installed for platform {platform}",
            hint="use linux/amd64 or linux/arm64, or install them in a base image",
        )
    legacy = ["manylinux2014", *(["manylinux2010", "manylinux1"] if arch == "x86_64" else [])]
    glibc = [f"manylinux_2_{minor}" for minor in range(28, 16, -1)]
    return [f"{tag}_{arch}" for tag in (*glibc, *legacy, "linux")]


def install(
    py: PythonSpec, version: str, platform: Platform, progress: ProgressCallback | None = None
) -> Path:
    """The directory holding ``py``'s packages for ``version`` on ``platform`` (cached)."""
    requirements = _requirements_text(py)
    options = [
        *("--only-binary=:all:", "--implementation", "cp", "--python-version", version),
        *(arg for tag in platform_tags(platform) for arg in ("--platform", tag)),
        *(["--index-url", py.index_url] if py.index_url else []),
        *(arg for url in py.extra_index_urls for arg in ("--extra-index-url", url)),
        *(arg for link in py.find_links for arg in ("--find-links", link)),
        *(["--no-index"] if py.no_index else []),
    ]
    key = hashlib.sha256(
        canonical_json([requirements, version, str(platform), options, _pip_version()])
    ).hexdigest()
    root = cache_root() / "python-deps"
    final = root / key
    if final.is_dir():
        emit(progress, ProgressEvent("step", STEP, "exists", message="installed before"))
        return final / _TREE
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".tmp-") as tmp:
        req_file = Path(tmp) / "requirements.txt"
        req_file.write_text(requirements)
        entry = Path(tmp) / "entry"
        tree = entry / _TREE
        tree.mkdir(parents=True)
        running = ProgressEvent("step", STEP, "running", message=f"for Python {version}")
        emit(progress, running)
        try:
            _pip(
                [
                    *("install", "--target", str(tree), "--no-compile", "--no-input"),
                    *("--no-warn-script-location", "--disable-pip-version-check", *options),
                    *("-r", str(req_file)),
                ],
                cwd=Path(py.requirements_file).parent if py.requirements_file else None,
                still_wanted=lambda: emit(progress, running),
            )
        except PipInstallError:
            emit(progress, ProgressEvent("step", STEP, "error"))
            raise
        # Console scripts start with this machine's interpreter path: useless in the image.
        shutil.rmtree(tree / "bin", ignore_errors=True)
        try:
            entry.rename(final)
        except OSError:
            if not final.is_dir():  # else a concurrent build finished the same tree first
                raise
    emit(progress, ProgressEvent("step", STEP, "done"))
    return final / _TREE


def _requirements_text(py: PythonSpec) -> str:
    if py.requirements_file is None:
        return "".join(f"{r}\n" for r in py.requirements)
    try:
        return Path(py.requirements_file).read_text()
    except OSError as exc:
        raise BuildSpecError(
            f"Cannot read python.requirements {py.requirements_file}: {exc.strerror}",
            hint="the path is relative to the build spec's directory",
        ) from None


# pydeps is imported by every build, most without Python dependencies: importlib.metadata and
# subprocess, slow to import, are imported where used.
def _pip_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pip")
    except metadata.PackageNotFoundError:
        raise ImageError(
            "pip is not installed in this Python environment",
            hint=f"install it: {sys.executable} -m ensurepip",
        ) from None


def _pip(args: list[str], cwd: Path | None, still_wanted: Callable[[], None]) -> None:
    """Run pip, calling ``still_wanted`` every half second: if it raises (the build was
    cancelled), pip is stopped and the exception goes on."""
    import subprocess

    cmd = [sys.executable, "-m", "pip", *args]
    log.info("installing Python dependencies: %s", mask_url(shlex.join(cmd)))
    env = {**os.environ, "PIP_REQUIRE_VIRTUALENV": "0"}  # --target needs no virtualenv
    # Output to a file, not a pipe, which pip could fill while no one reads it.
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env, text=True
        )
        try:
            while proc.poll() is None:
                still_wanted()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(_POLL_SECONDS)
        except BaseException:
            proc.terminate()
            try:
                proc.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        if proc.returncode != 0:
            output.seek(0)
            tail = "\n".join(output.read().strip().splitlines()[-_STDERR_LINES:])
            raise PipInstallError(
                f"pip could not install the Python dependencies:\n{mask_url(tail)}",
                hint="check python.requirements, python.version and the index options",
            )
