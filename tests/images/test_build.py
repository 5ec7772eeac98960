from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_regauth.images import ignore, media
from jupyter_regauth.images.build import CONTENT_DIGEST_LABEL, build
from jupyter_regauth.images.errors import BuildSpecError, ImageError
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.manifest import Document, Platform
from jupyter_regauth.images.progress import ProgressEvent
from jupyter_regauth.images.spec import BuildSpec


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "model").mkdir(parents=True)
    (root / "model" / "weights.bin").write_bytes(os.urandom(1 << 20))
    (root / "model" / "scratch.tmp").write_text("x")
    (root / "serve.py").write_text("print('serving')\n")
    return root


def _spec(base: str | None, **extra: object) -> BuildSpec:
    return BuildSpec.from_dict(
        {
            "base": base,
            "tag": "v1",
            "layers": [
                {"src": "model", "dest": "/model", "exclude": ["*.tmp"]},
                {"src": "serve.py", "dest": "/app/"},
            ],
            "env": {"MODEL_DIR": "/model", "BASE": "2"},
            "entrypoint": ["python", "/app/serve.py"],
            "workdir": "/app",
            "labels": {"team": "ml"},
            "title": "demo",
            "revision": "abc123",
            **extra,
        },
        base_dir=Path.cwd() if base is None else None,
    )


