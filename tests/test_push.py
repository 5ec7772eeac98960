"""``regauth push`` and ``build``: streamed layers on a base from a layout or any registry,
read back by skopeo; an unchanged re-push uploads nothing; an interrupted push resumes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zstandard

from jupyter_regauth.images import ignore
from jupyter_regauth.images.errors import BuildSpecError
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.progress import ProgressEvent
from jupyter_regauth.images.push import push_build
from jupyter_regauth.images.spec import BuildSpec
from jupyter_regauth.reference import parse
from jupyter_regauth.registry import RegistryClient, TrustConfig
from jupyter_regauth.service import RegAuth
from jupyter_regauth.testing.registry import LocalRegistry

from .cli_helpers import regauth
from .conftest import PKI, Registry, logged_in_to
from .fabricate import oci_image


@pytest.fixture
def logged_in(
    basic_registry: Registry, token_registry: Registry, docker_config: Path
) -> Iterator[RegAuth]:
    yield logged_in_to(basic_registry, token_registry)


def skopeo(*args: str) -> str:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def blob_writes(server: LocalRegistry, since: int = 0) -> list[str]:
    """Access-log lines of blob upload requests (POST, PATCH, PUT) after byte ``since``."""
    with server.log_path.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return re.findall(r'"(?:POST|PATCH|PUT) /v2/[^ ]*/blobs/uploads/[^"]*"', text)


def log_size(server: LocalRegistry) -> int:
    return server.log_path.stat().st_size


def model_dir(root: Path) -> Path:
    """Mixed content: text, incompressible bytes, a subdirectory, an executable, a symlink."""
    model = root / "model-src"
    (model / "weights").mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"layers": 4, "name": "demo"}))
    (model / "weights" / "part-0.bin").write_bytes(os.urandom(3 << 20))
    (model / "weights" / "vocab.txt").write_text("token\n" * 50_000)
    (model / "serve.sh").write_text("#!/bin/sh\necho serve\n")
    (model / "serve.sh").chmod(0o755)
    (model / "latest").symlink_to("weights/part-0.bin")
    return model


def extracted(layout: Path, ref: str, out: Path) -> dict[str, bytes]:
    """Apply every layer of ``ref`` in ``layout`` into ``out``; the regular files' contents."""
    oci = OCILayout.open(layout)
    manifest = oci.read_manifest(ref)
    for desc in manifest.layers():
        with oci.blob_path(desc.digest).open("rb") as blob:
            if desc.media_type.endswith("+zstd"):
                with (
                    zstandard.ZstdDecompressor().stream_reader(blob) as raw,
                    tarfile.open(fileobj=raw, mode="r|") as tar,
                ):
                    tar.extractall(out, filter="tar")
            else:
                with tarfile.open(fileobj=blob, mode="r:gz") as tar:
                    tar.extractall(out, filter="tar")
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_push_cli_scratch_read_by_skopeo_and_repush_uploads_nothing(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    model = model_dir(tmp_path)
    ref = f"{basic_registry.host}/team/model:v1"
    first = regauth("push", str(model), ref, "--digest-file", str(tmp_path / "digest"))
    assert first.code == 0, first.stderr
    pushed = first.stdout.strip().splitlines()[-1]
    digest = (tmp_path / "digest").read_text().strip()
    assert pushed == f"{basic_registry.host}/team/model@{digest}"
    assert "blob sha256:" in first.stderr  # plain progress lines, standard error is no TTY

    raw = skopeo("inspect", "--raw", f"docker://{ref}")
    assert "sha256:" + __import__("hashlib").sha256(raw.encode()).hexdigest() == digest
    info = json.loads(skopeo("inspect", f"docker://{pushed}"))
    assert info["Digest"] == digest and info["Architecture"] == "amd64"
    skopeo("copy", f"docker://{pushed}", f"oci:{tmp_path / 'copy'}:v1")
    files = extracted(tmp_path / "copy", "v1", tmp_path / "root")
    expected = {
        f"model/{p.relative_to(model)}": p.read_bytes()
        for p in sorted(model.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    assert files == expected
    link = tmp_path / "root" / "model" / "latest"
    assert link.is_symlink() and os.readlink(link) == "weights/part-0.bin"
    assert os.access(tmp_path / "root" / "model" / "serve.sh", os.X_OK)

    mark = log_size(basic_registry.server)
    again = regauth("push", str(model), ref, "--json")
    assert again.code == 0, again.stderr
    result = again.json()
    assert result["unchanged"] and result["digest"] == digest
    assert blob_writes(basic_registry.server, mark) == []

    (model / "config.json").write_text("{}")  # a change is pushed again, base unchanged
    changed = regauth("push", str(model), ref, "--json", "-q")
    assert changed.code == 0 and changed.stderr == ""
    assert not changed.json()["unchanged"] and changed.json()["digest"] != digest


def test_zstd_layers_read_back_by_skopeo_and_a_change_of_compression_is_pushed(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """``--compression zstd``: a tar+zstd layer that skopeo copies and that extracts to the
    files; unchanged, nothing is sent again; back to gzip, the layer is made and sent anew."""
    model = model_dir(tmp_path)
    ref = f"{basic_registry.host}/team/zstd:v1"
    first = regauth("push", str(model), ref, "--compression", "zstd", "--json", "-q")
    assert first.code == 0, first.stderr
    digest = first.json()["digest"]
    manifest = json.loads(skopeo("inspect", "--raw", f"docker://{ref}"))
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+zstd"
    ]
    skopeo("copy", f"docker://{ref}", f"oci:{tmp_path / 'copy'}:v1")
    files = extracted(tmp_path / "copy", "v1", tmp_path / "root")
    assert files == {
        f"model/{p.relative_to(model)}": p.read_bytes()
        for p in sorted(model.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    assert os.readlink(tmp_path / "root" / "model" / "latest") == "weights/part-0.bin"

    mark = log_size(basic_registry.server)
    again = regauth("push", str(model), ref, "--compression", "zstd", "--json", "-q")
    assert again.code == 0 and again.json()["unchanged"] and again.json()["digest"] == digest
    assert blob_writes(basic_registry.server, mark) == []

    gzip = regauth("push", str(model), ref, "--json", "-q")
    assert gzip.code == 0 and not gzip.json()["unchanged"]
    assert (gzip.json()["uploaded"], gzip.json()["existing"]) == (2, 0)  # layer and config
    manifest = json.loads(skopeo("inspect", "--raw", f"docker://{ref}"))
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    skopeo("copy", f"docker://{ref}", f"oci:{tmp_path / 'gzip'}:v1")
    assert extracted(tmp_path / "gzip", "v1", tmp_path / "gzip-root") == files


def test_a_missing_layer_source_is_named_before_the_registry_is_asked(tmp_path: Path) -> None:
    """The spec's own mistake is the error, not "cannot connect" to a registry that is down."""
    (tmp_path / "spec.yaml").write_text("layers:\n  - src: weights\n    dest: /model\n")
    run = regauth("build", str(tmp_path / "spec.yaml"), "127.0.0.1:1/team/x:1")
    assert run.code == 1
    assert f"Cannot read layer source {tmp_path / 'weights'}: No such file" in run.stderr
    assert "connect" not in run.stderr


def test_push_command_loads_only_what_a_push_uses(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """A command pays for every module it imports on every run: a push without Python
    dependencies or credential helpers imports neither pip's metadata nor subprocess, and a
    gzip push not zstandard."""
    model = model_dir(tmp_path)
    code = (
        "import sys\n"
        "from jupyter_regauth.__main__ import console_main\n"
        f"sys.argv = ['regauth', 'push', '-q', {str(model)!r},"
        f" {basic_registry.host + '/team/lean:v1'!r}]\n"
        "code = console_main()\n"
        "print(code, [m for m in ('subprocess', 'importlib.metadata', 'traitlets', 'zstandard')"
        " if sys.modules.get(m)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_registry_base_is_mounted_not_downloaded(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    layout = tmp_path / "base"
    oci_image(layout, "1", {"etc/os-release": b"ID=fabricated\n"})
    base = f"{basic_registry.host}/base/os:1"
    skopeo("copy", f"oci:{layout}:1", f"docker://{base}")
    base_layer = OCILayout.open(layout).read_manifest("1").layers()[0].digest
    model = model_dir(tmp_path)

    mark = log_size(basic_registry.server)
    run = regauth(
        "push", str(model), f"{basic_registry.host}/team/app:v1", "--base", base, "--json"
    )
    assert run.code == 0, run.stderr
    result = run.json()
    assert (result["mounted"], result["uploaded"]) == (1, 2)  # the new layer and the config
    log = basic_registry.server.log_path.read_bytes()[mark:].decode(errors="replace")
    assert f"GET /v2/base/os/blobs/{base_layer}" not in log

    inspected = logged_in.inspect(result["reference"])
    layers = inspected["manifest"]["layers"]
    assert layers[0]["digest"] == base_layer and len(layers) == 2
    assert inspected["config"]["config"]["Env"] == ["PATH=/usr/bin"]
    assert len(inspected["config"]["rootfs"]["diff_ids"]) == 2
    assert inspected["manifest"]["annotations"]["org.opencontainers.image.base.name"] == base


def test_base_from_another_registry_is_streamed_across(
    logged_in: RegAuth, basic_registry: Registry, token_registry: Registry, tmp_path: Path
) -> None:
    layout = tmp_path / "base"
    oci_image(layout, "1", {"etc/os-release": b"ID=elsewhere\n"})
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "motd").write_text("hello\n")
    base = f"{token_registry.host}/base/other:1"
    made = regauth("push", str(tmp_path / "extra"), base, "--base", f"oci:{layout}:1", "--json")
    assert made.code == 0, made.stderr
    spec_file = tmp_path / "spec.yaml"
    model = model_dir(tmp_path)
    spec_file.write_text(
        f"base: {base}\nlayers:\n  - src: {model.name}\n    dest: /srv/model\n"
        "env: {MODEL_DIR: /srv/model}\ncmd: [python, serve.py]\n"
    )
    run = regauth("build", str(spec_file), f"{basic_registry.host}/team/built:v1", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    # Two base layers streamed across, the new layer and the config.
    assert result["uploaded"] == 4 and result["mounted"] == 0
    info = json.loads(skopeo("inspect", f"docker://{result['reference']}"))
    assert "MODEL_DIR=/srv/model" in info["Env"] and len(info["Layers"]) == 3


def test_push_resumes_after_the_registry_restarts(
    pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture, docker_config: Path
) -> None:
    server = LocalRegistry(tmp_path / "restarting", ca=pki.ca)
    model = tmp_path / "big"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(24 << 20))
    restarted: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        # Mid-layer: the PATCH in flight loses its connection; the push must resume.
        if event.kind == "layer" and event.bytes_done >= 8 << 20 and not restarted:
            restarted.append(event)
            server.restart()

    spec = BuildSpec.from_dict({"layers": [{"src": str(model), "dest": "/model"}]})
    with server, RegistryClient(server.host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        target = parse(f"{server.host}/team/big:v1")
        result = push_build(spec, target, client, progress=progress)
        assert restarted and result.uploaded == 2
        assert "resuming upload to team/big" in caplog.text
        manifest = json.loads(client.get_manifest("team/big", "v1").data)
        layer = manifest["layers"][0]
        with client.open_blob("team/big", layer["digest"]) as chunks:  # verified as read
            size = sum(len(c) for c in chunks)
        assert size == layer["size"]
        assert result.digest == client.head_manifest("team/big", "v1")


def test_a_layer_found_by_a_head_without_length_keeps_its_size(
    pki: PKI, tmp_path: Path, docker_config: Path
) -> None:
    """A layer pushed before is found with a HEAD; a registry (or a proxy) may answer it with no
    Content-Length. The manifest still records the blob's real size, remembered from its push."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(1 << 20))
    server = LocalRegistry(tmp_path / "registry", ca=pki.ca)

    def drop_length(response: httpx.Response) -> None:
        if response.request.method == "HEAD" and "/blobs/" in response.request.url.path:
            del response.headers["content-length"]

    with server, RegistryClient(server.host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        first = BuildSpec.from_dict({"layers": [{"src": str(model), "dest": "/model"}]})
        push_build(first, parse(f"{server.host}/team/sized:v1"), client)
        client._http.event_hooks["response"].append(drop_length)
        second = BuildSpec.from_dict(
            {"layers": [{"src": str(model), "dest": "/model"}], "env": {"CHANGED": "1"}}
        )
        result = push_build(second, parse(f"{server.host}/team/sized:v2"), client)
        assert result.uploaded == 1  # the config; the layer was found
        sizes = [
            [
                layer["size"]
                for layer in json.loads(client.get_manifest("team/sized", tag).data)["layers"]
            ]
            for tag in ("v1", "v2")
        ]
    assert sizes[0] == sizes[1] and sizes[0][0] > 1 << 20


def test_the_directory_dockerignore_and_excludes_leave_files_out(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """As ``docker build`` treats its context: the directory's .dockerignore, then --exclude."""
    model = model_dir(tmp_path)
    (model / "train.log").write_text("noise")
    (model / "keep.log").write_text("wanted")
    (model / ".ipynb_checkpoints").mkdir()
    (model / ".ipynb_checkpoints" / "nb.ipynb").write_text("{}")
    (model / ".dockerignore").write_text("# logs, but one\n*.log\n!keep.log\n")
    ref = f"{basic_registry.host}/team/ignored:v1"
    pushed = regauth("push", str(model), ref, "--exclude", ".ipynb_checkpoints", "-q")
    assert pushed.code == 0, pushed.stderr
    skopeo("copy", f"docker://{ref}", f"oci:{tmp_path / 'copy'}:v1")
    files = extracted(tmp_path / "copy", "v1", tmp_path / "root")
    assert "model/train.log" not in files and files["model/keep.log"] == b"wanted"
    assert not any(name.startswith("model/.ipynb_checkpoints") for name in files)
    assert "model/.dockerignore" in files and "model/config.json" in files  # as docker build

    (model / ".dockerignore").write_text("[oops\n")
    bad = regauth("push", str(model), ref)
    assert bad.code == 1
    assert f"{model / '.dockerignore'}: Bad exclude pattern '[oops': unclosed [" in bad.stderr
    (model / ".dockerignore").unlink()
    bad_flag = regauth("push", str(model), ref, "--exclude", "[x")
    assert bad_flag.code == 1 and "Error: Bad exclude pattern '[x': unclosed [" in bad_flag.stderr


def test_a_push_compiles_each_exclude_pattern_once(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The .dockerignore's patterns and the given ones are each compiled once, where they are
    read (so an error names where a bad one came from), and the walks match with those."""
    model = model_dir(tmp_path)
    (model / "train.log").write_text("noise")
    (model / ".dockerignore").write_text("*.log\n!keep.log\n")
    compiled: list[str] = []
    real = ignore._compile
    monkeypatch.setattr(ignore, "_compile", lambda raw: compiled.append(raw) or real(raw))
    ref = f"{basic_registry.host}/team/compiled:v1"
    logged_in.push_directory(model, ref, exclude=[".ipynb_checkpoints"])
    assert compiled == ["*.log", "!keep.log", ".ipynb_checkpoints"]
    skopeo("copy", f"docker://{ref}", f"oci:{tmp_path / 'copy'}:v1")
    files = extracted(tmp_path / "copy", "v1", tmp_path / "root")
    assert "model/train.log" not in files and "model/config.json" in files


def test_bad_input_is_explained(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    missing = regauth("push", str(tmp_path / "nope"), f"{basic_registry.host}/team/x:v1")
    assert missing.code == 1 and "is not a directory" in missing.stderr
    (tmp_path / "d").mkdir()
    bad_ref = regauth("push", str(tmp_path / "d"), "Not A Ref")
    assert bad_ref.code == 1 and "invalid reference" in bad_ref.stderr
    no_base = regauth(
        "push",
        str(tmp_path / "d"),
        f"{basic_registry.host}/team/x:v1",
        "--base",
        f"{basic_registry.host}/base/missing:1",
    )
    assert no_base.code == 1 and "not found" in no_base.stderr
    to_digest = regauth(
        "push", str(tmp_path / "d"), f"{basic_registry.host}/team/x:v2@sha256:{'0' * 64}"
    )
    assert to_digest.code == 1 and "it names a digest" in to_digest.stderr


def test_changed_files_are_hashed_with_progress_and_can_be_stopped(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """Files changed since the last push are hashed to compare with the tag's image; that read
    is reported (``hashing``), and a progress callback that raises stops it before any upload."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(4 << 20))
    target = f"{basic_registry.host}/team/hashed:v1"
    first = logged_in.push_directory(model, target)
    (model / "weights.bin").write_bytes(os.urandom(4 << 20))
    seen: list[ProgressEvent] = []
    second = logged_in.push_directory(model, target, progress=seen.append)
    hashing = [e for e in seen if e.state == "hashing"]
    assert hashing and {(e.kind, e.id) for e in hashing} == {("layer", "layer 1")}
    assert hashing[-1].bytes_done == hashing[-1].bytes_total == 4 << 20
    assert seen.index(hashing[-1]) < next(i for i, e in enumerate(seen) if e.state != "hashing")

    class Stop(Exception):
        pass

    def stop_while_hashing(event: ProgressEvent) -> None:
        if event.state == "hashing":
            raise Stop

    (model / "weights.bin").write_bytes(os.urandom(4 << 20))
    since = log_size(basic_registry.server)
    with pytest.raises(Stop):
        logged_in.push_directory(model, target, progress=stop_while_hashing)
    assert blob_writes(basic_registry.server, since) == []
    assert logged_in.inspect(target)["digest"] == second.digest != first.digest


def test_a_variable_that_must_be_set_fails_before_any_upload(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(os.urandom(1 << 20))
    spec = BuildSpec.from_dict(
        {"layers": [{"src": "model", "dest": "/model"}], "env": {"M": "${MODEL_DIR:?unset}"}},
        tmp_path,
    )
    since = log_size(basic_registry.server)
    with pytest.raises(BuildSpecError, match=r"env\.M: MODEL_DIR: unset"):
        logged_in.build_push(spec, f"{basic_registry.host}/team/unset:v1")
    assert blob_writes(basic_registry.server, since) == []


def test_diff_id_cache_misses_an_in_place_edit(docker_config: Path, tmp_path: Path) -> None:
    from jupyter_regauth.images.cache import cached_diff_id
    from jupyter_regauth.images.layer import LayerSource, diff_id_of, plan

    src = tmp_path / "m"
    src.mkdir()
    weights = src / "w.bin"
    weights.write_bytes(b"a" * 4096)
    source = LayerSource(src, "/model")
    key, first = cached_diff_id(plan([source]))
    assert cached_diff_id(plan([source])) == (key, first) == (key, diff_id_of([source]))
    stat = weights.stat()
    weights.write_bytes(b"b" * 4096)  # same size, and the mtime put back
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    key2, second = cached_diff_id(plan([source]))
    assert key2 != key and second == diff_id_of([source]) != first


def test_a_file_name_that_is_not_utf8_is_pushed_as_its_bytes(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    ref = f"{basic_registry.host}/team/names:v1"
    for _ in range(2):  # the second is recognised as unchanged, through the same cache key
        run = regauth("push", str(model), ref)
        assert run.code == 0, run.stderr
    assert "unchanged" in run.stderr
    out = tmp_path / "out"
    skopeo("copy", f"docker://{ref}", f"dir:{out}")
    digest = json.loads((out / "manifest.json").read_text())["layers"][-1]["digest"]
    layer = out / digest.split(":")[1]
    with tarfile.open(layer) as tar:
        names = [m.name for m in tar.getmembers()]
    assert "model/caf\udce9.txt" in names  # tarfile reads the byte back as a surrogate


@pytest.mark.parametrize("threads", [1, 2])
def test_new_layers_upload_one_per_deflate_thread_at_a_time(
    pki: PKI, tmp_path: Path, threads: int, docker_config: Path
) -> None:
    """Four layers, each long enough to overlap the others if they could: no more of them
    are made and sent at once than the compressor has threads."""
    layers = []
    for i in range(4):
        part = tmp_path / f"part-{i}"
        part.mkdir()
        (part / "data.bin").write_bytes(os.urandom(6 << 20))
        layers.append({"src": str(part), "dest": f"/model/{i}"})
    spec = BuildSpec.from_dict({"layers": layers})
    active: set[str] = set()
    most = 0

    def progress(event: ProgressEvent) -> None:
        nonlocal most
        if event.kind != "layer":
            return
        if event.state == "compressing":
            active.add(event.id)
        elif event.state in ("done", "error"):
            active.discard(event.id)
        most = max(most, len(active))

    with (
        LocalRegistry(tmp_path / "registry", ca=pki.ca) as server,
        RegistryClient(server.host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client,
    ):
        result = push_build(
            spec, parse(f"{server.host}/team/parts:v1"), client, progress=progress, threads=threads
        )
    assert result.uploaded == 5  # four layers and the config
    assert most == threads


def test_files_pushed_before_are_not_sent_again_where_the_registry_has_them(
    pki: PKI, tmp_path: Path, docker_config: Path
) -> None:
    """The same model under a new command: the registry has the layer (HEAD), so only the config
    and manifest go. To another repository of the registry: mounted. To a registry that lost it:
    made and sent again. Every image reads back whole."""
    model = model_dir(tmp_path)

    def spec(cmd: str) -> BuildSpec:
        return BuildSpec.from_dict(
            {"layers": [{"src": str(model), "dest": "/model"}], "cmd": [cmd]}
        )

    def pushed_files(ref: str, name: str) -> dict[str, bytes]:
        skopeo("copy", "--src-cert-dir", str(certs), f"docker://{ref}", f"oci:{tmp_path / name}:x")
        return extracted(tmp_path / name, "x", tmp_path / f"{name}-root")

    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(pki.ca.cert_pem)
    server = LocalRegistry(tmp_path / "registry", ca=pki.ca)
    with server, RegistryClient(server.host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        first = push_build(spec("serve"), parse(f"{server.host}/team/model:v1"), client)
        assert first.uploaded == 2 and first.bytes_sent > 3 << 20
        layer = json.loads(client.get_manifest("team/model", "v1").data)["layers"][0]

        mark = log_size(server)
        again = push_build(spec("train"), parse(f"{server.host}/team/model:v2"), client)
        assert (again.uploaded, again.existing, again.mounted) == (1, 1, 0)
        assert len(blob_writes(server, mark)) == 2  # the config's POST and PUT, nothing else
        assert json.loads(client.get_manifest("team/model", "v2").data)["layers"] == [layer]

        other = push_build(spec("train"), parse(f"{server.host}/other/model:v1"), client)
        assert (other.mounted, other.uploaded) == (1, 1)
        assert other.bytes_sent == again.bytes_sent  # the config alone
        files = pushed_files(f"{server.host}/other/model:v1", "other")
        # The next mount is from where the layer went last.
        mark = log_size(server)
        fourth = push_build(spec("train"), parse(f"{server.host}/fourth/model:v1"), client)
        assert (fourth.mounted, fourth.uploaded) == (1, 1)
        assert "from=other%2Fmodel" in blob_writes(server, mark)[0]

        # The registry loses everything: the mount it is asked for opens a plain upload, which
        # the layer is made into (one POST for it, no second one).
        server.stop()
        shutil.rmtree(server.workdir / "data")
        server.start()
        mark = log_size(server)
        lost = push_build(spec("train"), parse(f"{server.host}/third/model:v1"), client)
        assert (lost.uploaded, lost.mounted) == (2, 0)
        writes = blob_writes(server, mark)
        assert [w.split()[0] for w in writes] == ['"POST', '"PATCH', '"PUT', '"POST', '"PUT']
        assert "mount=" in writes[0]
        assert pushed_files(f"{server.host}/third/model:v1", "third") == files
    expected = {
        f"model/{p.relative_to(model)}": p.read_bytes()
        for p in sorted(model.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    assert files == expected

    wiped = LocalRegistry(tmp_path / "wiped", ca=pki.ca)
    with wiped, RegistryClient(wiped.host, trust=TrustConfig(ca_pem=pki.ca.cert_pem)) as client:
        fresh = push_build(spec("train"), parse(f"{wiped.host}/team/model:v2"), client)
        assert fresh.uploaded == 2 and fresh.bytes_sent == layer["size"] + again.bytes_sent
        assert pushed_files(f"{wiped.host}/team/model:v2", "wiped") == expected


def test_layer_cache_reads_what_older_versions_and_others_wrote(docker_config: Path) -> None:
    from jupyter_regauth.images.cache import KnownLayer, cache_path, lookup, remember

    path = cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "old": "sha256:" + "a" * 64,  # a diff_id alone
                "newer": {"diff_id": "sha256:" + "b" * 64, "digest": "x", "future_field": 1},
                "broken": {"digest": "y"},
                "odd": 7,
            }
        )
    )
    assert lookup("old") == KnownLayer("sha256:" + "a" * 64)
    assert lookup("newer") == KnownLayer("sha256:" + "b" * 64)  # only the diff_id is sure
    assert lookup("broken") is None and lookup("odd") is None and lookup("absent") is None
    known = KnownLayer("sha256:" + "c" * 64, "sha256:" + "d" * 64, 10, 20, "r.example/team/m")
    remember("k", known)
    assert lookup("k") == known and lookup("old") == KnownLayer("sha256:" + "a" * 64)
