"""``regauth copy`` and ``mirror``: a 2-platform index copied byte for byte between registries,
mounted within one registry; ``pull --oci-layout`` writes a layout skopeo reads."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from jupyter_regauth.credentials import DockerConfig
from jupyter_regauth.errors import RegAuthError
from jupyter_regauth.images import media
from jupyter_regauth.images.copy import parse_mirror_list
from jupyter_regauth.images.errors import ImageError
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.manifest import (
    Descriptor,
    Document,
    Platform,
    new_image_manifest,
    new_index,
)
from jupyter_regauth.images.progress import ProgressEvent
from jupyter_regauth.profiles import ProfileStore
from jupyter_regauth.registry.errors import NotFound
from jupyter_regauth.service import RegAuth
from jupyter_regauth.testing.registry import LocalRegistry

from .cli_helpers import regauth
from .conftest import PKI, Registry
from .test_push import blob_writes, log_size, logged_in, skopeo

__all__ = ["logged_in"]


def two_platform_layout(root: Path) -> OCILayout:
    layout = OCILayout.create(root)
    entries = []
    for platform in (Platform("linux", "amd64"), Platform("linux", "arm64", "v8")):
        layer = layout.write_blob(f"layer for {platform}".encode() * 100)
        config = Document.build(
            media.OCI_CONFIG,
            platform.to_dict() | {"rootfs": {"type": "layers", "diff_ids": [layer.digest]}},
        )
        layout.write_blob(config.raw)
        manifest = new_image_manifest(
            config.descriptor(), [Descriptor(media.OCI_LAYER, layer.digest, layer.size)]
        )
        layout.write_blob(manifest.raw)
        entries.append(manifest.descriptor(platform=platform))
    layout.put_manifest(new_index(entries), "multi")
    return layout


def test_copy_index_between_registries_and_within_one(
    logged_in: RegAuth, basic_registry: Registry, token_registry: Registry, tmp_path: Path
) -> None:
    layout = two_platform_layout(tmp_path / "layout")
    source = f"{basic_registry.host}/src/multi:1"
    skopeo("copy", "--all", f"oci:{layout.root}:multi", f"docker://{source}")
    raw = skopeo("inspect", "--raw", f"docker://{source}").encode()
    index_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    arm_digest = json.loads(raw)["manifests"][1]["digest"]

    # inspect shows the index as it is, or with --platform the image it has for that platform.
    assert regauth("inspect", source, "--json").json()["digest"] == index_digest
    picked = regauth("inspect", source, "--platform", "linux/arm64", "--json")
    assert picked.code == 0, picked.stderr
    shown = picked.json()
    assert (shown["digest"], shown["index_digest"]) == (arm_digest, index_digest)
    assert shown["platform"] == "linux/arm64/v8" and shown["config"]["architecture"] == "arm64"
    missing = regauth("inspect", source, "--platform", "linux/s390x")
    assert missing.code == 1
    assert "No image for platform linux/s390x in the index" in missing.stderr
    assert "available: linux/amd64, linux/arm64/v8" in missing.stderr

    across = regauth("copy", source, f"{token_registry.host}/dst/multi:2", "--json")
    assert across.code == 0, across.stderr
    result = across.json()
    assert result["digest"] == index_digest
    assert result["reference"] == f"{token_registry.host}/dst/multi@{index_digest}"
    assert result["manifests"] == 3 and result["blobs"] == {"uploaded": 4}
    copied = logged_in.inspect(f"{token_registry.host}/dst/multi:2")
    assert copied["digest"] == index_digest
    for child in json.loads(raw)["manifests"]:
        got = logged_in.inspect(f"{token_registry.host}/dst/multi@{child['digest']}")
        assert got["digest"] == child["digest"] and got["config"]["os"] == "linux"

    mark = log_size(basic_registry.server)
    within = regauth("copy", source, f"{basic_registry.host}/other/multi:3", "--json")
    assert within.code == 0, within.stderr
    assert within.json()["blobs"] == {"mounted": 4}
    assert all("mount=" in line for line in blob_writes(basic_registry.server, mark))

    one = regauth("copy", "--platform", "linux/arm64", source, f"{basic_registry.host}/arm/only")
    assert one.code == 0, one.stderr
    arm = logged_in.inspect(f"{basic_registry.host}/arm/only:1")
    assert arm["config"]["architecture"] == "arm64" and arm["digest"] != index_digest

    # A single-platform image has no other platform to give: asking for one is an error, for a
    # copy and for a build on it (which would otherwise label arm64 content as amd64).
    wrong = regauth(
        "copy",
        "--platform",
        "linux/amd64",
        f"{basic_registry.host}/arm/only:1",
        f"{basic_registry.host}/x/y",
    )
    assert wrong.code == 1
    assert "is a single-platform image for linux/arm64/v8, not linux/amd64" in wrong.stderr
    single = regauth("inspect", f"{basic_registry.host}/arm/only:1", "--platform", "linux/amd64")
    assert single.code == 1
    assert "arm/only:1 is a single-platform image for linux/arm64/v8, not" in single.stderr
    same = regauth("inspect", f"{basic_registry.host}/arm/only:1", "--platform", "linux/arm64")
    assert same.code == 0 and same.json()["digest"] == arm["digest"]
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"w")
    on_arm = f"{basic_registry.host}/arm/only:1"
    build = regauth("push", str(model), f"{basic_registry.host}/x/y:1", "--base", on_arm)
    assert build.code == 1
    assert f"The base image {on_arm} is a single-platform image for linux/arm64/v8" in build.stderr
    assert "ask for platform linux/arm64/v8" in build.stderr
    ok = regauth(
        "push",
        str(model),
        f"{basic_registry.host}/x/y:1",
        "--base",
        on_arm,
        "--platform",
        "linux/arm64",
    )
    assert ok.code == 0, ok.stderr
    assert logged_in.inspect(f"{basic_registry.host}/x/y:1")["config"]["architecture"] == "arm64"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {on_arm}\nlayers: [{{src: {model}, dest: /m}}]\n")
    refused = regauth("build", str(spec), f"{basic_registry.host}/x/z:1")
    assert refused.code == 1 and "is a single-platform image for linux/arm64/v8" in refused.stderr
    built = regauth("build", str(spec), f"{basic_registry.host}/x/z:1", "--platform", "linux/arm64")
    assert built.code == 0, built.stderr
    assert logged_in.inspect(f"{basic_registry.host}/x/z:1")["config"]["architecture"] == "arm64"


def test_mirror_list_and_pull_to_layout(
    logged_in: RegAuth, basic_registry: Registry, token_registry: Registry, tmp_path: Path
) -> None:
    layout = two_platform_layout(tmp_path / "layout")
    skopeo("copy", "--all", f"oci:{layout.root}:multi", f"docker://{basic_registry.host}/m/a:1")
    listing = tmp_path / "images.txt"
    listing.write_text(
        f"# images the team needs\n{basic_registry.host}/m/a:1\n"
        f"{basic_registry.host}/m/a:1  {token_registry.host}/renamed/a:v1\n\n"
    )
    run = regauth(
        "mirror",
        "-f",
        str(listing),
        token_registry.host,
        "--digest-file",
        str(tmp_path / "digests"),
    )
    assert run.code == 0, run.stderr
    digests = (tmp_path / "digests").read_text().split()
    assert len(digests) == 2 and digests[0] == digests[1]
    assert logged_in.tags(f"{token_registry.host}/m/a") == ["1"]
    assert logged_in.tags(f"{token_registry.host}/renamed/a") == ["v1"]

    # HOST/PREFIX: lines without a destination go under the prefix, as with skopeo sync.
    listing.write_text(f"{basic_registry.host}/m/a:1\n")
    prefixed = regauth("mirror", "-f", str(listing), f"{token_registry.host}/mirror/")
    assert prefixed.code == 0, prefixed.stderr
    assert logged_in.tags(f"{token_registry.host}/mirror/m/a") == ["1"]
    bad_prefix = regauth("mirror", "-f", str(listing), f"{token_registry.host}/Mirror")
    assert bad_prefix.code == 1
    assert f"invalid reference '{token_registry.host}/Mirror'" in bad_prefix.stderr

    out = tmp_path / "pulled"
    pulled = regauth("pull", f"{token_registry.host}/renamed/a:v1", "--oci-layout", str(out))
    assert pulled.code == 0, pulled.stderr
    raw = skopeo("inspect", "--raw", f"oci:{out}:v1").encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digests[0]
    arm = json.loads(skopeo("inspect", "--override-arch", "arm64", f"oci:{out}:v1"))
    assert arm["Architecture"] == "arm64"

    bad = tmp_path / "bad.txt"
    bad.write_text("a b c\n")
    failed = regauth("mirror", "-f", str(bad), token_registry.host)
    assert failed.code == 1 and "line 1 has 3 words" in failed.stderr
    # A bad reference says on which line it is, and the lines before it are not copied.
    bad.write_text(f"{basic_registry.host}/m/a:1 {token_registry.host}/early/a:1\n\nTeam/A:1\n")
    failed = regauth("mirror", "-f", str(bad), token_registry.host)
    assert failed.code == 1
    assert "mirror list line 3: invalid reference 'Team/A:1'" in failed.stderr
    assert "early/a" not in logged_in.catalog(token_registry.host)
    # A source that is not there: its line is named, and what was copied before it.
    bad.write_text(
        f"{basic_registry.host}/m/a:1 {token_registry.host}/early/a:1\n# next\n"
        f"{basic_registry.host}/m/missing:1\n"
    )
    failed = regauth("mirror", "-f", str(bad), token_registry.host)
    assert failed.code == 1
    assert f"mirror list line 3 ({basic_registry.host}/m/missing:1): " in failed.stderr
    assert "the 1 line(s) before it were copied" in failed.stderr
    assert logged_in.tags(f"{token_registry.host}/early/a") == ["1"]


def test_pull_to_a_layout_by_digest_and_its_errors(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    layout = two_platform_layout(tmp_path / "layout")
    skopeo("copy", "--all", f"oci:{layout.root}:multi", f"docker://{basic_registry.host}/p/a:1")
    raw = skopeo("inspect", "--raw", f"docker://{basic_registry.host}/p/a:1").encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()

    # By digest there is no tag to name it by: it is listed without a name, as skopeo does.
    out = tmp_path / "by-digest"
    pulled = regauth("pull", f"{basic_registry.host}/p/a@{digest}", "--oci-layout", str(out))
    assert pulled.code == 0, pulled.stderr
    listed = json.loads((out / "index.json").read_text())["manifests"]
    assert [(d["digest"], d.get("annotations")) for d in listed] == [(digest, None)]
    raw = skopeo("inspect", "--raw", f"oci:{out}").encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    # Copied on from that unnamed entry without a tag, it is tagged latest, as skopeo does.
    again = regauth("copy", f"oci:{out}", f"{basic_registry.host}/p/d")
    assert again.code == 0, again.stderr
    assert logged_in.tags(f"{basic_registry.host}/p/d") == ["latest"]

    missing = tmp_path / "missing"
    run = regauth("pull", f"{basic_registry.host}/p/a:nope", "--oci-layout", str(missing))
    assert run.code == 1 and "not found" in run.stderr
    assert not missing.exists()  # no empty layout left behind

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    run = regauth("pull", f"{basic_registry.host}/p/a:1", "--oci-layout", str(a_file))
    assert run.code == 1, run.stderr
    assert f"{a_file} is a file, not a directory for an OCI layout" in run.stderr

    # A digest file that cannot be written is refused before anything is done.
    nowhere = tmp_path / "no-such-dir"
    for place, why in ((nowhere, "does not exist"), (a_file, "is not a directory")):
        run = regauth(
            "copy",
            f"{basic_registry.host}/p/a:1",
            f"{basic_registry.host}/p/b:1",
            "--digest-file",
            str(place / "digest"),
        )
        assert run.code == 1
        assert f"cannot write the digest file: {place} {why}" in run.stderr
    assert "p/b" not in logged_in.catalog(basic_registry.host)

    # A layout missing a blob says so, for a copy from it.
    (layout.blob_path(layout.read_manifest("multi", Platform()).layers()[0].digest)).unlink()
    run = regauth("copy", f"oci:{layout.root}:multi", f"{basic_registry.host}/p/c:1")
    assert run.code == 1, run.stderr
    assert "is missing from" in run.stderr and "the layout is incomplete" in run.stderr


def test_copy_from_an_oci_layout(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """`regauth copy oci:DIR:REF REF` pushes a prebuilt layout, as `skopeo copy oci:` does."""
    layout = two_platform_layout(tmp_path / "layout")
    index_digest = layout.resolve("multi").digest
    target = f"{basic_registry.host}/fromlayout/multi:1"
    run = regauth("copy", f"oci:{layout.root}:multi", target, "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["digest"] == index_digest and result["manifests"] == 3
    assert result["blobs"] == {"uploaded": 4}
    raw = skopeo("inspect", "--raw", f"docker://{target}").encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == index_digest
    again = regauth("copy", f"oci:{layout.root}:multi", target, "--json")
    assert again.code == 0 and again.json()["blobs"] == {"exists": 4}
    missing = regauth("copy", f"oci:{layout.root}:nope", target)
    assert missing.code == 1 and "nope" in missing.stderr

    # A destination named by another digest than the copy's is refused before anything is
    # sent (the image would go in under its own digest, not the one asked for).
    child = layout.read_manifest("multi", Platform()).digest
    pinned = f"{basic_registry.host}/pinned/multi@{child}"
    wrong = regauth("copy", f"oci:{layout.root}:multi", pinned)
    assert wrong.code == 1
    assert f"is {index_digest}, not the {child} the destination names" in wrong.stderr
    assert "pinned/multi" not in logged_in.catalog(basic_registry.host)
    one = regauth("copy", "--platform", "linux/amd64", f"oci:{layout.root}:multi", pinned)
    assert one.code == 0, one.stderr


def test_a_broken_index_json_is_named_before_anything_is_copied(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """An index.json that is not JSON, or whose manifests are not descriptors: a copy from the
    layout and a pull into it say which file is broken (not a traceback), before any blob."""
    source = f"{basic_registry.host}/broken/src:1"
    own, _ = random_image_layout(tmp_path / "src", (1 << 10,))  # blobs no layout below has
    logged_in.copy(f"oci:{own.root}:v1", source)
    for n, text in enumerate(["{bad", "[]", '{"manifests": 5}', '{"manifests": [7]}']):
        layout = two_platform_layout(tmp_path / f"layout-{n}")
        index = layout.root / "index.json"
        index.write_text(text)
        blobs = sorted(layout.blobs())
        copied = regauth("copy", f"oci:{layout.root}:multi", f"{basic_registry.host}/broken/a")
        pulled = regauth("pull", source, "--oci-layout", str(layout.root))
        for run in (copied, pulled):
            assert run.code == 1 and "Traceback" not in run.stderr, text
            assert f"Error: {index} is corrupt: " in run.stderr, text
        assert sorted(layout.blobs()) == blobs and index.read_text() == text
    assert "broken/a" not in logged_in.catalog(basic_registry.host)


def test_a_corrupt_layout_blob_is_refused_and_not_stored(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    layout = two_platform_layout(tmp_path / "layout")
    arm = layout.read_manifest("multi", Platform("linux", "arm64", "v8"))
    (layer,) = arm.layers()
    blob = layout.blob_path(layer.digest)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF  # same size, other bytes: only the hash can tell
    blob.write_bytes(bytes(data))
    target = f"{basic_registry.host}/corrupt/multi:1"
    run = regauth("copy", f"oci:{layout.root}:multi", target)
    assert run.code == 1
    assert f"the content sent as {layer.digest} hashes to something else" in run.stderr
    assert "Hint: the source's copy of that blob is corrupt" in run.stderr
    with logged_in.client(basic_registry.host) as client:
        assert client.head_blob("corrupt/multi", layer.digest) is None
        with pytest.raises(NotFound):  # no tag: the index was never written
            client.get_manifest("corrupt/multi", "1")


def test_pull_to_a_layout_reports_each_blob_as_it_is_written(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """A large layer written into a layout shows its bytes rising to its size, as an upload's
    do: how much of it has been written, never a chunk's length or more than the blob."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(24 << 20))
    ref = f"{basic_registry.host}/team/pulled:v1"
    logged_in.push_directory(model, ref)
    seen: list[ProgressEvent] = []
    logged_in.pull(ref, tmp_path / "out", oci_layout=True, progress=seen.append)
    written = [e for e in seen if e.kind == "blob" and e.state == "uploading"]
    assert written, "no progress while the layer was written"
    assert len({e.id for e in written}) == 1
    done = [e.bytes_done for e in written]
    assert done == sorted(done) and done[-1] >= 16 << 20
    assert all(e.bytes_total is not None and e.bytes_done <= e.bytes_total for e in written)


