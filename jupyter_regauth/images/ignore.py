"""``.dockerignore``-style exclude patterns.

Same rules as Docker's pattern matcher: patterns are relative to the source directory, ``*`` and
``?`` stay within one path component, ``**`` spans any number of them, a pattern that matches a
directory excludes everything under it, ``!`` re-includes, and the last matching pattern wins.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ImageError


@dataclass(frozen=True)
class _Pattern:
    """One compiled exclude pattern; a negated one (``!``) re-includes what it matches."""

    regex: re.Pattern[str]
    negate: bool


class Excludes(tuple[str, ...]):
    """Exclude patterns: the tuple of them as given, compiled once, when it is made (a
    malformed one fails then). Made from an Excludes, it is that one, as ``tuple(t)`` is
    ``t``: a layer's patterns are compiled where the layer is defined, and its walks match
    with them as they are."""

    _compiled: list[_Pattern]
    has_negations: bool

    def __new__(cls, patterns: Iterable[str] = ()) -> Excludes:
        if isinstance(patterns, Excludes):
            return patterns
        self = super().__new__(cls, patterns)
        self._compiled = [p for p in (_compile(raw) for raw in self) if p is not None]
        self.has_negations = any(p.negate for p in self._compiled)
        return self

    def followed_by(self, other: Excludes) -> Excludes:
        """These patterns, then ``other``'s (which win where both match), neither compiled
        again."""
        joined = tuple.__new__(Excludes, (*self, *other))
        joined._compiled = [*self._compiled, *other._compiled]
        joined.has_negations = self.has_negations or other.has_negations
        return joined

    def excluded(self, rel: str) -> bool:
        """Whether the slash-separated relative path ``rel`` is excluded."""
        if not self._compiled:
            return False
        parents = _self_and_parents(rel)
        result = False
        for pat in self._compiled:
            if any(pat.regex.match(p) for p in parents):
                result = not pat.negate
        return result


def read_ignore_file(path: Path) -> Excludes:
    """The patterns of a ``.dockerignore`` file, read as Docker reads one: UTF-8, a byte order
    mark dropped, a line with ``#`` in its first column a comment, blank lines skipped."""
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except OSError as exc:
        raise ImageError(f"Cannot read {path}: {exc.strerror}", hint="make it readable") from None
    except UnicodeDecodeError:
        raise ImageError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from None
    patterns = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    try:
        return Excludes(patterns)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc.message}", hint=exc.hint) from None


def _self_and_parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _compile(raw: str) -> _Pattern | None:
    text = raw.strip()
    negate = text.startswith("!")
    if negate:
        text = text[1:].strip()
        if not text:  # as Docker's matcher has it: a "!" re-includes nothing in particular
            raise ImageError(
                f"Bad exclude pattern {raw!r}: nothing follows '!'",
                hint="write the path to re-include after it, e.g. !keep.txt",
            )
    if not text:
        return None
    text = posixpath.normpath(text).lstrip("/")
    if text in (".", ""):
        return None
    try:
        return _Pattern(re.compile(_translate(text)), negate)
    except re.error as exc:
        raise ImageError(
            f"Bad exclude pattern {raw!r}: {exc}", hint="fix the pattern's [...] class or escapes"
        ) from None


def _translate(pattern: str) -> str:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            # Docker's (moby/patternmatcher) rules: "**/" is "**"; at the end it matches
            # anything, elsewhere any number of whole directories, none included. So "**.pyc"
            # is only a file named ".pyc", at any depth, as in Docker.
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out.append(".*" if i == n else "(?:.*/)?")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ImageError(
                    f"Bad exclude pattern {pattern!r}: unclosed [", hint="close the [...] class"
                )
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return "".join(out)
