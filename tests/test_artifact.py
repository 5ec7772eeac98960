"""Files as OCI artifacts: our push and pull round-trip, and ``oras`` reads ours and we read its."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tracemalloc
import zlib
from pathlib import Path

from jupyter_regauth.images import media
from jupyter_regauth.images.artifact import EMPTY_DESCRIPTOR, EMPTY_JSON, TITLE, _GunzipReader
from jupyter_regauth.images.build import build
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.manifest import Document
from jupyter_regauth.images.spec import BuildSpec
from jupyter_regauth.registry.upload import push_bytes
from jupyter_regauth.service import RegAuth

from .cli_helpers import regauth
from .conftest import Registry
from .test_push import logged_in

__all__ = ["logged_in"]


# Where scripts/build-peers puts it (resolved before a test moves HOME).
_CACHE = Path(
    os.environ.get("JUPYTER_REGAUTH_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jupyter-regauth"
)
ORAS = shutil.which("oras") or str(_CACHE / "oras" / "v1.2.3" / "oras")


def oras(registry: Registry, *args: str, cwd: Path) -> str:
    binary = ORAS
    proc = subprocess.run(
        [binary, *args, "--ca-file", str(registry.ca_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert proc.returncode == 0, f"oras {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def model_files(root: Path) -> Path:
    root.mkdir()
    (root / "model.onnx").write_bytes(os.urandom(1 << 20))
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\n" * 1000)
    (root / "tokenizer" / "merges").mkdir()
    (root / "tokenizer" / "merges" / "m.txt").write_text("a b\n")
    return root


def same_tree(a: Path, b: Path) -> None:
    files_a = {str(p.relative_to(a)): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    files_b = {str(p.relative_to(b)): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert files_a == files_b and files_a


def test_artifact_round_trip(logged_in: RegAuth, basic_registry: Registry, tmp_path: Path) -> None:
    src = model_files(tmp_path / "src")
    ref = f"{basic_registry.host}/models/demo:v1"
    pushed = regauth(
        "push-artifact",
        ref,
        "model.onnx",
        "tokenizer",
        "--artifact-type",
        "application/vnd.example.model.v1",
        "--annotation",
        "stage=test",
        cwd=src,
    )
    assert pushed.code == 0, pushed.stderr
    digest_ref = pushed.stdout.strip().splitlines()[-1]
    manifest = logged_in.inspect(digest_ref)["manifest"]
    assert manifest["artifactType"] == "application/vnd.example.model.v1"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["annotations"] == {"stage": "test"}
    titles = [
        layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]
    ]
    assert titles == ["model.onnx", "tokenizer"]
    assert manifest["layers"][1]["annotations"]["io.deis.oras.content.unpack"] == "true"

    out = tmp_path / "out"
    pulled = regauth("pull", ref, str(out), "--json")
    assert pulled.code == 0, pulled.stderr
    assert pulled.json()["reference"] == digest_ref
    same_tree(src, out)
    # Readable as oras writes them, not 0600 like a temporary file.
    assert (out / "model.onnx").stat().st_mode & 0o777 == 0o644
    assert (out / "tokenizer" / "vocab.txt").stat().st_mode & 0o777 == 0o644

    image = regauth("pull", f"{basic_registry.host}/models/demo@sha256:{'0' * 64}", str(out))
    assert image.code == 1 and "not found" in image.stderr

    # Pulled again, a directory is replaced whole: a file since deleted from it does not stay.
    (out / "tokenizer" / "stale.txt").write_text("left over")
    assert regauth("pull", ref, str(out)).code == 0
    same_tree(src, out)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    onto_file = regauth("pull", ref, str(a_file))
    assert onto_file.code == 1 and f"{a_file} is a file, not a directory" in onto_file.stderr


def test_an_artifact_is_not_pushed_to_a_digest(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    src = model_files(tmp_path / "src")
    ref = f"{basic_registry.host}/models/bydigest@sha256:{'1' * 64}"
    pushed = regauth("push-artifact", ref, "model.onnx", cwd=src)
    assert pushed.code == 1
    assert "it names a digest, which the new image will not have" in pushed.stderr
    assert "blob" not in pushed.stderr  # refused before anything was uploaded


def test_a_media_type_after_the_last_colon_is_the_layer_s_as_oras_reads_it(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """``PATH:MEDIA_TYPE`` splits at the last ``:``; a path with one in it ends with one more."""
    src = model_files(tmp_path / "src")
    (src / "c:d").write_text("a colon in its name")
    given = ["model.onnx:application/x-foo", "tokenizer:application/vnd.example.dir+gzip", "c:d:"]
    layers = {}
    for tool in ("ours", "oras"):
        ref = f"{basic_registry.host}/models/{tool}-typed:v1"
        if tool == "ours":
            pushed = regauth("push-artifact", ref, *given, cwd=src)
            assert pushed.code == 0, pushed.stderr
        else:
            oras(basic_registry, "push", ref, *given, cwd=src)
        layers[tool] = [
            (layer["mediaType"], layer["annotations"]["org.opencontainers.image.title"])
            for layer in logged_in.inspect(ref)["manifest"]["layers"]
        ]
        out = tmp_path / f"{tool}-pulled"
        out.mkdir()
        oras(basic_registry, "pull", ref, cwd=out)
        same_tree(src, out)
    assert (
        layers["ours"]
        == layers["oras"]
        == [
            ("application/x-foo", "model.onnx"),
            ("application/vnd.example.dir+gzip", "tokenizer"),
            ("application/vnd.oci.image.layer.v1.tar", "c:d"),
        ]
    )

    ref = f"{basic_registry.host}/models/typed:v2"
    colon = regauth("push-artifact", ref, "c:d", cwd=src)
    assert colon.code == 1 and "Cannot push c: 'd' is not a media type" in colon.stderr
    assert "(c:d:)" in colon.stderr  # the hint: how to name a file with a colon in it
    untyped = regauth("push-artifact", ref, "model.onnx:not a type", cwd=src)
    assert untyped.code == 1 and "'not a type' is not a media type" in untyped.stderr
    nameless = regauth("push-artifact", ref, ":application/x-foo", cwd=src)
    assert nameless.code == 1 and "No path in ':application/x-foo'" in nameless.stderr


def test_an_artifact_type_that_is_not_a_media_type_is_refused(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """As oras refuses it (``invalid media type``): RFC 6838's TYPE/SUBTYPE and nothing else."""
    src = model_files(tmp_path / "src")
    ref = f"{basic_registry.host}/models/typed:v1"
    for bad in ("not a type", "application", "application/", "/x", "a/b; charset=utf-8", "a/b\n"):
        pushed = regauth("push-artifact", ref, "model.onnx", "--artifact-type", bad, cwd=src)
        assert pushed.code == 1, bad
        assert f"The artifact type {bad!r} is not a media type" in pushed.stderr
        assert "blob" not in pushed.stderr  # refused before anything was uploaded
    ok = "application/vnd.example.model.v1+json"
    pushed = regauth("push-artifact", ref, "model.onnx", "--artifact-type", ok, cwd=src)
    assert pushed.code == 0, pushed.stderr