def test_a_copy_resumes_when_the_source_drops_mid_blob(
    pki: PKI, tmp_path: Path, docker_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The source registry restarts while a layer streams from it: the copy takes the blob again
    from the source and goes on where the target's upload stopped, to the same digests."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(24 << 20))
    source = LocalRegistry(tmp_path / "source", ca=pki.ca)
    target = LocalRegistry(tmp_path / "target", ca=pki.ca)
    restarted: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        if event.state == "uploading" and event.bytes_done >= 8 << 20 and not restarted:
            restarted.append(event)
            # Killed, not stopped: a graceful stop lets the response in flight finish.
            assert source.process is not None
            source.process.kill()
            source.process.wait()
            source.stop()
            source.start()

    with source, target:
        profiles = ProfileStore(
            registries=[{"host": r.host, "ca_file": str(pki.ca_file)} for r in (source, target)]
        )
        service = RegAuth(profiles=profiles, docker_config=DockerConfig(docker_config))
        pushed = service.push_directory(model, f"{source.host}/team/big:v1")
        copied = service.copy(
            f"{source.host}/team/big:v1", f"{target.host}/team/big:v1", progress=progress
        )
        assert restarted, "the source was restarted mid-blob"
        assert "resuming upload to team/big" in caplog.text
        assert copied.digest == pushed.digest
        assert service.inspect(f"{target.host}/team/big:v1")["digest"] == pushed.digest
        # The target verified the layer's digest when its upload completed.


def random_image_layout(
    root: Path, sizes: tuple[int, ...], tag: str = "v1"
) -> tuple[OCILayout, list[str]]:
    """An image of incompressible layers of ``sizes`` under ``tag``, and its config's and
    layers' digests (its own content: no other test's image shares a blob with it)."""
    layout = OCILayout.create(root)
    layers = [layout.write_blob(os.urandom(size)) for size in sizes]
    config = Document.build(
        media.OCI_CONFIG,
        Platform().to_dict()
        | {"rootfs": {"type": "layers", "diff_ids": [d.digest for d in layers]}},
    )
    layout.write_blob(config.raw)
    descriptors = [Descriptor(media.OCI_LAYER, d.digest, d.size) for d in layers]
    layout.put_manifest(new_image_manifest(config.descriptor(), descriptors), tag)
    return layout, [config.digest, *(d.digest for d in layers)]


def registry_blob(server: LocalRegistry, digest: str) -> Path:
    """Where the distribution registry's filesystem storage keeps a blob's bytes."""
    hex_digest = digest.removeprefix("sha256:")
    return (
        server.workdir
        / "data/docker/registry/v2/blobs/sha256"
        / hex_digest[:2]
        / hex_digest
        / "data"
    )


def left_behind(root: Path) -> dict[str, bytes]:
    """The files a failed pull left in its layout's blob directory, each checked to be a whole,
    verified blob under its digest (no temporary file, no partial one)."""
    blobs = {p.name: p.read_bytes() for p in (root / "blobs" / "sha256").iterdir()}
    for name, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == name, f"{name} is not the blob it is named by"
    return blobs


def test_a_pull_that_fails_on_a_corrupt_blob_leaves_no_layout_but_verified_blobs(
    logged_in: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    """The registry serves one layer with other bytes: the pull fails, and what it leaves is
    the other blobs, each verified under its digest, and neither index.json nor oci-layout, so
    nothing takes the directory for a layout with that image. Pulled again, once the registry
    has the layer right, only that layer is fetched."""
    source, (config, *layers) = random_image_layout(tmp_path / "src", (64 << 10,) * 3)
    ref = f"{basic_registry.host}/failed/pull:v1"
    logged_in.copy(f"oci:{source.root}:v1", ref)  # as it is: skopeo would compress the layers
    stored = registry_blob(basic_registry.server, layers[1])
    good = stored.read_bytes()
    stored.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])  # same size, other bytes

    out = tmp_path / "pulled"
    run = regauth("pull", ref, "--oci-layout", str(out))
    assert run.code == 1 and f"does not hash to {layers[1]}" in run.stderr
    kept = left_behind(out)
    assert set(kept) == {d.removeprefix("sha256:") for d in (config, layers[0], layers[2])}
    assert not (out / "index.json").exists() and not (out / "oci-layout").exists()
    with pytest.raises(ImageError, match="is not an OCI image layout"):
        OCILayout.open(out)

    # Into a layout that holds an image already: its index.json is left as it was.
    other, _ = random_image_layout(tmp_path / "other", (1 << 10,), "old")
    index = (other.root / "index.json").read_bytes()
    run = regauth("pull", ref, "--oci-layout", str(other.root))
    assert run.code == 1 and f"does not hash to {layers[1]}" in run.stderr
    assert (other.root / "index.json").read_bytes() == index
    assert layers[1].removeprefix("sha256:") not in left_behind(other.root)
    skopeo("inspect", f"oci:{other.root}:old")

    stored.write_bytes(good)
    again = regauth("pull", ref, "--oci-layout", str(out), "--json")
    assert again.code == 0, again.stderr
    assert again.json()["blobs"] == {"exists": 3, "uploaded": 1}
    assert json.loads(skopeo("inspect", f"oci:{out}:v1"))["Layers"] == layers
    pulled = OCILayout.open(out)
    for digest in pulled.blobs():
        pulled.verify_blob(digest)


