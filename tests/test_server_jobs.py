"""Image jobs through the API: a push streamed as Server-Sent Events to its digest (read back from
the registry), a copy, a failing job, cancelling, and bad requests refused before starting."""

from __future__ import annotations

import asyncio
import json
import os
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from jupyter_regauth.credentials import DockerConfig
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.profiles import ProfileStore
from jupyter_regauth.registry.client import RegistryClient
from jupyter_regauth.registry.errors import NotFound
from jupyter_regauth.server.jobs import JobManager
from jupyter_regauth.service import RegAuth

from .conftest import PKI, Registry, processes_with
from .fabricate import oci_image
from .test_server_openapi import Fetch, check_named, checked

Message = tuple[int, str, dict[str, Any]]


@pytest.fixture
def jp_server_config(docker_config: Path, basic_registry: Registry, pki: PKI) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_regauth": True}},
        "RegAuthApp": {"docker_config_dir": str(docker_config), "job_workers": 1},
        "RegistryProfiles": {
            "registries": [{"host": basic_registry.host, "ca_file": str(pki.ca_file)}]
        },
    }


async def login(jp_fetch: Fetch, registry: Registry) -> Registry:
    body = {"username": registry.username, "password": registry.password}
    await checked(jp_fetch, "POST", "registries", registry.host, "login", body=body)
    return registry


@pytest.fixture
def model(jp_root_dir: Path) -> Path:
    folder = jp_root_dir / "work" / "model"
    folder.mkdir(parents=True)
    (jp_root_dir / ".hidden").mkdir()  # what the file browser does not show
    (jp_root_dir / ".hidden" / "w.bin").write_bytes(b"w")
    (folder / "weights.bin").write_bytes(os.urandom(1 << 20))
    (folder / "config.json").write_text('{"layers": 2}')
    return folder


def parse_events(text: str) -> list[Message]:
    messages = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if fields:
            messages.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return messages


async def events(jp_fetch: Fetch, job_id: str, **headers: str) -> list[Message]:
    """The job's whole event stream (it ends when the job does), each message validated."""
    response = await jp_fetch("regauth", "api", "jobs", job_id, "events", headers=headers)
    assert response.headers["Content-Type"] == "text/event-stream"
    messages = parse_events(response.body.decode())
    for _, name, data in messages:
        check_named("JobProgress" if name == "progress" else "Job", data)
    return messages


def reader(docker_config: Path, pki: PKI, registry: Registry) -> RegAuth:
    """A core of its own, to read back from the registry what the server pushed."""
    profiles = ProfileStore(registries=[{"host": registry.host, "ca_file": str(pki.ca_file)}])
    return RegAuth(profiles=profiles, docker_config=DockerConfig(docker_config))


async def test_push_streams_progress_to_the_digest(
    jp_fetch: Fetch, basic_registry: Registry, model: Path, pki: PKI, docker_config: Path
) -> None:
    logged_in = await login(jp_fetch, basic_registry)
    target = f"{logged_in.host}/team/model:1"
    job = await checked(
        jp_fetch,
        "POST",
        "jobs",
        body={"kind": "push", "directory": "work/model", "reference": target},
        expect=202,
    )
    assert job["kind"] == "push" and job["state"] in ("queued", "running")
    messages = await events(jp_fetch, job["id"])

    assert [m[0] for m in messages] == list(range(1, len(messages) + 1))
    states = [data["state"] for _, name, data in messages if name == "state"]
    assert states[0] == "queued" and states[-2:] == ["running", "succeeded"]
    progress = [data for _, name, data in messages if name == "progress"]
    layer = [p["event"] for p in progress if p["event"]["kind"] == "layer"]
    assert layer and layer[-1]["state"] == "done"
    assert layer[-1]["bytes_done"] == layer[-1]["bytes_total"] >= 1 << 20
    assert progress[-1]["bytes_done"] == progress[-1]["bytes_total"]

    final = await checked(jp_fetch, "GET", "jobs", job["id"])
    # The layer counts once, by its files' size, though it is also reported as the blob it
    # was compressed into; the config adds its own few bytes.
    config = next(i for i in final["items"] if i["kind"] == "config")
    assert final["bytes_total"] == layer[-1]["bytes_total"] + config["bytes_total"]
    assert final == messages[-1][2]
    digest = final["result"]["digest"]
    assert final["result"]["reference"] == f"{logged_in.host}/team/model@{digest}"
    pushed = reader(docker_config, pki, logged_in).inspect(target)
    assert pushed["digest"] == digest
    assert pushed["manifest"]["layers"][0]["mediaType"].endswith("tar+gzip")

    # Resuming after message 2 replays only what came later.
    resumed = await events(jp_fetch, job["id"], **{"Last-Event-ID": "2"})
    assert resumed == messages[2:]

    listed = await checked(jp_fetch, "GET", "jobs")
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]

    copy = await checked(
        jp_fetch,
        "POST",
        "jobs",
        body={"kind": "copy", "source": target, "destination": f"{logged_in.host}/team/copy:1"},
        expect=202,
    )
    copied = (await events(jp_fetch, copy["id"]))[-1][2]
    assert copied["state"] == "succeeded"
    assert copied["result"]["digest"] == digest

    zstd_target = f"{logged_in.host}/team/model:zstd"
    body = {"kind": "push", "directory": "work/model", "reference": zstd_target}
    zstd = await checked(jp_fetch, "POST", "jobs", body={**body, "compression": "zstd"}, expect=202)
    assert (await events(jp_fetch, zstd["id"]))[-1][2]["state"] == "succeeded"
    pushed = reader(docker_config, pki, logged_in).inspect(zstd_target)
    assert pushed["manifest"]["layers"][0]["mediaType"].endswith("tar+zstd")


