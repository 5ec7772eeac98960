from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_regauth.images.errors import ImageError
from jupyter_regauth.images.ignore import Excludes, read_ignore_file


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.pyc"], "a.pyc", True),
        (["*.pyc"], "pkg/a.pyc", False),  # * stays in one component, anchored at the root
        (["**/*.pyc"], "pkg/sub/a.pyc", True),
        (["**/*.pyc"], "a.pyc", True),  # **/ matches zero directories too
        (["data"], "data/x/y.bin", True),  # a directory match excludes its contents
        (["/data/"], "data/x", True),
        (["da?a"], "data", True),
        (["[a-c]*.txt"], "b1.txt", True),
        (["[!a-c]*.txt"], "b1.txt", False),
        (["*", "!keep"], "keep", False),
        (["*", "!keep"], "drop", True),
        (["!keep", "*"], "keep", True),  # the last match wins
        (["logs/**"], "logs/2024/a.log", True),
        (["logs/**", "!logs/**/*.keep"], "logs/2024/a.keep", False),
        (["  ", "# not special here"], "x", False),
        # "**" inside a pattern is whole directories, as Docker's matcher has it: "**.pyc" is a
        # file named ".pyc" at any depth, not every .pyc file.
        (["**.pyc"], "a.pyc", False),
        (["**.pyc"], "x/a.pyc", False),
        (["**.pyc"], "x/.pyc", True),
        (["a**b"], "a/x/b", True),
        (["a**b"], "ab", True),
        (["a**b"], "axb", False),
    ],
)
def test_patterns(patterns: list[str], path: str, excluded: bool) -> None:
    assert Excludes(patterns).excluded(path) is excluded


def test_ignore_file_is_read_as_docker_reads_it(tmp_path: Path) -> None:
    f = tmp_path / ".dockerignore"
    # A byte order mark is dropped; only a "#" in the first column starts a comment.
    f.write_bytes("\ufeff# comment\n*.log\n\n!important.log\n #kept\n".encode())
    assert read_ignore_file(f) == ("*.log", "!important.log", " #kept")
    ex = Excludes(read_ignore_file(f))
    assert ex.excluded("a.log") and not ex.excluded("important.log") and ex.has_negations
    assert ex.excluded("#kept")

    f.write_bytes(b"caf\xe9\n")
    with pytest.raises(ImageError, match="is not UTF-8 text"):
        read_ignore_file(f)
    f.write_text("*.log\n[abc\n")
    with pytest.raises(ImageError, match=r"\.dockerignore: Bad exclude pattern '\[abc': unclosed"):
        read_ignore_file(f)


def test_bad_pattern() -> None:
    with pytest.raises(ImageError, match="unclosed"):
        Excludes(["[abc"])
    with pytest.raises(ImageError, match="nothing follows '!'"):  # Docker refuses it too
        Excludes(["*.log", " ! "])
