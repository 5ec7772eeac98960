from __future__ import annotations

import pytest

from jupyter_regauth.images.errors import BuildSpecError
from jupyter_regauth.images.expansion import expand

ENV = {"LANG": "C.UTF-8", "PYTHON_VERSION": "3.11.7", "EMPTY": ""}


# What BuildKit's lexer (frontend/dockerfile/shell) gives for each, with quotes not processed.
@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$LANG.x$PYTHON_VERSION", "C.UTF-8.x3.11.7"),
        ("${NOPE:-$LANG/x}", "C.UTF-8/x"),  # a variable in the word is expanded
        ("${LANG:+$PYTHON_VERSION}", "3.11.7"),
        ("${NOPE:-${LANG}}", "C.UTF-8"),
        ("${NOPE:-${NOPE2:-${LANG}}}", "C.UTF-8"),
        ("${EMPTY:-x} ${EMPTY-x} ${NOPE-x}", "x  x"),  # without the colon, only unset counts
        ("${EMPTY:+x} ${EMPTY+x} ${NOPE+x}", " x "),
        ("${LANG?x} ${EMPTY?x}", "C.UTF-8 "),
        ("${A-}${NOPE:-}", ""),
        ("${NOPE:-x}}", "x}"),
        ("${NOPE:-{x}", "{x"),
        ("$1 $12a ${1} $$ $@x ${-}", " a   x "),  # a shell's parameters: never set
        ("a$ $/x $ x", "a$ $/x $ x"),  # a $ that starts no variable is itself
        ("\\$LANG ${NOPE:-a\\$b} ${NOPE:-\\}}", "$LANG a$b }"),
        ("C:\\x \\\\", "C:\\x \\\\"),  # other backslashes are text, unlike BuildKit's
    ],
)
def test_expands_as_buildkit(text: str, expanded: str) -> None:
    assert expand(text, ENV, "env.X") == expanded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${EMPTY:?x}", "env.X: EMPTY: x"),
        ("${EMPTY:?}", "env.X: EMPTY: is not allowed to be empty"),
        ("${NOPE?}", "env.X: NOPE: is not allowed to be unset"),
        ("${NOPE?need $LANG}", "env.X: NOPE: need C.UTF-8"),
        ("${LANG:-${NOPE:?inner}}", "env.X: NOPE: inner"),  # the word is expanded, used or not
        ("${", "env.X: '${' has no closing }"),
        ("${LANG", "env.X: '${LANG' has no closing }"),
        ("a ${NOPE:-${LANG}", "env.X: '${NOPE:-${LANG}' has no closing } in 'a ${NOPE:-${LANG}'"),
        ("${}", "env.X: '${}' is not a substitution the build can expand"),
        ("${:-x}", "env.X: '${:' is not a substitution"),
        ("${LANG#C.}", "env.X: '${LANG#' is not a substitution the build can expand in"),
        ("${LANG/a/b}", "env.X: '${LANG/' is not a substitution"),
        ("${LANG:x}", "env.X: '${LANG:' is not a substitution"),
        ("${ LANG}", "env.X: '${ ' is not a substitution"),
    ],
)
def test_errors_name_the_field_and_the_variable(text: str, message: str) -> None:
    with pytest.raises(BuildSpecError) as caught:
        expand(text, ENV, "env.X")
    assert caught.value.message.startswith(message)