def test_a_pull_cut_off_mid_blob_leaves_no_part_of_it(
    pki: PKI, tmp_path: Path, docker_config: Path
) -> None:
    """The registry is killed while a large layer streams into the layout: the pull fails,
    no part of that layer is left under its digest (or under any name), and no layout files
    are written. Pulled again once the registry is back, the blobs kept are not fetched again."""
    source, (config, small, big) = random_image_layout(tmp_path / "src", (64 << 10, 24 << 20))
    server = LocalRegistry(tmp_path / "registry", ca=pki.ca)
    killed: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        cut = event.id == big and event.state == "uploading" and event.bytes_done >= 8 << 20
        if cut and not killed:
            killed.append(event)
            assert server.process is not None
            server.process.kill()  # not stopped: a graceful stop lets the response finish
            server.process.wait()

    with server:
        profiles = ProfileStore(registries=[{"host": server.host, "ca_file": str(pki.ca_file)}])
        service = RegAuth(profiles=profiles, docker_config=DockerConfig(docker_config))
        ref = f"{server.host}/team/cut:v1"
        service.copy(f"oci:{source.root}:v1", ref)
        out = tmp_path / "pulled"
        with pytest.raises(RegAuthError):
            service.pull(ref, out, oci_layout=True, progress=progress)
        assert killed, "the registry was killed mid-blob"
        kept = left_behind(out)
        assert big.removeprefix("sha256:") not in kept
        assert set(kept) <= {config.removeprefix("sha256:"), small.removeprefix("sha256:")}
        assert not (out / "index.json").exists() and not (out / "oci-layout").exists()

        server.stop()
        server.start()
        again = service.pull(ref, out, oci_layout=True)
        assert again["blobs"].get("exists", 0) == len(kept)
        pulled = OCILayout.open(out)
        assert pulled.resolve("v1").digest == source.resolve("v1").digest
        for digest in pulled.blobs():
            pulled.verify_blob(digest)


def test_mirror_list_destinations_are_in_the_target_host() -> None:
    """A host with neither dot nor port (a cluster's "registry") is still the host, not a
    Docker Hub namespace; digests and tags are kept, under the prefix when there is one."""
    digest = f"sha256:{'a' * 64}"
    listing = f"quay.io/team/app:1\nubuntu@{digest}\nghcr.io/x/y:2 other.example/z:3 # renamed\n"
    assert parse_mirror_list(listing, "registry") == [
        ("quay.io/team/app:1", "registry/team/app:1", 1),
        (f"docker.io/library/ubuntu@{digest}", f"registry/library/ubuntu@{digest}", 2),
        ("ghcr.io/x/y:2", "other.example/z:3", 3),
    ]
    assert parse_mirror_list("quay.io/team/app:1", "registry", "mirror/quay")[0][1] == (
        "registry/mirror/quay/team/app:1"
    )
