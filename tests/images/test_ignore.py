from __future__ import annotations

import pytest

from jupyter_regauth.images.errors import ImageError
from jupyter_regauth.images.ignore import Excludes


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


def test_from_file_and_bad_pattern(tmp_path: object) -> None:
    from pathlib import Path

    f = Path(str(tmp_path)) / ".dockerignore"
    f.write_text("# comment\n*.log\n!important.log\n")
    ex = Excludes.from_file(f)
    assert ex.excluded("a.log") and not ex.excluded("important.log") and ex.has_negations
    with pytest.raises(ImageError, match="unclosed"):
        Excludes(["[abc"])
    with pytest.raises(ImageError, match="nothing follows '!'"):  # Docker refuses it too
        Excludes(["*.log", " ! "])