def test_an_annotation_given_twice_is_refused(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """As oras refuses it (``duplicate annotation key``): neither value is dropped silently."""
    src = model_files(tmp_path / "src")
    ref = f"{basic_registry.host}/models/annotated:v1"
    twice = ["--annotation", "a=1", "--annotation", "b=x", "--annotation", "a=2"]
    pushed = regauth("push-artifact", ref, "model.onnx", *twice, cwd=src)
    assert pushed.code == 1 and "duplicate annotation key 'a'" in pushed.stderr
    assert "blob" not in pushed.stderr  # refused before anything was uploaded


def titled_artifact(service: RegAuth, ref: str, titles: list[str]) -> None:
    """Push an artifact whose files have these titles, as another tool could write them."""
    host, _, rest = ref.partition("/")
    repository, _, tag = rest.partition(":")
    with service.client(host) as client:
        layers = []
        for title in titles:
            data = f"file titled {title}\n".encode()
            push_bytes(client, repository, data)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            layers.append(
                {
                    "mediaType": media.OCI_LAYER,
                    "digest": digest,
                    "size": len(data),
                    "annotations": {TITLE: title},
                }
            )
        push_bytes(client, repository, EMPTY_JSON)
        manifest = {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": "application/x-test",
            "config": EMPTY_DESCRIPTOR,
            "layers": layers,
        }
        doc = Document.build(media.OCI_MANIFEST, manifest)
        client.put_manifest(repository, tag, doc.raw, doc.media_type)


def test_every_title_is_checked_before_a_file_is_written(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """A title that points outside the directory, two files for one path, or a file under
    another file: the pull is refused before anything is written, not after the files before
    it (nor does the last of two files silently replace the first)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine").write_text("kept")
    absolute = str(tmp_path / "abs.txt")
    cases = {
        "outside": (["good.txt", "../evil.txt"], "'../evil.txt': it points outside"),
        "absolute": (["good.txt", absolute], f"{absolute!r}: it points outside"),
        "twice": (["./a.txt", "a.txt"], "'a.txt': './a.txt' is written to the same path"),
        "under": (["d/x.txt", "d"], "'d': 'd/x.txt' lies inside it, a file"),
        "over": (["d", "d/x.txt"], "'d/x.txt': it lies inside the file 'd'"),
    }
    for tag, (titles, message) in cases.items():
        ref = f"{basic_registry.host}/models/titles:{tag}"
        titled_artifact(logged_in, ref, titles)
        pulled = regauth("pull", ref, str(out))
        assert pulled.code == 1, pulled.stdout
        assert f"Refusing the file title {message}" in pulled.stderr
        assert [p.name for p in out.iterdir()] == ["mine"], tag
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out"]


def test_a_place_the_disk_refuses_is_named_not_a_traceback(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """A target under a file, or a directory where a file goes: the pull says which path it
    could not write, and leaves no temporary file."""
    ref = f"{basic_registry.host}/models/disk:v1"
    titled_artifact(logged_in, ref, ["a.txt"])
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    under = regauth("pull", ref, str(a_file / "sub"))
    assert under.code == 1 and "Traceback" not in under.stderr
    assert f"Cannot make the directory {a_file / 'sub'} to pull into: Not a directory" in (
        under.stderr
    )
    layout = regauth("pull", ref, "--oci-layout", str(a_file / "sub"))
    assert layout.code == 1 and "Traceback" not in layout.stderr
    assert f"Cannot make an OCI layout in {a_file / 'sub'}: Not a directory" in layout.stderr
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)
    in_the_way = regauth("pull", ref, str(out))
    assert in_the_way.code == 1 and "Traceback" not in in_the_way.stderr
    assert f"Cannot write {out / 'a.txt'}: Is a directory" in in_the_way.stderr
    assert [p.name for p in out.iterdir()] == ["a.txt"]


def test_a_link_out_of_the_directory_is_refused_and_nothing_is_unpacked(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    src = model_files(tmp_path / "src")
    (src / "tokenizer" / "abs").symlink_to("/etc/hostname")
    ref = f"{basic_registry.host}/models/links:v1"
    assert regauth("push-artifact", ref, "tokenizer", cwd=src).code == 0
    out = tmp_path / "out"
    pulled = regauth("pull", ref, str(out))
    assert pulled.code == 1
    assert "Refusing entry 'tokenizer/abs' of 'tokenizer'" in pulled.stderr
    assert "absolute path" in pulled.stderr
    assert not out.exists()  # made for the pull, removed with what it held when it failed
    out.mkdir()
    (out / "mine").write_text("kept")
    assert regauth("pull", ref, str(out)).code == 1
    # Neither a partial tree nor the staging directory; what was there stays.
    assert [p.name for p in out.iterdir()] == ["mine"]
    deeper = tmp_path / "new" / "deeper"
    assert regauth("pull", ref, str(deeper)).code == 1
    assert not (tmp_path / "new").exists()


def test_oras_interop(logged_in: RegAuth, basic_registry: Registry, tmp_path: Path) -> None:
    src = model_files(tmp_path / "src")
    ours = f"{basic_registry.host}/models/ours:v1"
    assert regauth("push-artifact", ours, "model.onnx", "tokenizer", cwd=src).code == 0
    (tmp_path / "by-oras").mkdir()
    oras(basic_registry, "pull", ours, cwd=tmp_path / "by-oras")
    same_tree(src, tmp_path / "by-oras")

    theirs = f"{basic_registry.host}/models/theirs:v1"
    oras(
        basic_registry,
        "push",
        theirs,
        "model.onnx",
        "tokenizer",
        "--artifact-type",
        "application/vnd.example.model.v1",
        cwd=src,
    )
    out = tmp_path / "from-oras"
    pulled = regauth("pull", theirs, str(out), "--json")
    assert pulled.code == 0, pulled.stderr
    same_tree(src, out)
    manifest = json.loads(oras(basic_registry, "manifest", "fetch", theirs, cwd=tmp_path))
    assert pulled.json()["artifact_type"] == manifest["artifactType"]


def test_a_path_is_its_title_as_oras_push_makes_it(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """The path as given, normalised, is the title, so that a pull (``oras pull`` too) writes
    the file where it was: two files of one name in two directories are two titles."""
    src = model_files(tmp_path / "src")
    for name in ("a", "b"):
        (src / name).mkdir()
        (src / name / "x").write_text(name)
    ref = f"{basic_registry.host}/models/paths:v1"
    given = ["./src/model.onnx", "src/tokenizer/merges/", "src/a/x", "src//b/x"]
    pushed = regauth("push-artifact", ref, *given, cwd=tmp_path)
    assert pushed.code == 0, pushed.stderr
    layers = logged_in.inspect(ref)["manifest"]["layers"]
    titles = [layer["annotations"]["org.opencontainers.image.title"] for layer in layers]
    assert titles == ["src/model.onnx", "src/tokenizer/merges", "src/a/x", "src/b/x"]
    expected = tmp_path / "expected" / "src"
    expected.mkdir(parents=True)
    shutil.copy(src / "model.onnx", expected)
    shutil.copytree(src / "tokenizer" / "merges", expected / "tokenizer" / "merges")
    shutil.copytree(src / "a", expected / "a")
    shutil.copytree(src / "b", expected / "b")
    (tmp_path / "by-oras").mkdir()
    oras(basic_registry, "pull", ref, cwd=tmp_path / "by-oras")
    same_tree(expected.parent, tmp_path / "by-oras")
    assert regauth("pull", ref, str(tmp_path / "by-us")).code == 0
    same_tree(expected.parent, tmp_path / "by-us")

    # The working directory itself is titled ".", and pulled into the target directory.
    whole = f"{basic_registry.host}/models/whole:v1"
    assert regauth("push-artifact", whole, ".", cwd=src).code == 0
    layers = logged_in.inspect(whole)["manifest"]["layers"]
    assert layers[0]["annotations"]["org.opencontainers.image.title"] == "."
    (tmp_path / "whole-by-oras").mkdir()
    oras(basic_registry, "pull", whole, cwd=tmp_path / "whole-by-oras")
    same_tree(src, tmp_path / "whole-by-oras")


def test_a_path_outside_the_working_directory_or_given_twice_is_refused(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """oras refuses an absolute path; one above the working directory no pull would write."""
    src = model_files(tmp_path / "src")
    ref = f"{basic_registry.host}/models/refused:v1"
    for path in (str(src / "model.onnx"), "../src/model.onnx", "tokenizer/../.."):
        pushed = regauth("push-artifact", ref, path, cwd=src)
        assert pushed.code == 1, path
        assert f"Cannot push {path}: it is outside the working directory" in pushed.stderr
    twice = regauth("push-artifact", ref, "model.onnx", "tokenizer", "./model.onnx", cwd=src)
    assert twice.code == 1
    assert "Two paths are both titled 'model.onnx'" in twice.stderr
    assert "blob" not in twice.stderr  # refused before anything was uploaded


def test_a_directory_oras_titles_by_its_path_is_pulled_there(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """``oras push REF .`` titles the directory ``.``: the target directory itself. A nested
    directory is titled by its path, and its entries lie under that path."""
    src = model_files(tmp_path / "src")
    whole = f"{basic_registry.host}/models/dot:v1"
    oras(basic_registry, "push", whole, ".", cwd=src)
    out = tmp_path / "out"
    pulled = regauth("pull", whole, str(out), "--json")
    assert pulled.code == 0, pulled.stderr
    assert [(f["title"], f["path"]) for f in pulled.json()["files"]] == [(".", str(out))]
    same_tree(src, out)
    # Pulled again, each top-level entry is replaced whole; what else the directory has stays.
    (out / "tokenizer" / "stale.txt").write_text("left over")
    (out / "mine.txt").write_text("kept")
    again = regauth("pull", whole, str(out))
    assert again.code == 0, again.stderr
    assert not (out / "tokenizer" / "stale.txt").exists()
    assert (out / "mine.txt").read_text() == "kept"

    nested = f"{basic_registry.host}/models/nested:v1"
    oras(basic_registry, "push", nested, "tokenizer/merges", cwd=src)
    out = tmp_path / "nested"
    pulled = regauth("pull", nested, str(out))
    assert pulled.code == 0, pulled.stderr
    same_tree(src / "tokenizer" / "merges", out / "tokenizer" / "merges")


def test_an_image_is_not_pulled_as_files(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    src = model_files(tmp_path / "src")
    ref = f"{basic_registry.host}/models/image:v1"
    assert regauth("push", str(src), ref, "-q").code == 0
    pulled = regauth("pull", ref, str(tmp_path / "out"))
    assert pulled.code == 1 and "it is not a file artifact" in pulled.stderr
    # The command line names its own option; the core's hint says it in words.
    assert f"Hint: pull images with `regauth pull {ref} --oci-layout DIR`" in pulled.stderr
    error = regauth("pull", ref, str(tmp_path / "out"), "--json").stderr
    assert json.loads(error)["error"]["hint"] == "pull images into an OCI layout"


def test_pull_without_a_place_or_with_two_is_a_usage_error() -> None:
    """Exit 2, as for every usage error, with what is wrong in each case."""
    neither = regauth("pull", "registry.example/models/demo:v1")
    assert neither.code == 2
    assert "one of the arguments DIR --oci-layout is required" in neither.stderr
    both = regauth("pull", "registry.example/models/demo:v1", "out", "--oci-layout", "layout")
    assert both.code == 2
    assert "argument --oci-layout: not allowed with argument DIR" in both.stderr


def test_a_layout_oras_wrote_keeps_its_entries_when_an_image_is_added(tmp_path: Path) -> None:
    """index.json entries are kept as another tool wrote them: ORAS lists an artifact with its
    ``artifactType``, which ``oras`` and others read from there."""
    (tmp_path / "f.txt").write_text("weights\n")
    layout_dir = tmp_path / "layout"
    proc = subprocess.run(
        [ORAS, "push", "--oci-layout", f"{layout_dir}:v1", "f.txt", "--artifact-type", "x/y"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    index = json.loads((layout_dir / "index.json").read_text())
    index["annotations"] = {"org.example.note": "kept"}
    (layout_dir / "index.json").write_text(json.dumps(index))
    (theirs,) = index["manifests"]
    assert theirs["artifactType"] == "x/y"

    build(BuildSpec(tag="ours"), layout_dir)
    after = json.loads((layout_dir / "index.json").read_text())
    assert after["manifests"][0] == theirs
    assert after["annotations"] == {"org.example.note": "kept"}
    assert OCILayout.open(layout_dir).ref_names() == ["v1", "ours"]


def test_a_directory_is_unpacked_without_inflating_a_whole_chunk_at_once() -> None:
    """A megabyte of gzip'd zeros (a zero-padded checkpoint) is a gigabyte inflated: the
    reader tarfile unpacks from inflates only what each read asks for."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    compressed = b"".join(deflate.compress(zeros) for _ in range(256)) + deflate.flush()
    assert len(compressed) < 2 << 20  # one registry chunk
    tracemalloc.start()
    try:
        reader = _GunzipReader(iter([compressed[:1000], compressed[1000:]]))
        total = 0
        while data := reader.read(10240):  # tarfile's stream mode reads this much
            total += len(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 256 << 20
    expected = hashlib.sha256()
    for _ in range(256):
        expected.update(zeros)
    assert reader.hash.hexdigest() == expected.hexdigest()
    assert peak < 8 << 20, f"{peak >> 20} MiB held at once"