async def test_a_pushed_folder_leaves_out_what_its_dockerignore_matches(
    jp_fetch: Fetch,
    basic_registry: Registry,
    jp_root_dir: Path,
    pki: PKI,
    docker_config: Path,
    tmp_path: Path,
) -> None:
    logged_in = await login(jp_fetch, basic_registry)
    folder = jp_root_dir / "ignoring"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "run.log").write_text("noise")
    (folder / ".dockerignore").write_text("*.log\n")
    target = f"{logged_in.host}/team/ignoring:1"
    body = {"kind": "push", "directory": "ignoring", "reference": target}
    job = await checked(jp_fetch, "POST", "jobs", body=body, expect=202)
    assert (await events(jp_fetch, job["id"]))[-1][2]["state"] == "succeeded"

    reader(docker_config, pki, logged_in).pull(target, tmp_path / "layout", oci_layout=True)
    layout = OCILayout.open(tmp_path / "layout")
    (layer,) = layout.read_manifest("1").layers()
    with tarfile.open(layout.blob_path(layer.digest), "r:gz") as tar:
        names = tar.getnames()
    assert "model/weights.bin" in names and "model/.dockerignore" in names
    assert "model/run.log" not in names


async def test_a_push_on_a_layout_base_takes_it_from_the_root(
    jp_fetch: Fetch,
    basic_registry: Registry,
    jp_root_dir: Path,
    model: Path,
    pki: PKI,
    docker_config: Path,
) -> None:
    """``base: oci:PATH:REF`` is relative to the Jupyter root, as the folder is, whatever the
    server's working directory."""
    logged_in = await login(jp_fetch, basic_registry)
    (jp_root_dir / "layouts" / "base").mkdir(parents=True)
    oci_image(jp_root_dir / "layouts" / "base", "v1", {"etc/base.txt": b"base"})
    target = f"{logged_in.host}/team/on-layout:1"
    body = {
        "kind": "push",
        "directory": "work/model",
        "reference": target,
        "base": "oci:layouts/base:v1",
    }
    job = await checked(jp_fetch, "POST", "jobs", body=body, expect=202)
    final = (await events(jp_fetch, job["id"]))[-1][2]
    assert final["state"] == "succeeded", final["error"]
    pushed = reader(docker_config, pki, logged_in).inspect(target)
    assert len(pushed["manifest"]["layers"]) == 2


