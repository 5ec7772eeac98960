"""Walks of layer files started early: on a thread, or in a forked child that answers with the
layers' cached diff_ids."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from jupyter_regauth.images import walks as walks_module
from jupyter_regauth.images.cache import cached_diff_id
from jupyter_regauth.images.errors import ImageError
from jupyter_regauth.images.layer import diff_id_of, plan
from jupyter_regauth.images.progress import ProgressEvent
from jupyter_regauth.images.spec import LayerSpec
from jupyter_regauth.images.walks import Walks, can_fork


def model(root: Path, name: str = "m") -> LayerSpec:
    (root / name / "sub").mkdir(parents=True)
    (root / name / "sub" / "w.bin").write_bytes(b"w" * 100)
    (root / name / "a.txt").write_text("a")
    return LayerSpec(str(root / name), "/model")


def children() -> set[int]:
    """This process's child processes."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


@pytest.mark.parametrize("fork", [False, True])
def test_walks_give_the_plan_and_their_errors_when_asked(tmp_path: Path, fork: bool) -> None:
    lay = model(tmp_path)
    missing = LayerSpec(str(tmp_path / "nowhere"), "/x")
    later = LayerSpec(str(tmp_path / "m"), "/other", ("sub/*.tmp",))
    with Walks([lay, missing], fork=fork) as walks:
        assert walks.entries(lay) == plan([lay.source()])
        with pytest.raises(ImageError, match="Cannot read layer source"):
            walks.entries(missing)
        assert [e.path for e in walks.entries(later)] == [  # not started: walked when asked
            "other",
            "other/a.txt",
            "other/sub",
            "other/sub/w.bin",
        ]


def test_a_forked_walk_answers_with_the_cached_diff_ids(
    docker_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files unchanged since the cache saw them: the child's answer is the diff_ids, and this
    process neither walks nor hashes them."""
    first, second = model(tmp_path, "one"), model(tmp_path, "two")
    known = [cached_diff_id(plan([lay.source()]))[1] for lay in (first, second)]

    def not_here(*args: object) -> list[str]:
        raise AssertionError("walked in this process")

    monkeypatch.setattr(walks_module, "layer_diff_ids", not_here)
    before = children()
    with Walks([first, second], fork=True) as walks:
        assert children() - before  # the walk runs in a child
        assert walks.diff_ids([first, second], None) == known
        assert children() == before  # answered and reaped


def test_a_forked_walk_leaves_changed_files_to_be_hashed_here(
    docker_config: Path, tmp_path: Path
) -> None:
    """A cache miss in the child (a file changed since), or a question about other layers, is
    answered by walking and hashing here, with progress."""
    lay = model(tmp_path)
    cached_diff_id(plan([lay.source()]))
    (Path(lay.src) / "a.txt").write_text("changed")
    seen: list[ProgressEvent] = []
    with Walks([lay], fork=True) as walks:
        assert walks.diff_ids([lay], seen.append) == [diff_id_of([lay.source()])]
    assert any(e.state == "hashing" for e in seen)

    other = model(tmp_path, "other")
    with Walks([lay], fork=True) as walks:
        assert walks.diff_ids([other], None) == [diff_id_of([other.source()])]


def test_a_forked_walk_that_fails_is_explained_by_the_walk_here(
    docker_config: Path, tmp_path: Path
) -> None:
    missing = LayerSpec(str(tmp_path / "nowhere"), "/x")
    with Walks([missing], fork=True) as walks, pytest.raises(ImageError, match="Cannot read"):
        walks.diff_ids([missing], None)


def test_closing_ends_a_child_that_was_not_asked(docker_config: Path, tmp_path: Path) -> None:
    before = children()
    with Walks([model(tmp_path)], fork=True):
        assert children() - before
    assert children() == before


def test_asking_for_entries_ends_the_child(docker_config: Path, tmp_path: Path) -> None:
    """The entries are needed when the image is to be built: the child's answer no longer is."""
    lay = model(tmp_path)
    before = children()
    with Walks([lay], fork=True) as walks:
        assert children() - before
        assert walks.entries(lay) == plan([lay.source()])
        assert children() == before


def test_only_a_process_with_one_thread_forks(docker_config: Path, tmp_path: Path) -> None:
    """A thread could hold a lock the child would need; with one running, walks use a thread."""
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not can_fork()
        before = children()
        with Walks([model(tmp_path)]) as walks:
            assert children() == before
            assert walks.entries(LayerSpec(str(tmp_path / "m"), "/model"))
    finally:
        release.set()
        other.join()
