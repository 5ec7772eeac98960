from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_regauth.images import media
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.manifest import (
    Descriptor,
    Document,
    Platform,
    new_image_manifest,
    new_index,
)


def make_tar_gz(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip layer made with the standard library, and its diff_id."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), Descriptor.of("", tar_bytes).digest


def add_image(
    layout: OCILayout, platform: Platform, files: dict[str, bytes], docker: bool = False
) -> Document:
    """Write a one-layer image for ``platform`` into ``layout`` (blobs only) and return its
    manifest."""
    mt = media.DOCKER_MANIFEST if docker else media.OCI_MANIFEST
    config_type = media.DOCKER_CONFIG if docker else media.OCI_CONFIG
    layer_type = media.DOCKER_LAYER_GZIP if docker else media.OCI_LAYER_GZIP
    blob, diff_id = make_tar_gz(files)
    layer = layout.write_blob(blob)
    config = platform.to_dict() | {
        "config": {"Env": ["PATH=/usr/bin", "BASE=1"], "Cmd": ["sh"], "Labels": {"base": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "base layer"}],
    }
    config_doc = Document.build(config_type, config)
    layout.write_blob(config_doc.raw)
    manifest = new_image_manifest(
        config_doc.descriptor(),
        [Descriptor(layer_type, layer.digest, layer.size)],
        mt,
    )
    layout.write_blob(manifest.raw)
    return manifest


@pytest.fixture
def base_layout(tmp_path: Path) -> OCILayout:
    """A layout with ``base`` (an image) and ``multi`` (an index of amd64 and arm64/v8)."""
    layout = OCILayout.create(tmp_path / "base")
    amd = add_image(layout, Platform("linux", "amd64"), {"etc/os": b"amd64\n"})
    arm = add_image(layout, Platform("linux", "arm64", "v8"), {"etc/os": b"arm64\n"})
    layout.put_manifest(amd, "base")
    index = new_index(
        [
            amd.descriptor(platform=Platform("linux", "amd64")),
            arm.descriptor(platform=Platform("linux", "arm64", "v8")),
        ]
    )
    layout.put_manifest(index, "multi")
    return layout


@pytest.fixture
def image_factory() -> Callable[..., Document]:
    return add_image


@pytest.fixture
def skopeo() -> Callable[..., str]:
    def run(*args: str) -> str:
        proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    return run