async def test_cancel_running_and_queued_jobs(
    jp_fetch: Fetch, basic_registry: Registry, jp_root_dir: Path, pki: PKI, docker_config: Path
) -> None:
    await login(jp_fetch, basic_registry)
    big = jp_root_dir / "big"
    big.mkdir()
    for i in range(4):
        (big / f"part-{i}.bin").write_bytes(os.urandom(16 << 20))
    host = basic_registry.host
    running = await checked(
        jp_fetch,
        "POST",
        "jobs",
        body={"kind": "push", "directory": "big", "reference": f"{host}/team/big:1"},
        expect=202,
    )
    queued = await checked(
        jp_fetch,
        "POST",
        "jobs",
        body={"kind": "push", "directory": "big", "reference": f"{host}/team/big:2"},
        expect=202,
    )
    assert queued["state"] == "queued", "one worker: the second job waits"
    cancelled = await checked(jp_fetch, "DELETE", "jobs", queued["id"])
    assert cancelled["state"] == "cancelled"
    for _ in range(500):  # cancel once a layer is under way
        seen = await checked(jp_fetch, "GET", "jobs", running["id"])
        if any(item["state"] in ("compressing", "uploading") for item in seen["items"]):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail(f"no layer was ever under way: {seen}")
    stopping = await checked(jp_fetch, "DELETE", "jobs", running["id"])
    assert stopping["state"] in ("cancelling", "cancelled")

    final = (await events(jp_fetch, running["id"]))[-1][2]
    assert final["state"] == "cancelled"
    assert final["result"] is None
    # What was under way is marked stopped, not left "compressing" under a cancelled job.
    states = {item["state"] for item in final["items"]}
    assert "stopped" in states, final["items"]
    assert not states & {"waiting", "running", "hashing", "compressing", "uploading"}
    core = reader(docker_config, pki, basic_registry)
    for tag in ("1", "2"):
        with pytest.raises(NotFound):
            core.inspect(f"{host}/team/big:{tag}")
    again = await checked(jp_fetch, "DELETE", "jobs", running["id"])
    assert again["state"] == "cancelled", "a finished job stays as it is"


