"""zstd layers: the same tar as gzip's (so the same diff_id), reproducible whatever the number of
zstd workers, and chosen only by name."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from jupyter_regauth.images import media
from jupyter_regauth.images.build import build, content_digest
from jupyter_regauth.images.compression import layer_compressor
from jupyter_regauth.images.errors import BuildSpecError
from jupyter_regauth.images.layer import LayerInfo, LayerSource, write_layer
from jupyter_regauth.images.layout import OCILayout
from jupyter_regauth.images.spec import BuildSpec


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(os.urandom(5 << 20))
    (root / "sub" / "vocab.txt").write_text("token\n" * 400_000)
    os.symlink("sub/vocab.txt", root / "link")
    return root


def layer(tree: Path, compression: str, threads: int | None = None) -> tuple[bytes, LayerInfo]:
    out = io.BytesIO()
    with layer_compressor(compression, threads=threads) as compressor:
        info = write_layer([LayerSource(tree, "/model")], out, compressor=compressor)
    return out.getvalue(), info


def test_zstd_layer_is_the_gzip_tar_and_reproducible(tree: Path) -> None:
    blob, info = layer(tree, "zstd", threads=1)
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    assert info.media_type == media.OCI_LAYER_ZSTD
    assert info.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert info.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (info.size, info.uncompressed_size) == (len(blob), len(raw))
    assert info.size < info.uncompressed_size * 0.75  # the text compressed
    _, gzipped = layer(tree, "gzip")
    assert gzipped.media_type == media.OCI_LAYER_GZIP and gzipped.diff_id == info.diff_id
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.extractfile("model/sub/vocab.txt").read() == b"token\n" * 400_000  # type: ignore[union-attr]
        assert tar.getmember("model/link").linkname == "sub/vocab.txt"
    assert layer(tree, "zstd", threads=3)[0] == blob  # as many workers as there are cores


def test_compression_is_a_spec_key_and_part_of_the_content_digest(
    tree: Path, tmp_path: Path
) -> None:
    spec = BuildSpec.from_dict({"layers": [{"src": str(tree), "dest": "/m"}]})
    zstd = BuildSpec.from_dict(
        {"layers": [{"src": str(tree), "dest": "/m"}], "compression": "zstd"}
    )
    assert (spec.compression, zstd.compression) == ("gzip", "zstd")
    # gzip leaves the digest as it was before there was a choice; zstd changes it.
    assert "compression" not in spec.config_fields()
    assert content_digest(spec, None, [], "t") != content_digest(zstd, None, [], "t")

    built = build(zstd, tmp_path / "out")
    manifest = OCILayout.open(tmp_path / "out").read_manifest("latest")
    assert [d.media_type for d in manifest.layers()] == [media.OCI_LAYER_ZSTD]
    assert build(zstd, tmp_path / "out").manifest_digest == built.manifest_digest  # reused

    with pytest.raises(BuildSpecError, match="compression must be gzip or zstd, not 'lz4'"):
        BuildSpec.from_dict({"compression": "lz4"})
    with pytest.raises(ValueError, match="zstd level 0 is not 1-19"):
        layer_compressor("zstd", level=0)
    with pytest.raises(ValueError, match="unknown layer compression"):
        layer_compressor("xz")
