"""The Python dependencies layer: wheels installed by pip for the image's platform and Python,
cached so an unchanged spec runs no pip, pushed once."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_regauth.images import media
from jupyter_regauth.images.build import build
from jupyter_regauth.images.errors import BuildSpecError
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.manifest import Document, Platform, new_image_manifest
from jupyter_regauth.images.progress import ProgressEvent
from jupyter_regauth.images.pydeps import STEP, PipInstallError
from jupyter_regauth.images.spec import BuildSpec
from tests.conftest import Registry, logged_in_to, processes_with
from tests.test_push import blob_writes, log_size

DEPS = "opt/regauth/python/tinydep/__init__.py"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding tinydep-0.1, a pure-Python wheel built here by pip and hatchling."""
    root = tmp_path_factory.mktemp("tinydep")
    project = root / "project"
    (project / "tinydep").mkdir(parents=True)
    (project / "tinydep" / "__init__.py").write_text("VALUE = 42\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "tinydep"\nversion = "0.1"\n'
    )
    out = root / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(project)],
        check=True,
        timeout=120,
    )
    return out


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "jupyter-regauth" / "python-deps"


@pytest.fixture
def pip_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command of every pip run (pip still runs for real)."""
    runs: list[list[str]] = []

    class Spy(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, cmd: list[str], *args: Any, **kwargs: Any) -> None:
            if cmd[1:3] == ["-m", "pip"]:
                runs.append(cmd)
            super().__init__(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Spy)
    return runs


def _spec(wheels: Path, base: str | None = None, **python: object) -> BuildSpec:
    return BuildSpec.from_dict(
        {
            "base": base,
            "tag": "v1",
            "layers": [{"src": "model", "dest": "/model"}],
            "python": {
                "requirements": ["tinydep==0.1"],
                "no_index": True,
                "find_links": [str(wheels)],
                **python,
            },
        },
        base_dir=Path.cwd(),
    )


def _files(layout: OCILayout, digest: str) -> dict[str, bytes]:
    with tarfile.open(layout.blob_path(digest), "r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _env(built_config: bytes) -> dict[str, str]:
    env = json.loads(built_config)["config"]["Env"]
    return dict(item.partition("=")[::2] for item in env)


def test_layout_build_installs_once_and_reuses(
    wheels: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pip_runs: list[list[str]],
    cache_home: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"weights")
    spec = _spec(wheels, version="3.11")
    out = tmp_path / "out"

    built = build(spec, out)
    assert len(pip_runs) == 1
    cmd = pip_runs[0]
    assert cmd[cmd.index("--python-version") + 1] == "3.11"
    assert "manylinux2014_x86_64" in cmd and "--only-binary=:all:" in cmd
    layout = OCILayout.open(out)
    deps, model = (d.digest for d in layout.read_manifest("v1").layers())
    assert _files(layout, deps)[DEPS] == b"VALUE = 42\n"  # first: a model change keeps it
    assert set(_files(layout, model)) == {"model/w.bin"}
    assert _env(built.config)["PYTHONPATH"] == "/opt/regauth/python"
    history = [h["created_by"] for h in json.loads(built.config)["history"]]
    assert history[0] == "COPY site-packages /opt/regauth/python"
    (entry,) = cache_home.iterdir()
    assert (entry / "site-packages" / "tinydep" / "__init__.py").is_file()

    again = build(spec, out)
    assert again.reused and again.manifest_digest == built.manifest_digest
    assert len(pip_runs) == 1  # the cached tree, no pip

    (tmp_path / "model" / "w.bin").write_bytes(b"new weights")
    changed = build(spec, out)
    assert not changed.reused and len(pip_runs) == 1
    assert OCILayout.open(out).read_manifest("v1").layers()[0].digest == deps

    build(_spec(wheels, version="3.12"), out)  # another Python: another install
    assert len(pip_runs) == 2 and len(list(cache_home.iterdir())) == 2


def test_version_and_pythonpath_from_the_base_image(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pip_runs: list[list[str]]
) -> None:
    base = OCILayout.create(tmp_path / "base")
    config = Document.build(
        media.OCI_CONFIG,
        Platform().to_dict()
        | {
            "config": {"Env": ["PATH=/usr/bin", "PYTHON_VERSION=3.11.9", "PYTHONPATH=/srv/$lib"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        },
    )
    base.write_blob(config.raw)
    base.put_manifest(new_image_manifest(config.descriptor(), []), "py")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()

    built = build(_spec(wheels, base=f"oci:{base.root}:py"), tmp_path / "out")
    cmd = pip_runs[0]
    assert cmd[cmd.index("--python-version") + 1] == "3.11"
    # The base's value is kept as it is: its $ is not a variable of the spec's env.
    assert _env(built.config)["PYTHONPATH"] == "/opt/regauth/python:/srv/$lib"
    assert _env(built.config)["PYTHON_VERSION"] == "3.11.9"


def test_unknown_version_and_pip_failure_are_explained(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_home: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    with pytest.raises(BuildSpecError) as no_version:
        build(_spec(wheels), tmp_path / "out")
    assert "python.version" in no_version.value.message + (no_version.value.hint or "")

    missing = _spec(wheels, version="3.11", requirements=["nosuchdep==1.0"])
    with pytest.raises(PipInstallError) as failed:
        build(missing, tmp_path / "out")
    assert "nosuchdep==1.0" in failed.value.message
    assert list(cache_home.iterdir()) == []  # nothing half-written is kept


def test_index_credentials_are_masked(
    wheels: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIP_RETRIES", "0")
    (tmp_path / "model").mkdir()
    secret = "s3cret-index-pass"
    url = f"http://alice:{secret}@127.0.0.1:9/simple"  # nothing listens there
    spec = _spec(wheels, version="3.11", no_index=False, index_url=url, find_links=[])
    assert secret not in repr(spec)
    with pytest.raises(PipInstallError) as failed:
        build(spec, tmp_path / "out")
    assert secret not in f"{failed.value.message} {failed.value.hint}"
    assert secret not in caplog.text and "http://***@127.0.0.1:9/simple" in caplog.text


@pytest.mark.parametrize(
    ("python", "words"),
    [
        ("requirements.txt", "python must be a mapping"),
        ({"requirements": ["a"], "pip": 1}, "unknown key(s) pip"),
        ({}, "python.requirements"),
        ({"requirements": ["a"], "version": 3.10}, "python.version"),
        ({"requirements": ["a"], "dest": "opt"}, "python.dest"),
        ({"requirements": ["a"], "find_links": "w"}, "python.find_links"),
        ({"requirements": ["a"], "no_index": "yes"}, "python.no_index"),
    ],
)
def test_bad_python_section(python: object, words: str) -> None:
    with pytest.raises(BuildSpecError) as err:
        BuildSpec.from_dict({"python": python})
    assert words in err.value.message


def test_requirements_file_relative_to_the_spec(
    wheels: Path, tmp_path: Path, pip_runs: list[list[str]]
) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "requirements.txt").write_text("tinydep==0.1\n")
    spec_file = tmp_path / "ctx" / "spec.yaml"
    spec_file.write_text(
        f'python: {{requirements: requirements.txt, version: "3.11", no_index: true, '
        f"find_links: [{wheels}]}}\n"
    )
    built = build(BuildSpec.load(spec_file), tmp_path / "out")
    layout = OCILayout.open(tmp_path / "out")
    (layer,) = layout.read_manifest("latest").layers()
    assert DEPS in _files(layout, layer.digest) and len(built.layers) == 1

    (tmp_path / "ctx" / "requirements.txt").unlink()
    with pytest.raises(BuildSpecError, match=r"Cannot read python\.requirements"):
        build(BuildSpec.load(spec_file), tmp_path / "out2")


def test_push_then_repush_uploads_nothing(
    wheels: Path,
    basic_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pip_runs: list[list[str]],
) -> None:
    service = logged_in_to(basic_registry)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"weights")
    ref = f"{basic_registry.host}/team/pydeps:v1"

    first = service.build_push(_spec(wheels, version="3.11"), ref)
    assert first.uploaded == 3 and len(pip_runs) == 1  # two layers and the config

    mark = log_size(basic_registry.server)
    again = service.build_push(_spec(wheels, version="3.11"), ref)
    assert again.unchanged and again.digest == first.digest
    assert blob_writes(basic_registry.server, mark) == [] and len(pip_runs) == 1


def test_platform_tags() -> None:
    from jupyter_regauth.images.pydeps import platform_tags

    arm = platform_tags(Platform("linux", "arm64", "v8"))
    assert "manylinux2014_aarch64" in arm and "linux_aarch64" in arm
    assert all(tag.endswith("_aarch64") for tag in arm)
    with pytest.raises(BuildSpecError, match="windows/amd64"):
        platform_tags(Platform("windows", "amd64"))


def test_a_cancelled_install_stops_pip(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_index: str
) -> None:
    """A build cancelled while pip waits on a slow index stops within a second, pip with it,
    and leaves nothing in the cache; until then the step is reported running."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    spec = _spec(wheels, version="3.11", no_index=False, index_url=silent_index, find_links=[])
    seen: list[ProgressEvent] = []

    class Cancelled(Exception):
        pass

    def progress(event: ProgressEvent) -> None:
        seen.append(event)
        if len(seen) == 4:  # pip has been waiting for about a second
            assert processes_with(silent_index), "pip is running"
            raise Cancelled

    started = time.monotonic()
    with pytest.raises(Cancelled):
        build(spec, tmp_path / "out", progress=progress)
    assert time.monotonic() - started < 10
    assert {(e.kind, e.id, e.state) for e in seen} == {("step", STEP, "running")}
    assert processes_with(silent_index) == []
    cache = tmp_path / "cache" / "jupyter-regauth" / "python-deps"
    assert list(cache.iterdir()) == []


def test_the_install_is_reported_as_a_step(
    wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    for expected in (["running", "done"], ["exists"]):
        seen: list[ProgressEvent] = []
        build(_spec(wheels, version="3.11"), tmp_path / "out", progress=seen.append)
        states = [e.state for e in seen if e.kind == "step" and e.id == STEP]
        assert list(dict.fromkeys(states)) == expected  # "running" repeats while pip runs