def test_append_to_fabricated_base(
    base_layout: OCILayout,
    model_dir: Path,
    tmp_path: Path,
    skopeo: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(model_dir)
    events: list[ProgressEvent] = []
    out = tmp_path / "out"
    built = build(_spec(f"oci:{base_layout.root}:multi"), out, events.append)

    layout = OCILayout.open(out)
    base_manifest = base_layout.read_manifest("multi")
    base_config = json.loads(base_layout.read_blob(base_manifest.config().digest))
    config = json.loads(built.config)
    manifest = json.loads(built.manifest)

    assert layout.resolve("v1").digest == built.manifest_digest
    assert built.manifest_digest == "sha256:" + hashlib.sha256(built.manifest).hexdigest()
    new_diff_ids = [info.diff_id for info in built.layers]
    assert config["rootfs"]["diff_ids"] == base_config["rootfs"]["diff_ids"] + new_diff_ids
    history = config["history"]
    assert history[0] == base_config["history"][0]
    assert [h["created_by"] for h in history[1:3]] == ["COPY model /model", "COPY serve.py /app/"]
    assert history[-1]["empty_layer"] is True
    non_empty = [h for h in history if not h.get("empty_layer")]
    assert len(non_empty) == len(config["rootfs"]["diff_ids"])
    assert config["created"] == "1970-01-01T00:00:00Z"

    run = config["config"]
    assert run["Env"] == ["PATH=/usr/bin", "BASE=2", "MODEL_DIR=/model"]
    assert run["Entrypoint"] == ["python", "/app/serve.py"] and "Cmd" not in run
    assert run["WorkingDir"] == "/app"
    labels = run["Labels"]
    assert labels["base"] == "yes" and labels["team"] == "ml"
    assert labels["org.opencontainers.image.title"] == "demo"
    assert labels["org.opencontainers.image.revision"] == "abc123"
    assert "org.opencontainers.image.created" not in labels
    assert labels[CONTENT_DIGEST_LABEL] == built.content_digest

    layers = manifest["layers"]
    assert layers[0] == base_manifest.data["layers"][0]
    assert [ly["digest"] for ly in layers[1:]] == [info.digest for info in built.layers]
    assert {ly["mediaType"] for ly in layers} == {media.OCI_LAYER_GZIP}
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == base_manifest.digest
    # each layer blob decompresses to its diff_id, and the model layer honours the exclude
    for desc, diff_id in zip(layers, config["rootfs"]["diff_ids"], strict=True):
        raw = gzip.decompress(layout.read_blob(desc["digest"]))
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
    model_layer = gzip.decompress(layout.read_blob(layers[1]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(model_layer)) as tar:
        assert tar.getnames() == ["model", "model/weights.bin"]

    assert {e.state for e in events if e.kind == "layer"} >= {"compressing", "done"}
    assert events[-1].kind == "image" and events[-1].state == "done"

    info = json.loads(skopeo("inspect", f"oci:{out}:v1"))
    assert info["Digest"] == built.manifest_digest and info["Architecture"] == "amd64"
    assert len(info["Layers"]) == 3
    skopeo("copy", f"oci:{out}:v1", f"oci:{tmp_path / 'copy'}:v1")
    assert OCILayout.open(tmp_path / "copy").resolve("v1").digest == built.manifest_digest


def test_rebuild_is_identical_and_skipped(
    base_layout: OCILayout, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model_dir)
    spec = _spec(str(base_layout.root) + ":base")
    first = build(spec, tmp_path / "a")
    again = build(spec, tmp_path / "a")
    elsewhere = build(spec, tmp_path / "b")
    assert again.reused and not first.reused and not elsewhere.reused
    assert first.manifest_digest == again.manifest_digest == elsewhere.manifest_digest
    (model_dir / "model" / "weights.bin").write_bytes(b"changed")
    changed = build(spec, tmp_path / "a")
    assert not changed.reused and changed.manifest_digest != first.manifest_digest
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = build(spec, tmp_path / "a")
    config = json.loads(dated.config)
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"]["Labels"]["org.opencontainers.image.created"] == config["created"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "253402300799")
    assert json.loads(build(spec, tmp_path / "a").config)["created"] == "9999-12-31T23:59:59Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99999999999999")  # was a ValueError traceback
    with pytest.raises(ImageError, match="SOURCE_DATE_EPOCH='99999999999999' is not a time"):
        build(spec, tmp_path / "a")


def test_scratch_docker_base_and_platform(
    base_layout: OCILayout,
    model_dir: Path,
    tmp_path: Path,
    image_factory: Callable[..., Document],
    skopeo: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(model_dir)
    scratch = build(_spec(None, platform="linux/arm64"), tmp_path / "s")
    config = json.loads(scratch.config)
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert len(config["rootfs"]["diff_ids"]) == 2
    assert json.loads(skopeo("inspect", f"oci:{tmp_path / 's'}:v1"))["Architecture"] == "arm64"

    arm = build(_spec(f"oci:{base_layout.root}:multi", platform="linux/arm64"), tmp_path / "arm")
    assert json.loads(arm.config)["architecture"] == "arm64"

    docker_base = image_factory(base_layout, Platform(), {"d": b"1"}, docker=True)
    base_layout.put_manifest(docker_base, "docker")
    built = build(_spec(f"oci:{base_layout.root}:docker"), tmp_path / "d")
    manifest = json.loads(built.manifest)
    # converted to OCI: same blobs, OCI media types
    assert built.media_type == manifest["mediaType"] == media.OCI_MANIFEST
    assert {ly["mediaType"] for ly in manifest["layers"]} == {media.OCI_LAYER_GZIP}
    assert manifest["layers"][0]["digest"] == docker_base.layers()[0].digest
    assert manifest["config"]["mediaType"] == media.OCI_CONFIG
    skopeo("inspect", f"oci:{tmp_path / 'd'}:v1")


def test_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(BuildSpecError, match="Unknown build spec key"):
        BuildSpec.from_dict({"layer": []})
    with pytest.raises(BuildSpecError, match="entrypoint must be a list"):
        BuildSpec.from_dict({"entrypoint": "python serve.py"})
    with pytest.raises(BuildSpecError, match=r"layers\[0\] needs a src"):
        BuildSpec.from_dict({"layers": [{"dest": "/m"}]})
    with pytest.raises(BuildSpecError, match="unclosed"):
        BuildSpec.from_dict({"layers": [{"src": "m", "exclude": ["[x"]}]})
    with pytest.raises(ImageError, match="not a local OCI layout"):
        build(BuildSpec(base="docker.io/library/python:3.11"), tmp_path / "o")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("base: scratch\nlayers:\n  - src: m\n    dest: /m\nenv:\n  N: 1\n")
    spec = BuildSpec.load(spec_file)
    assert spec.layers[0].src == str(tmp_path / "m") and spec.env == {"N": "1"}
    spec_file.write_text("layers: [")
    with pytest.raises(BuildSpecError, match="not valid YAML"):
        BuildSpec.load(spec_file)
    # Where it is broken, without PyYAML's quote of the line: that may be a secret.
    spec_file.write_text('env:\n  TOKEN: "s3cr3t-value\n')
    with pytest.raises(BuildSpecError) as broken:
        BuildSpec.load(spec_file)
    message = str(broken.value)
    assert "line 3, column 1: found unexpected end of stream" in message
    assert "(while scanning a quoted scalar from line 2)" in message
    assert "s3cr3t" not in message and "<unicode string>" not in message
    # A key given twice: PyYAML keeps the last, which would drop the first env without a word.
    spec_file.write_text('env:\n  A: "1"\nlayers: []\nenv:\n  B: "2"\n')
    with pytest.raises(BuildSpecError, match=r"line 4, column 1: 'env' is given twice \(first"):
        BuildSpec.load(spec_file)
    # A key a merge brings may be given again: that is what a merge is for.
    spec_file.write_text('labels: &b {A: "1"}\nenv:\n  <<: *b\n  A: "2"\n')
    assert BuildSpec.load(spec_file).env == {"A": "2"}
    spec_file.write_bytes(b"env: {A: caf\xe9}\n")  # Latin-1
    with pytest.raises(BuildSpecError, match=r"is not UTF-8 text \(byte 12\)"):
        BuildSpec.load(spec_file)


@pytest.mark.parametrize("name", ["A=B", "A B", "A\tB", "A\0B", ""])
def test_an_env_name_a_process_cannot_hold_is_refused(name: str) -> None:
    """``A=B: a`` was written as ``Env: ["A=B=a"]``, the variable A; ``A B`` as a name no
    shell can use."""
    with pytest.raises(BuildSpecError, match=rf"env name {re.escape(repr(name))} is empty or"):
        BuildSpec.from_dict({"env": {name: "a"}})


def test_a_nul_a_process_cannot_be_given_is_refused_by_where_it_is(tmp_path: Path) -> None:
    """execve refuses a NUL in the environment or the arguments (and C reads a path or a user
    name only up to one): such a value was written into the config, for the container to fail
    at its start. The error names the variable, never its value: that may be a secret."""
    secret = "s3cr3t\0tail"
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text('env: {TOKEN: "s3cr3t\\0tail"}\n')  # YAML's escape for a NUL
    for make in (
        lambda: BuildSpec.from_dict({"env": {"A": "1", "TOKEN": secret}}),
        lambda: BuildSpec.load(spec_file),
        lambda: BuildSpec(env={"TOKEN": secret}),  # the Python API checks as a spec does
    ):
        with pytest.raises(BuildSpecError) as err:
            make()
        assert err.value.message == "env.TOKEN has a NUL character in its value"
        assert "s3cr3t" not in str(err.value) and "s3cr3t" not in json.dumps(err.value.to_dict())
    for fields, where in [
        ({"entrypoint": ["python", "serve\0.py"]}, "entrypoint[1]"),
        ({"cmd": ["\0"]}, "cmd[0]"),
        ({"workdir": "/srv\0/app"}, "workdir"),
        ({"user": "app\0"}, "user"),
    ]:
        with pytest.raises(BuildSpecError, match=rf"^{re.escape(where)} has a NUL character"):
            BuildSpec.from_dict(fields)
        with pytest.raises(BuildSpecError, match=rf"^{re.escape(where)} has a NUL character"):
            BuildSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    with pytest.raises(BuildSpecError, match=r"env name 'A\\x00B' is empty or"):
        BuildSpec(env={"A\0B": "a"})  # a name, as from a spec


def test_a_numeric_user_is_a_uid(tmp_path: Path) -> None:
    """YAML reads ``user: 1000`` as a number, which was refused; env and label values took
    numbers already."""
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("user: 1000\n")
    spec = BuildSpec.load(spec_file)
    assert spec.user == "1000"
    config = json.loads(build(spec, tmp_path / "out").config)
    assert config["config"]["User"] == "1000" and "USER 1000" in config["history"][-1]["created_by"]
    for value, shown in [(True, "true"), (1000.5, "1000.5"), ([1000], "a list")]:
        with pytest.raises(BuildSpecError, match=f"user must be a name or a UID, not {shown}"):
            BuildSpec.from_dict({"user": value})
    # YAML 1.1 reads 1001:0 as the base-60 number 60060, 01234 as the octal 668, 1.10 as
    # 1.1 and 2024-01-01 as a date: a spec keeps the text written.
    spec_file.write_text(
        "user: 1001:0\n"
        "env: {T: 1:30, N: 1, F: 1.5, ZIP: 01234, V: 1.10, H: 0x1F, B: 1_000, E: 1e3}\n"
        "labels: {created: 2024-01-01, at: 2024-01-01T10:00:00Z, ok: yes}\n"
    )
    spec = BuildSpec.load(spec_file)
    assert spec.user == "1001:0"
    assert spec.env == {
        **{"T": "1:30", "N": "1", "F": "1.5", "ZIP": "01234", "V": "1.10"},
        **{"H": "0x1F", "B": "1_000", "E": "1e3"},
    }
    # A boolean is still YAML's (written as in JSON), and null is still refused.
    assert spec.labels == {"created": "2024-01-01", "at": "2024-01-01T10:00:00Z", "ok": "true"}
    spec_file.write_text("labels: {none: ~}\n")
    with pytest.raises(BuildSpecError, match=r"labels\.none must be a string"):
        BuildSpec.load(spec_file)


def test_a_layout_base_is_found_beside_the_spec(
    base_layout: OCILayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ``oci:`` base resolves against the spec file's directory, as layers do,
    whatever directory the build runs from."""
    project = tmp_path / "project"
    shutil.copytree(base_layout.root, project / "layouts" / "base")
    (project / "m").mkdir()
    (project / "m" / "w.bin").write_bytes(b"w")
    spec_file = project / "spec.yaml"
    spec_file.write_text("base: oci:layouts/base:multi\nlayers: [{src: m, dest: /m}]\n")
    spec = BuildSpec.load(spec_file)
    assert spec.base == f"oci:{project / 'layouts' / 'base'}:multi"
    monkeypatch.chdir(tmp_path)  # not the project
    built = build(spec, tmp_path / "out")
    assert json.loads(built.manifest)["annotations"]["org.opencontainers.image.base.digest"] == (
        base_layout.read_manifest("multi").digest
    )
    registry = BuildSpec.from_dict({"base": "r.example/python:3.11"}, project)
    assert registry.base == "r.example/python:3.11"  # a registry reference is left as it is


def test_a_relative_workdir_is_under_the_current_one_as_in_docker(tmp_path: Path) -> None:
    """A runtime refuses a relative working directory: ``workdir: app`` is /app on an empty
    image and under the base's WORKDIR on another, as a Dockerfile's WORKDIR is."""
    first = build(BuildSpec.from_dict({"workdir": "srv", "tag": "a"}), tmp_path / "l")
    assert json.loads(first.config)["config"]["WorkingDir"] == "/srv"
    spec = BuildSpec.from_dict({"base": f"oci:{tmp_path / 'l'}:a", "workdir": "app/../data/"})
    config = json.loads(build(spec, tmp_path / "out").config)
    assert config["config"]["WorkingDir"] == "/srv/data"
    assert "WORKDIR /srv/data" in config["history"][-1]["created_by"]
    absolute = BuildSpec.from_dict({"base": f"oci:{tmp_path / 'l'}:a", "workdir": "/opt"})
    assert json.loads(build(absolute, tmp_path / "abs").config)["config"]["WorkingDir"] == "/opt"
    # An image built when a relative workdir was written as given is not taken as unchanged.
    assert spec.config_fields()["revised"] == ["workdir"]
    assert "revised" not in absolute.config_fields()


def _layer_names(layout: OCILayout, tag: str) -> list[str]:
    with tarfile.open(layout.blob_path(layout.read_manifest(tag).layers()[-1].digest)) as tar:
        return tar.getnames()


def test_a_relative_dest_is_under_the_working_directory_as_copy_in_docker(
    model_dir: Path, tmp_path: Path
) -> None:
    """``COPY model models/`` under ``WORKDIR /srv`` puts the files in /srv/models: the spec's
    workdir, else the base's, else /."""
    build(BuildSpec.from_dict({"workdir": "/srv", "tag": "b"}), tmp_path / "base")
    out = OCILayout.create(tmp_path / "out")
    layers = [{"src": str(model_dir / "model"), "dest": "models/"}]
    for spec, where in [
        ({"base": f"oci:{tmp_path / 'base'}:b", "tag": "on-base"}, "srv/models"),
        ({"base": f"oci:{tmp_path / 'base'}:b", "workdir": "../app", "tag": "own"}, "app/models"),
        ({"tag": "scratch"}, "models"),
    ]:
        build(BuildSpec.from_dict({**spec, "layers": layers}), out)
        assert f"{where}/weights.bin" in _layer_names(out, str(spec["tag"]))


def test_env_values_expand_variables_as_a_dockerfile_env(
    base_layout: OCILayout, tmp_path: Path
) -> None:
    """``PATH: /opt/venv/bin:$PATH`` extends the base's PATH, as ENV does in a Dockerfile;
    written as given, it left the image with no usable PATH."""
    env = {
        "PATH": "/opt/venv/bin:$PATH",
        "SEEN": "${BASE:+set} ${NOPE:-default} \\$HOME ${BASE}x $NOPE.",
        "OLD_PATH": "$PATH",  # one ENV: every value sees the variables from before it
    }
    spec = BuildSpec.from_dict({"base": f"oci:{base_layout.root}:base", "env": env})
    config = json.loads(build(spec, tmp_path / "out").config)
    assert config["config"]["Env"] == [
        "PATH=/opt/venv/bin:/usr/bin",
        "BASE=1",
        "SEEN=set default $HOME 1x .",
        "OLD_PATH=/usr/bin",
    ]
    assert "ENV PATH=/opt/venv/bin:$PATH" in config["history"][-1]["created_by"]
    assert spec.config_fields()["revised"] == ["env"]
    assert "revised" not in BuildSpec.from_dict({"env": {"A": "b"}}).config_fields()


def test_variables_in_a_word_and_the_unset_forms_expand_as_buildkit(tmp_path: Path) -> None:
    """``${NOPE:-$LANG/x}`` was written with ``$LANG`` in it, and ``${A-b}`` as it was; Docker
    expands both, and fails a build on ``${A:?message}`` when A is empty or unset."""
    env = {"LANG": "C.UTF-8", "PYTHON_VERSION": "3.11.7", "EMPTY": ""}
    build(BuildSpec.from_dict({"env": env, "tag": "b"}), tmp_path / "l")
    base = f"oci:{tmp_path / 'l'}:b"
    words = {
        "A": "${NOPE:-$LANG/x}",
        "B": "${LANG:+$PYTHON_VERSION}",
        "C": "${NOPE:-${LANG}}",
        "D": "${EMPTY-unset} ${EMPTY:-empty} ${EMPTY+set}",
    }
    spec = BuildSpec.from_dict({"base": base, "env": words})
    config = json.loads(build(spec, tmp_path / "out").config)
    assert config["config"]["Env"][3:] == ["A=C.UTF-8/x", "B=3.11.7", "C=C.UTF-8", "D= empty set"]
    # An image built when these were literal is rebuilt; the forms read as now keep their digest.
    assert spec.config_fields()["revised"] == ["env", "env-syntax"]
    same = {"PATH": "/x:$PATH", "S": "${BASE:+set} ${NOPE:-a/b} \\$HOME ${B}x $NOPE. a$ $/"}
    assert BuildSpec.from_dict({"env": same}).config_fields()["revised"] == ["env"]

    needed = BuildSpec.from_dict({"base": base, "env": {"M": "${MODEL_DIR:?mount the model}"}})
    with pytest.raises(BuildSpecError, match=r"env\.M: MODEL_DIR: mount the model"):
        build(needed, tmp_path / "out")
    with pytest.raises(BuildSpecError, match=r"env\.C: '\$\{NOPE:-\$\{LANG\}' has no closing \}"):
        BuildSpec.from_dict({"env": {"C": "${NOPE:-${LANG}"}})  # was written as given


def test_workdir_user_and_label_values_expand_the_images_env(tmp_path: Path) -> None:
    """As a Dockerfile's WORKDIR, USER and LABEL do, after the spec's env: ``workdir:
    $MODEL_DIR`` was /app/$MODEL_DIR on a base whose WORKDIR is /app."""
    base = BuildSpec.from_dict({"workdir": "/app", "env": {"UID": "1000"}, "tag": "b"})
    build(base, tmp_path / "l")
    spec = BuildSpec.from_dict(
        {
            "base": f"oci:{tmp_path / 'l'}:b",
            "env": {"MODEL_DIR": "/model"},
            "workdir": "$MODEL_DIR",
            "user": "${UID}:${GID:-100}",
            "labels": {"model": "${MODEL_DIR}/weights", "literal": "\\$MODEL_DIR"},
        }
    )
    config = json.loads(build(spec, tmp_path / "out").config)
    run = config["config"]
    assert (run["WorkingDir"], run["User"]) == ("/model", "1000:100")
    assert run["Labels"]["model"] == "/model/weights" and run["Labels"]["literal"] == "$MODEL_DIR"
    assert "WORKDIR /model; USER 1000:100" in config["history"][-1]["created_by"]
    # Images built when these were written as given are rebuilt; a spec without $ keeps its digest.
    revised = spec.config_fields()["revised"]
    assert revised == ["workdir", "workdir-vars", "user-vars", "labels-vars"]
    plain = BuildSpec.from_dict({"workdir": "/app", "user": "1000", "labels": {"a": "b"}})
    assert "revised" not in plain.config_fields()

    needed = BuildSpec.from_dict({"labels": {"model": "${MODEL_DIR:?mount the model}"}})
    with pytest.raises(BuildSpecError, match=r"labels\.model: MODEL_DIR: mount the model"):
        build(needed, tmp_path / "out")
    for key in ("workdir", "user"):
        with pytest.raises(BuildSpecError, match=rf"{key}: '\$\{{HOME' has no closing \}}"):
            BuildSpec.from_dict({key: "/srv/${HOME"})


def test_a_layers_exclude_patterns_are_compiled_once_for_a_build(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the spec is read: the walk that makes the layer, and the one that finds a rebuild
    unchanged, match with the spec's compiled patterns, as does a layer the workdir moved."""
    compiled: list[str] = []
    real = ignore._compile
    monkeypatch.setattr(ignore, "_compile", lambda raw: compiled.append(raw) or real(raw))
    layers = [{"src": str(model_dir / "model"), "dest": "models", "exclude": ["*.tmp", "!a"]}]
    spec = BuildSpec.from_dict({"workdir": "/srv", "layers": layers})
    first = build(spec, tmp_path / "out")
    again = build(spec, tmp_path / "out")
    assert again.reused and again.manifest_digest == first.manifest_digest
    assert compiled == ["*.tmp", "!a"]
    assert "srv/models/scratch.tmp" not in _layer_names(OCILayout.open(tmp_path / "out"), "latest")


def test_label_names_expand_as_their_values_do(tmp_path: Path) -> None:
    """BuildKit's LABEL expands a name as it does a value (``LABEL ${NS}.team=ml``); a spec
    wrote the name as given, so the label was literally ``${NS}.team``."""
    spec = BuildSpec.from_dict(
        {
            "env": {"NS": "com.example"},
            "labels": {"${NS}.team": "ml", "\\$literal": "x", "${NOPE:-plain}": "${NS}"},
        }
    )
    config = json.loads(build(spec, tmp_path / "out").config)
    labels = config["config"]["Labels"]
    assert labels["com.example.team"] == "ml" and labels["$literal"] == "x"
    assert labels["plain"] == "com.example" and "${NS}.team" not in labels
    assert "com.example.team" in config["history"][-1]["created_by"]
    # An image built when the names were written as given is rebuilt, not found unchanged.
    assert spec.config_fields()["revised"] == ["labels-vars", "labels-names-vars"]
    assert "revised" not in BuildSpec.from_dict({"labels": {"a.b": "c"}}).config_fields()

    with pytest.raises(BuildSpecError, match=r"labels name: '\$\{NS' has no closing \}"):
        BuildSpec.from_dict({"labels": {"${NS": "x"}})
    needed = BuildSpec.from_dict({"labels": {"${NS:?set NS}.team": "ml"}})
    with pytest.raises(BuildSpecError, match="labels name: NS: set NS"):
        build(needed, tmp_path / "needed")


def test_env_names_expand_as_buildkit_env_does(tmp_path: Path, base_layout: OCILayout) -> None:
    """``ENV ${PREFIX}_HOME=/opt`` names the variable by PREFIX's value, from before the ENV
    (the base's BASE=1 here); a spec wrote the name as given."""
    base = f"oci:{base_layout.root}:base"
    written = {"V${BASE}_HOME": "/opt/$BASE", "BASE": "2", "\\$KEPT": "x"}
    spec = BuildSpec.from_dict({"base": base, "env": written})
    config = json.loads(build(spec, tmp_path / "out").config)
    env = dict(e.split("=", 1) for e in config["config"]["Env"])
    assert env["V1_HOME"] == "/opt/1", "both from the base's BASE, as in one Dockerfile ENV"
    assert env["BASE"] == "2" and env["$KEPT"] == "x"
    assert "V${BASE}_HOME" not in env
    assert spec.config_fields()["revised"] == ["env", "env-names-vars"]
    assert "revised" not in BuildSpec.from_dict({"env": {"A": "b"}}).config_fields()

    with pytest.raises(BuildSpecError, match=r"env name: '\$\{BASE' has no closing \}"):
        BuildSpec.from_dict({"env": {"${BASE": "x"}})
    for name in ("${NOPE}", "${BASE:+}"):
        bad = BuildSpec.from_dict({"base": base, "env": {name: "x"}})
        with pytest.raises(BuildSpecError, match="expands to a name that is empty or has"):
            build(bad, tmp_path / "bad")


def test_a_variable_that_must_be_set_fails_before_any_layer_is_made(
    base_layout: OCILayout, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model_dir)
    spec = _spec(f"oci:{base_layout.root}:base", user="${APP_USER:?set APP_USER}")
    with pytest.raises(BuildSpecError, match="user: APP_USER: set APP_USER"):
        build(spec, tmp_path / "out")
    assert list((tmp_path / "out" / "blobs" / "sha256").iterdir()) == []