class SlowManifests:
    """``RegistryClient.put_manifest``, once armed, held until released after it wrote."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        self.written = threading.Event()
        self.release = threading.Event()
        original = RegistryClient.put_manifest

        def put_manifest(client: RegistryClient, *args: Any, **kwargs: Any) -> str:
            digest = original(client, *args, **kwargs)
            if self.armed:
                self.written.set()
                self.release.wait(30)
            return digest

        monkeypatch.setattr(RegistryClient, "put_manifest", put_manifest)


@pytest.mark.parametrize("kind", ["push", "copy"])
async def test_cancel_after_the_manifest_is_written_reports_success(
    jp_fetch: Fetch,
    basic_registry: Registry,
    model: Path,
    pki: PKI,
    docker_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    await login(jp_fetch, basic_registry)
    host = basic_registry.host
    source = f"{host}/team/written:src"
    push = {"kind": "push", "directory": "work/model"}
    if kind == "push":
        body = {**push, "reference": f"{host}/team/written:1"}
    else:
        first = await checked(
            jp_fetch, "POST", "jobs", body={**push, "reference": source}, expect=202
        )
        assert (await events(jp_fetch, first["id"]))[-1][2]["state"] == "succeeded"
        body = {"kind": "copy", "source": source, "destination": f"{host}/team/written:1"}
    slow = SlowManifests(monkeypatch)
    slow.armed = True
    job = await checked(jp_fetch, "POST", "jobs", body=body, expect=202)
    assert await asyncio.to_thread(slow.written.wait, 30), "the manifest was never written"
    stopping = await checked(jp_fetch, "DELETE", "jobs", job["id"])
    assert stopping["state"] == "cancelling"
    slow.release.set()

    final = (await events(jp_fetch, job["id"]))[-1][2]
    assert final["state"] == "succeeded", final
    assert final["error"] is None
    tagged = reader(docker_config, pki, basic_registry).inspect(f"{host}/team/written:1")
    assert final["result"]["digest"] == tagged["digest"]


async def test_failed_job_reports_the_error(
    jp_fetch: Fetch, token_registry: Registry, model: Path
) -> None:
    job = await checked(
        jp_fetch,
        "POST",
        "jobs",
        body={"kind": "push", "directory": "work/model", "reference": f"{token_registry.host}/x:1"},
        expect=202,
    )
    final = (await events(jp_fetch, job["id"]))[-1][2]
    assert final["state"] == "failed"
    assert final["error"]["code"] == "unknown_ca"
    assert final["error"]["fingerprint"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "bake"}, "unknown job kind"),
        ({"kind": "push", "directory": "../..", "reference": "r.example/a:1"}, "outside"),
        ({"kind": "push", "directory": "/etc", "reference": "r.example/a:1"}, "outside"),
        ({"kind": "push", "directory": "nowhere", "reference": "r.example/a:1"}, "not a folder"),
        ({"kind": "push", "directory": "work/model", "reference": "UPPER/Case:1"}, ""),
        ({"kind": "push", "directory": "work/model"}, "reference"),
        (
            {
                "kind": "push",
                "directory": "work/model",
                "reference": "r.example/a:1",
                "compression": "lz4",
            },
            "compression must be gzip or zstd",
        ),
        ({"kind": "copy", "source": "r.example/a:1"}, "destination"),
        (
            {
                "kind": "push",
                "directory": "work/model",
                "reference": "r.example/a:1",
                "platform": "bogus",
            },
            "Not a platform: 'bogus'",
        ),
        (
            {
                "kind": "copy",
                "source": "r.example/a:1",
                "destination": "r.example/b:1",
                "platform": "bogus",
            },
            "Not a platform: 'bogus'",
        ),
        (
            {
                "kind": "push",
                "directory": "work/model",
                "reference": f"r.example/a@sha256:{'0' * 64}",
            },
            "names a digest",
        ),
        (
            {
                "kind": "build",
                "spec": {"env": {"A": "b"}},
                "reference": f"r.example/a:1@sha256:{'0' * 64}",
            },
            "names a digest",
        ),
        ({"kind": "build", "spec": {"layers": ["/etc"]}, "reference": "r.example/a:1"}, "outside"),
        (
            {
                "kind": "build",
                "spec": {"python": {"requirements": "/etc/passwd"}},
                "reference": "r.example/a:1",
            },
            "python.requirements '/etc/passwd' is outside",
        ),
        (
            {"kind": "build", "spec": {"base": "oci:/srv/layout:1"}, "reference": "r.example/a:1"},
            "base '/srv/layout' is outside",
        ),
        (
            {
                "kind": "push",
                "directory": "work/model",
                "reference": "r.example/a:1",
                "base": "oci:/srv/layout:1",
            },
            "base '/srv/layout' is outside",
        ),
        (
            {
                "kind": "push",
                "directory": "work/model",
                "reference": "r.example/a:1",
                "base": "oci:../layout",
            },
            "base '../layout' is outside",
        ),
        (
            {
                "kind": "push",
                "directory": "work/model",
                "reference": "r.example/a:1",
                "base": "Bad Base",
            },
            "invalid reference 'Bad Base'",
        ),
        (
            {"kind": "build", "spec": {"layers": ["work/missing"]}, "reference": "r.example/a:1"},
            "layer src 'work/missing' does not exist",
        ),
        (
            {"kind": "build", "spec": {"layers": ["../elsewhere"]}, "reference": "r.example/a:1"},
            "layer src '../elsewhere' is outside",
        ),
        (
            {"kind": "push", "directory": ".hidden", "reference": "r.example/a:1"},
            "directory '.hidden' is hidden, and the file browser does not show it",
        ),
        (
            {"kind": "build", "spec": {"layers": [".hidden/w.bin"]}, "reference": "r.example/a:1"},
            "layer src '.hidden/w.bin' is hidden",
        ),
        (
            {
                "kind": "build",
                "spec": {"python": {"requirements": ["a==1"], "find_links": ["/srv/wheels"]}},
                "reference": "r.example/a:1",
            },
            "python.find_links '/srv/wheels' is outside",
        ),
        (
            {
                "kind": "build",
                "spec": {"python": {"requirements": ["a==1"], "find_links": ["file:///srv/w"]}},
                "reference": "r.example/a:1",
            },
            "python.find_links 'file:///srv/w' is outside",
        ),
        ({"kind": "build", "spec": {"colour": 1}, "reference": "r.example/a:1"}, "colour"),
        ({"kind": "build", "spec": {"layers": 5}, "reference": "r.example/a:1"}, "layers must"),
        ({"kind": "build", "spec": {"layers": "work"}, "reference": "r.example/a:1"}, "layers"),
        (
            {"kind": "build", "spec": {"layers": [5]}, "reference": "r.example/a:1"},
            "layers[0] needs a src",
        ),
        (
            {"kind": "build", "spec": {"env": {"A": [1]}}, "reference": "r.example/a:1"},
            "env.A must be a string (or a number), not a list",
        ),
        (
            {"kind": "build", "spec": {"labels": {"a": None}}, "reference": "r.example/a:1"},
            "labels.a must be a string (or a number), not null",
        ),
    ],
)
async def test_bad_job_requests_are_refused_before_starting(
    jp_fetch: Fetch, model: Path, body: dict[str, Any], words: str
) -> None:
    error = await checked(jp_fetch, "POST", "jobs", body=body, expect=400)
    assert words in error["message"]
    assert (await checked(jp_fetch, "GET", "jobs"))["jobs"] == []


async def test_unknown_job(jp_fetch: Fetch) -> None:
    for method in ("GET", "DELETE"):
        error = await checked(jp_fetch, method, "jobs", "0" * 32, expect=404)
        assert error["code"] == "not_found"
    response = await jp_fetch("regauth", "api", "jobs", "0" * 32, "events", raise_error=False)
    assert response.code == 404


async def test_build_job_from_a_spec(
    jp_fetch: Fetch, basic_registry: Registry, model: Path, pki: PKI, docker_config: Path
) -> None:
    await login(jp_fetch, basic_registry)
    target = f"{basic_registry.host}/team/built:1"
    spec = {
        "layers": [
            {"src": "work/model", "dest": "/srv/model"},
            {"src": "work/model/config.json", "dest": "/etc/model/"},  # a file is a layer too
        ],
        "env": {"MODEL": "demo"},
    }
    job = await checked(
        jp_fetch,
        "POST",
        "jobs",
        body={"kind": "build", "spec": spec, "reference": target},
        expect=202,
    )
    final = (await events(jp_fetch, job["id"]))[-1][2]
    assert final["state"] == "succeeded", final["error"]
    image = reader(docker_config, pki, basic_registry).inspect(target)
    assert image["digest"] == final["result"]["digest"]
    assert "MODEL=demo" in image["config"]["config"]["Env"]
    assert len(image["manifest"]["layers"]) == 2


async def test_cancel_a_build_while_pip_installs(
    jp_fetch: Fetch, basic_registry: Registry, model: Path, silent_index: str
) -> None:
    """pip waiting on a slow index is stopped by a cancel; meanwhile the job shows the step,
    reported once though the install checks for a cancel twice a second."""
    await login(jp_fetch, basic_registry)
    spec = {
        "layers": [{"src": "work/model", "dest": "/srv/model"}],
        "python": {"requirements": ["tinydep==0.1"], "version": "3.11", "index_url": silent_index},
    }
    body = {"kind": "build", "spec": spec, "reference": f"{basic_registry.host}/team/deps:1"}
    job = await checked(jp_fetch, "POST", "jobs", body=body, expect=202)
    for _ in range(100):
        job = await checked(jp_fetch, "GET", "jobs", job["id"])
        if any(item["kind"] == "step" for item in job["items"]):
            break
        await asyncio.sleep(0.1)
    [step] = job["items"]
    assert (step["id"], step["state"]) == ("python dependencies", "running")
    await asyncio.sleep(1.5)  # pip still waits on the index
    assert processes_with(silent_index)
    await checked(jp_fetch, "DELETE", "jobs", job["id"])
    messages = await events(jp_fetch, job["id"])
    assert messages[-1][2]["state"] == "cancelled"
    steps = [data for _, name, data in messages if name == "progress"]
    assert [s["event"]["state"] for s in steps] == ["running"]
    assert processes_with(silent_index) == []


def test_only_the_latest_finished_jobs_are_kept() -> None:
    async def run() -> tuple[list[str], list[str]]:
        jobs = JobManager(workers=1, keep_finished=2)
        first = [jobs.start("push", f"job {n}", lambda progress: {}) for n in range(4)]
        while not all(job.done for job in first):
            await asyncio.sleep(0.01)
        running = jobs.start("push", "job 4", lambda progress: {})
        kept = [job.description for job in jobs.all()]
        while not running.done:
            await asyncio.sleep(0.01)
        jobs.shutdown()
        return kept, [job.id for job in first if jobs.get(job.id) is None]

    kept, gone = asyncio.run(run())
    assert sorted(kept) == ["job 2", "job 3", "job 4"]  # the newest finished two, and the new one
    assert len(gone) == 2
