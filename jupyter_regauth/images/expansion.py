"""Variables in build spec values, expanded by the rules of BuildKit's Dockerfile shell lexer.

``$NAME``, ``${NAME}`` and ``${NAME<op>word}`` with the op ``-`` (default), ``+``
(alternative) or ``?`` (error): with a colon before it, an empty value counts as unset; the
word is expanded in turn. The values are YAML strings, so there are no quotes to remove: a
backslash only escapes a ``$``, and a ``}`` in a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import BuildSpecError

_OPERATORS = (":-", ":+", ":?", "-", "+", "?")
_SPECIAL = "@*#?-$!"  # $@, $$, ...: a shell's special parameters, names as 1 in $1 is
_FORMS = "${NAME}, ${NAME:-default}, ${NAME:+alternative}, ${NAME:?message}"


@dataclass(frozen=True)
class _Variable:
    """``$name``, or ``${name<operator>word}``."""

    name: str
    operator: str = ""
    word: tuple[str | _Variable, ...] = ()


Word = tuple[str | _Variable, ...]


def parse(text: str, where: str) -> Word:
    """``text`` as its literal text and variables; a BuildSpecError naming ``where`` when a
    ``${`` in it is not closed or not a form the build expands."""
    return _Parser(text, where).word()


def expand(text: str, env: Mapping[str, str], where: str) -> str:
    """``text`` with its variables replaced from ``env``, an unset one by nothing."""
    return _evaluate(parse(text, where), env, where)


def _evaluate(word: Word, env: Mapping[str, str], where: str) -> str:
    return "".join(part if isinstance(part, str) else _value(part, env, where) for part in word)


def _value(variable: _Variable, env: Mapping[str, str], where: str) -> str:
    # As BuildKit does, the word is expanded even when it is not used.
    word = _evaluate(variable.word, env, where)
    value = env.get(variable.name)
    missing = value is None or (variable.operator.startswith(":") and not value)
    kind = variable.operator[-1:]
    if missing and kind == "-":
        return word
    if kind == "+":
        return "" if missing else word
    if missing and kind == "?":
        name = variable.name
        problem = word or f"is not allowed to be {'unset' if value is None else 'empty'}"
        raise BuildSpecError(
            f"{where}: {name}: {problem}", hint=f"set {name}, or give a default: ${{{name}:-…}}"
        )
    return value or ""


class _Parser:
    """A recursive descent over one value: a word, in which ``${`` opens a nested one."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.pos = 0

    def word(self, opened: int | None = None) -> Word:
        """The parts up to the end, or, in the ``${`` at ``opened``, up to its ``}``."""
        text = self.text
        escapable = ("$",) if opened is None else ("$", "}")
        parts: list[str | _Variable] = []
        while self.pos < len(text):
            char = text[self.pos]
            if opened is not None and char == "}":
                self.pos += 1
                return tuple(parts)
            if char == "\\" and text[self.pos + 1 : self.pos + 2] in escapable:
                parts.append(text[self.pos + 1])
                self.pos += 2
            elif char == "$":
                parts.append(self.dollar())
            else:
                parts.append(char)
                self.pos += 1
        if opened is not None:
            raise self.error(text[opened:], "has no closing }")
        return tuple(parts)

    def dollar(self) -> str | _Variable:
        """The variable at the ``$`` at ``pos``, or ``"$"`` when none starts there."""
        start = self.pos
        self.pos += 1
        if not self.text.startswith("{", self.pos):
            name = self.name()
            return _Variable(name) if name else "$"
        self.pos += 1
        name = self.name()
        if self.pos >= len(self.text):
            raise self.error(self.text[start:], "has no closing }")
        if name and self.text.startswith("}", self.pos):
            self.pos += 1
            return _Variable(name)
        operator = next((op for op in _OPERATORS if self.text.startswith(op, self.pos)), None)
        if not name or operator is None:
            fragment = self.text[start : self.pos + 1]
            raise self.error(fragment, "is not a substitution the build can expand")
        self.pos += len(operator)
        return _Variable(name, operator, self.word(start))

    def name(self) -> str:
        """The name at ``pos``: digits (as in ``$1``), a special parameter, or letters, digits
        and ``_`` not starting with a digit."""
        text, start = self.text, self.pos
        if start < len(text) and text[start] in _SPECIAL:
            self.pos += 1
            return text[start]
        digits = start < len(text) and text[start].isdecimal()
        while self.pos < len(text) and (
            text[self.pos].isdecimal()
            or (not digits and (text[self.pos].isalpha() or text[self.pos] == "_"))
        ):
            self.pos += 1
        return text[start : self.pos]

    def error(self, fragment: str, problem: str) -> BuildSpecError:
        within = "" if fragment == self.text else f" in {self.text!r}"
        return BuildSpecError(
            f"{self.where}: {fragment!r} {problem}{within}",
            hint=f"write {_FORMS}, or \\$ for a literal $",
        )
