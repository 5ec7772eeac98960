from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from jupyter_regauth.images.errors import ImageError
from jupyter_regauth.images.layer import (
    Entry,
    LayerInfo,
    LayerSource,
    LayerStream,
    diff_id_of,
    plan,
    source_date_epoch,
    tar_blocks,
    write_layer,
)
from jupyter_regauth.images.layer import _header as tar_header
from jupyter_regauth.images.progress import ProgressEvent


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "config.json").write_text('{"a": 1}')
    (root / "config.json").chmod(0o600)
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o700)
    (root / "sub" / "deep" / "note.txt").write_text("deep")
    (root / "sub" / "deep").chmod(0o700)
    os.symlink("sub/deep/note.txt", root / "link")
    os.link(root / "config.json", root / "sub" / "hard.json")
    return root


def layer_bytes(sources: list[LayerSource], threads: int | None = None) -> tuple[bytes, LayerInfo]:
    out = io.BytesIO()
    info = write_layer(sources, out, threads=threads)
    return out.getvalue(), info


def members(blob: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_digests_match_independent_computation(tree: Path) -> None:
    blob, info = layer_bytes([LayerSource(tree, "/model")])
    raw = gzip.decompress(blob)
    assert info.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert info.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert info.size == len(blob)
    assert info.uncompressed_size == len(raw)
    assert diff_id_of([LayerSource(tree, "/model")]) == info.diff_id


def test_layer_is_byte_for_byte_deterministic(tree: Path, tmp_path: Path) -> None:
    first, _ = layer_bytes([LayerSource(tree, "/model")], threads=1)
    os.utime(tree / "weights.bin", (1, 1))  # mtimes and thread counts do not matter
    second, _ = layer_bytes([LayerSource(tree, "/model")], threads=3)
    assert first == second


def test_tar_extracts_to_exact_files(tree: Path, tmp_path: Path) -> None:
    blob, _ = layer_bytes([LayerSource(tree, "/opt/model")])
    m = members(blob)
    names = list(m)
    assert names == sorted(names)
    assert names[:3] == ["opt", "opt/model", "opt/model/config.json"]
    for name, info in m.items():
        assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", 0), name
    assert m["opt"].isdir() and m["opt"].mode == 0o755
    assert m["opt/model/sub/deep"].isdir() and m["opt/model/sub/deep"].mode == 0o755
    assert m["opt/model/empty"].isdir()
    assert m["opt/model/config.json"].mode == 0o644
    assert m["opt/model/run.sh"].mode == 0o755
    assert m["opt/model/link"].issym() and m["opt/model/link"].linkname == "sub/deep/note.txt"
    hard = m["opt/model/sub/hard.json"]
    assert hard.islnk() and hard.linkname == "opt/model/config.json"

    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        tar.extractall(out, filter="tar")
    model = out / "opt" / "model"
    assert (model / "weights.bin").read_bytes() == (tree / "weights.bin").read_bytes()
    assert (model / "link").is_symlink() and (model / "link").read_text() == "deep"
    assert os.stat(model / "sub" / "hard.json").st_ino == os.stat(model / "config.json").st_ino
    assert os.access(model / "run.sh", os.X_OK)


def test_excludes_with_globstar_and_negation(tree: Path) -> None:
    (tree / "sub" / "deep" / "keep.tmp").write_text("k")
    (tree / "sub" / "x.tmp").write_text("x")
    (tree / "cache").mkdir()
    (tree / "cache" / "big").write_text("c")
    blob, _ = layer_bytes(
        [LayerSource(tree, "/m", ["**/*.tmp", "!sub/deep/keep.tmp", "cache", "run.sh"])]
    )
    names = set(members(blob))
    assert "m/sub/x.tmp" not in names
    assert "m/sub/deep/keep.tmp" in names
    assert not {"m/cache", "m/cache/big", "m/run.sh"} & names
    assert "m/weights.bin" in names


def test_single_file_sources(tree: Path) -> None:
    blob, _ = layer_bytes(
        [
            LayerSource(tree / "run.sh", "/usr/local/bin/serve"),
            LayerSource(tree / "config.json", "/etc/app/"),
        ]
    )
    m = members(blob)
    assert m["usr/local/bin/serve"].mode == 0o755
    assert m["etc/app/config.json"].isfile()
    assert m["usr/local"].isdir()


def test_source_date_epoch(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert source_date_epoch() == 1700000000
    blob, _ = layer_bytes([LayerSource(tree, "/m")])
    assert {i.mtime for i in members(blob).values()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ImageError, match="SOURCE_DATE_EPOCH"):
        source_date_epoch()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "253402300799")  # 9999-12-31T23:59:59Z
    blob, _ = layer_bytes([LayerSource(tree, "/m")])
    assert {i.mtime for i in members(blob).values()} == {253402300799}
    # Out of range was a traceback from the created time; negative was taken as 0.
    for value in ("99999999999999", "-1"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
        with pytest.raises(ImageError, match=f"SOURCE_DATE_EPOCH='{value}' is not a time from"):
            source_date_epoch()


def test_stream_equals_file_and_reports_progress(tree: Path) -> None:
    blob, info = layer_bytes([LayerSource(tree, "/model")])
    events: list[ProgressEvent] = []
    stream = LayerStream([LayerSource(tree, "/model")], progress=events.append, name="model")
    with pytest.raises(ImageError, match="not been fully read"):
        _ = stream.result
    assert b"".join(stream) == blob
    assert stream.result == info
    assert events[0].state == "compressing" and events[-1].state == "done"
    assert events[-1].bytes_done == events[-1].bytes_total == stream.total
    assert {e.id for e in events} == {"model"}


def test_stream_closed_early_stops_its_threads(tree: Path) -> None:
    before = set(threading.enumerate())
    stream = LayerStream([LayerSource(tree, "/model")], level=0)
    it = iter(stream)
    next(it)
    assert set(threading.enumerate()) - before  # the reader and the deflate threads
    stream.close()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ImageError, match="not been fully read"):
        _ = stream.result


def test_bad_sources_raise_clear_errors(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(ImageError, match="Cannot read layer source") as err:
        layer_bytes([LayerSource(tmp_path / "missing", "/m")])
    assert err.value.hint
    with pytest.raises(ImageError, match=r"Two sources write /m/run\.sh"):
        layer_bytes([LayerSource(tree, "/m"), LayerSource(tree / "run.sh", "/m/")])
    os.mkfifo(tree / "pipe")
    with pytest.raises(ImageError, match="special file"):
        layer_bytes([LayerSource(tree, "/m")])
    blob, _ = layer_bytes([LayerSource(tree, "/m", ["pipe"])])
    assert "m/pipe" not in members(blob)
    entries = plan([LayerSource(tree, "/m", ["pipe"])])
    (tree / "run.sh").unlink()  # gone (or unreadable) between the walk and the read
    with pytest.raises(ImageError, match=r"Cannot read .*run\.sh: No such file") as err:
        b"".join(tar_blocks(entries))
    assert err.value.hint == "make it readable, or exclude it from the layer"


def tarfile_header(entry: Entry, mtime: int) -> bytes:
    """What Python's tarfile writes for the entry in PAX format."""
    info = tarfile.TarInfo(entry.path)
    info.type = entry.type
    info.mode = entry.mode
    info.size = entry.size if entry.type == tarfile.REGTYPE else 0
    info.mtime = mtime
    info.linkname = entry.linkname
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "entry",
    [
        Entry("model", tarfile.DIRTYPE),
        Entry("model/weights.bin", tarfile.REGTYPE, 0o644, 123_456_789),
        Entry("model/config.json", tarfile.REGTYPE, 0o644, 700),
        Entry("model/run.sh", tarfile.REGTYPE, 0o755, 0),
        Entry("model/link", tarfile.SYMTYPE, 0o777, linkname="../x/y"),
        Entry("model/hard", tarfile.LNKTYPE, 0o644, linkname="model/weights.bin"),
        Entry("a" * 100, tarfile.REGTYPE, 0o644, 1),  # the longest plain name
        Entry("d" * 99, tarfile.DIRTYPE),  # 100 with its slash
        Entry("d" * 100, tarfile.DIRTYPE),  # 101: a PAX path
        Entry("b" * 101, tarfile.REGTYPE, 0o644, 1),
        Entry("model/l", tarfile.SYMTYPE, 0o777, linkname="t" * 101),
        Entry("model/caf\u00e9.txt", tarfile.REGTYPE, 0o644, 5),  # not ASCII: a PAX path
        Entry("model/\udcff.bin", tarfile.REGTYPE, 0o644, 5),  # undecodable file name byte
        Entry("model/huge.bin", tarfile.REGTYPE, 0o644, 8**11),  # a PAX size
    ],
    ids=lambda e: f"{e.type.decode()}-{e.path[-12:]}-{e.size}",
)
@pytest.mark.parametrize("mtime", [0, 1_700_000_000])
def test_headers_are_what_tarfile_writes(entry: Entry, mtime: int) -> None:
    header = tar_header(entry, mtime)
    assert header == tarfile_header(entry, mtime)
    if entry.size > 1 << 20:
        return  # no content to read it back with
    content = bytes(entry.size + -entry.size % 512) if entry.type == tarfile.REGTYPE else b""
    with tarfile.open(fileobj=io.BytesIO(header + content + bytes(1024))) as tar:
        members = [(m.name, m.mtime, m.linkname) for m in tar.getmembers()]
    assert members == [(entry.path, mtime, entry.linkname)]


def test_a_file_that_shrinks_while_read_in_whole_blocks_is_an_error(tmp_path: Path) -> None:
    from jupyter_regauth.images.deflate import BLOCK
    from jupyter_regauth.images.layer import plan, tar_blocks

    (tmp_path / "src").mkdir()
    weights = tmp_path / "src" / "w.bin"
    weights.write_bytes(os.urandom(4 * BLOCK))
    blocks = tar_blocks(plan([LayerSource(tmp_path / "src", "/m")]))
    first, second = next(blocks), next(blocks)  # headers and the start, then a whole block
    assert len(first) == len(second) == BLOCK and isinstance(second, bytes)
    with weights.open("r+b") as f:
        f.truncate(2 * BLOCK + 100)  # mid-way through the next whole block
    with pytest.raises(ImageError, match="shrank while it was being read"):
        list(blocks)
