from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_regauth.errors import DigestMismatch
from jupyter_regauth.images.errors import ImageError
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.manifest import Descriptor, Document, Platform
from jupyter_regauth.images.source import open_base, parse_layout_ref


def test_blobs_are_verified_and_atomic(tmp_path: Path) -> None:
    layout = OCILayout.create(tmp_path / "l")
    desc = layout.write_blob([b"hello ", b"world"])
    assert desc == Descriptor("", Descriptor.of("", b"hello world").digest, 11)
    assert layout.read_blob(desc.digest) == b"hello world"
    assert list(layout.iter_blob(desc.digest, chunk_size=6)) == [b"hello ", b"world"]
    assert b"".join(layout.iter_blob(desc.digest, 6)) == b"world"  # resumed from an offset
    with pytest.raises(DigestMismatch):
        layout.write_blob(b"other", Descriptor.of("", b"expected").digest)
    assert list(layout.blobs()) == [desc.digest]  # no temp file left behind
    layout.blob_path(desc.digest).write_bytes(b"tampered")
    with pytest.raises(DigestMismatch):
        layout.read_blob(desc.digest)
    with pytest.raises(DigestMismatch):
        layout.verify_blob(desc.digest)


def test_a_killed_write_s_temporary_file_goes_with_the_next_write(tmp_path: Path) -> None:
    """A process killed mid-blob leaves its .tmp- file; a day on, the next write removes it. A
    recent one may be a write under way in another process: it stays."""
    OCILayout.create(tmp_path / "l")
    blobs = tmp_path / "l" / "blobs" / "sha256"
    killed, live = blobs / ".tmp-killed", blobs / ".tmp-live"
    killed.write_bytes(b"half a layer")
    live.write_bytes(b"being written")
    day_ago = time.time() - 86400 - 60
    os.utime(killed, (day_ago, day_ago))
    OCILayout.create(tmp_path / "l").write_blob(b"next")
    assert not killed.exists()
    assert live.read_bytes() == b"being written"


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not an OCI image layout") as err:
        OCILayout.open(tmp_path)
    assert err.value.hint
    layout = OCILayout.create(tmp_path / "l")
    with pytest.raises(ImageError, match="No image named 'x'"):
        layout.resolve("x")
    with pytest.raises(ImageError, match="is missing"):
        layout.open_blob(Descriptor.of("", b"nope").digest)


def test_ref_names_and_platforms(
    base_layout: OCILayout, image_factory: Callable[..., Document]
) -> None:
    assert sorted(base_layout.ref_names()) == ["base", "multi"]
    arm = base_layout.read_manifest("multi", Platform.parse("linux/arm64"))
    amd = base_layout.read_manifest("multi")
    assert amd.digest == base_layout.read_manifest("base").digest != arm.digest
    config = json.loads(base_layout.read_blob(arm.config().digest))
    assert config["architecture"] == "arm64"
    with pytest.raises(ImageError, match="available: linux/amd64, linux/arm64/v8"):
        base_layout.read_manifest("multi", Platform("linux", "s390x"))
    # a new image under an existing name replaces the old entry
    other = image_factory(base_layout, Platform(), {"x": b"y"})
    base_layout.put_manifest(other, "base")
    assert sorted(base_layout.ref_names()) == ["base", "multi"]
    assert base_layout.resolve("base").digest == other.digest


def test_skopeo_reads_and_copies(
    base_layout: OCILayout, tmp_path: Path, skopeo: Callable[..., str]
) -> None:
    info = json.loads(skopeo("inspect", f"oci:{base_layout.root}:base"))
    assert info["Digest"] == base_layout.resolve("base").digest
    assert info["Env"] == ["PATH=/usr/bin", "BASE=1"]
    skopeo("copy", f"oci:{base_layout.root}:multi", f"oci:{tmp_path / 'copy'}:multi", "--all")
    copied = OCILayout.open(tmp_path / "copy")
    assert copied.resolve("multi").digest == base_layout.resolve("multi").digest
    for digest in copied.blobs():
        copied.verify_blob(digest)


def test_a_ref_name_skopeo_wrote_with_slashes_and_colons_is_found(
    base_layout: OCILayout, tmp_path: Path, skopeo: Callable[..., str]
) -> None:
    """skopeo splits ``oci:DIR:REF`` at the first ``:``, so a layout it wrote may name an
    image by a whole reference; the same words find it here."""
    name = "registry.example:5000/team/model:v1"
    skopeo("copy", f"oci:{base_layout.root}:base", f"oci:{tmp_path / 'named'}:{name}")
    source = open_base(f"oci:{tmp_path / 'named'}:{name}")
    assert source is not None
    assert source.manifest().digest == base_layout.resolve("base").digest
    assert parse_layout_ref(f"oci:{tmp_path}:a:b") == (tmp_path, "a:b")
    assert parse_layout_ref(f"oci:{tmp_path}") == (tmp_path, None)
