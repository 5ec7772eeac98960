"""Image references: ``[host[:port]/]path[:tag][@digest]``, validated and normalized.

The grammar is the one docker, containerd and skopeo share (the distribution project's reference
package), with Docker Hub normalization: ``ubuntu`` -> ``docker.io/library/ubuntu``. The parser is
written by hand rather than as one big regular expression so that every error can name the part
that is wrong and where; positions in messages count characters from 1.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, replace

from jupyter_regauth.errors import RegAuthError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255
TAG_MAX = 128
# Algorithms with a defined hex length (OCI image spec / go-digest); others are refused, as
# distribution does for algorithms it has no implementation of.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_PATH_SEPARATOR = re.compile(r"[._]|__|-+")
_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")
_PATH_CHARS = frozenset(string.ascii_lowercase + string.digits + "._-")
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + ".-")
_IPV6_CHARS = frozenset(string.hexdigits + ":")
# Uppercase is let through the character check so that it gets its own, clearer message.
_PATH_INPUT_CHARS = _PATH_CHARS | frozenset(string.ascii_uppercase + "/")
_TAG_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_HEX = frozenset("0123456789abcdef")
_EXAMPLE = "e.g. 'ubuntu:22.04' or 'registry.example.com/team/app:1.0'"


class InvalidReference(RegAuthError, ValueError):
    """An image reference (or one of its parts) does not follow the grammar."""

    code = "invalid_reference"


class InvalidDigest(InvalidReference):
    """A digest string given on its own is malformed or uses an unsupported algorithm."""

    code = "invalid_digest"


class _Problem(Exception):
    """What is wrong with one part; the caller adds which input it was part of."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint


@dataclass(frozen=True)
class Reference:
    """A canonical reference: ``domain`` and ``path`` always set, ``tag``/``digest`` optional.

    Construct it with :func:`parse`; direct construction is validated too but not normalized.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        offset = len(self.domain) + 1
        try:
            _check_domain(self.domain, 0)
            _check_path(self.path, offset)
            _check_length(self.path)
            offset += len(self.path) + 1
            if self.tag is not None:
                _check_tag(self.tag, offset)
                offset += len(self.tag) + 1
            if self.digest is not None:
                _check_digest(self.digest, offset)
        except _Problem as problem:
            raise InvalidReference(
                f"invalid reference {_quote(str(self))}: {problem.what}", hint=problem.hint
            ) from None

    def __str__(self) -> str:
        return f"{self.repository}{self._suffix()}"

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    @property
    def repository(self) -> str:
        """``domain/path``, the name credentials and pull secrets are about."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar(self) -> str:
        """The short form docker prints: ``ubuntu:22.04``, ``user/app``, ``host:5000/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return str(self)
        short = self.path.removeprefix(OFFICIAL_PREFIX)
        name = short if short != self.path and "/" not in short else self.path
        return name + self._suffix()

    @property
    def identifier(self) -> str:
        """What to ask the registry's manifest endpoint for: digest, else tag, else ``latest``."""
        return self.digest or self.tag or DEFAULT_TAG

    def registry_host(self) -> str:
        """``host[:port]`` to send HTTP requests to (Docker Hub's API lives elsewhere)."""
        return DOCKER_HUB_REGISTRY if self.domain == DEFAULT_DOMAIN else self.domain

    def with_tag(self, tag: str) -> Reference:
        """The same repository with ``tag`` (any digest is kept)."""
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        """The same repository with ``digest`` (any tag is kept)."""
        return replace(self, digest=digest)

    def with_default_tag(self) -> Reference:
        """Add ``latest`` when nothing says which image to pull (no tag and no digest)."""
        if self.tag is None and self.digest is None:
            return replace(self, tag=DEFAULT_TAG)
        return self


def parse(text: str) -> Reference:
    """Parse ``text`` and normalize it by Docker Hub's rules; no default tag is added."""
    if not isinstance(text, str):
        raise InvalidReference(
            f"invalid reference: expected a string, got {type(text).__name__}", hint=_EXAMPLE
        )
    try:
        domain, path, tag, digest = _split(text)
    except _Problem as problem:
        raise InvalidReference(
            f"invalid reference {_quote(text)}: {problem.what}", hint=problem.hint
        ) from None
    return Reference(domain, path, tag, digest)


def parse_digest(text: str) -> str:
    """Validate a digest such as ``sha256:<64 hex>`` and return it unchanged."""
    try:
        _check_digest(text, 0)
    except _Problem as problem:
        raise InvalidDigest(f"invalid digest: {problem.what}", hint=problem.hint) from None
    return text


def push_target(text: str) -> Reference:
    """Where a new image is pushed: ``text`` parsed, tagged ``latest`` when it has no tag. A
    digest is refused: a registry takes a manifest under a digest only if it is its own."""
    reference = parse(text)
    if reference.digest is not None:
        raise InvalidReference(
            f"cannot push to {text!r}: it names a digest, which the new image will not have",
            hint="give a tag instead, e.g. registry:5000/team/model:1",
        )
    return reference.with_default_tag()


def check_host(host: str) -> None:
    """Validate a registry host on its own, ``host[:port]`` or ``[IPv6]:port``, by the same
    grammar as a reference's first component; ``InvalidReference`` names what is wrong."""
    try:
        _check_domain(host, 0)
    except _Problem as problem:
        raise InvalidReference(problem.what, hint=problem.hint) from None


def _split(text: str) -> tuple[str, str, str | None, str | None]:
    if not text:
        raise _Problem("the reference is empty", f"give an image name, {_EXAMPLE}")
    if text.startswith("oci:") and not re.match(r"oci:\d+/", text):  # not the host oci:PORT
        raise _Problem(
            "it names a local OCI layout, not an image in a registry",
            "a layout is read as a copy's source or a base; to write one, pull the image "
            "into it as an OCI layout",
        )
    rest = text.split("://", 1)[-1]  # a URL's scheme off
    if (named := _after_userinfo(rest)) is not None:
        raise _Problem(_NO_USERINFO, _log_in_first(named))
    if rest != text:
        raise _Problem("an image reference has no URL scheme", f"drop the scheme: {_quote(rest)}")
    if _IMAGE_ID.fullmatch(text):
        raise _Problem(
            "a 64-character hex string is an image ID, not a repository name",
            "to name an image by content, write '<name>@sha256:<hex>'",
        )
    name, at, digest = text.partition("@")
    first, slash, rest = name.partition("/")
    if not slash and name.startswith("["):  # an IPv6 host alone: the repository was forgotten
        _check_domain(name, 0)
        raise _Problem(
            f"registry host {_quote(name)} must be followed by '/' and a repository name",
            "e.g. '[::1]:5000/team/app'",
        )
    if slash and _looks_like_domain(first):
        try:
            _check_domain(first, 0)
        except _Problem as problem:
            if "." not in first and ":" not in first:  # a host only because of its capitals
                problem.hint = "a first component with capitals is read as a registry host"
            raise
        domain, remainder, offset = first, rest, len(first) + 1
    else:
        domain, remainder, offset = DEFAULT_DOMAIN, name, 0
    path, colon, tag = remainder.partition(":")
    if not path:
        raise _Problem("the repository name is missing", f"give a repository name, {_EXAMPLE}")
    _check_path(path, offset)
    if colon:
        _check_tag(tag, offset + len(path) + 1)
    if at:
        _check_digest(digest, len(name) + 1)
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    _check_length(path)
    return domain, path, tag if colon else None, digest if at else None


def _looks_like_domain(first: str) -> bool:
    # distribution's rule: without one of these marks the first component is a Hub namespace.
    return first == "localhost" or "." in first or ":" in first or first != first.lower()


def _check_domain(domain: str, offset: int) -> None:
    what = f"registry host {_quote(domain)}"
    if domain.startswith("["):
        _check_ipv6(domain, offset, what)
        return
    host, colon, port = domain.partition(":")
    if ":" in port:
        raise _Problem(
            f"{what} has more than one ':'", "write IPv6 hosts in brackets, e.g. '[fc00::1]:5000'"
        )
    _check_chars(host, _HOST_CHARS, offset, what, "host names take letters, digits, '.' and '-'")
    hint = "host names look like 'registry.example.com' or 'localhost:5000'"
    if not host:
        raise _Problem(f"{what} has no host name before the port", hint)
    for label in host.split("."):
        if not label:
            raise _Problem(f"{what} has an empty label (a leading, trailing or doubled '.')", hint)
        if label[0] == "-" or label[-1] == "-":
            raise _Problem(f"{what}: label {_quote(label)} must not start or end with '-'", hint)
        if len(label) > 63:  # DNS's limit: no resolver looks such a name up
            raise _Problem(
                f"{what}: label {_quote(label)} is {len(label)} characters long, more than the "
                "63 a DNS name allows between dots",
                hint,
            )
    if len(host) > 253:
        raise _Problem(
            f"{what} is {len(host)} characters long, more than the 253 a DNS name allows", hint
        )
    if colon:
        _check_port(port, what)


def _check_ipv6(domain: str, offset: int, what: str) -> None:
    hint = "write IPv6 hosts as '[address]' or '[address]:port', without a zone, e.g. '[::1]:5000'"
    end = domain.find("]")
    address = domain[1:end] if end >= 0 else domain[1:]
    _check_chars(address, _IPV6_CHARS, offset + 1, what, hint)
    if end < 0:
        raise _Problem(f"{what} is missing the ']' that closes its IPv6 address", hint)
    rest = domain[end + 1 :]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise _Problem(f"{what}: {_quote(address)} is not a valid IPv6 address", hint) from None
    if rest:
        if rest[0] != ":":
            raise _Problem(f"{what} has {_quote(rest)} after ']' where only ':port' may be", hint)
        _check_port(rest[1:], what)


def _check_port(port: str, what: str) -> None:
    hint = "the port is a number from 1 to 65535, e.g. 'localhost:5000'"
    if not port:
        raise _Problem(f"{what} has an empty port after ':'", hint)
    if not set(port) <= set(string.digits):
        raise _Problem(f"{what}: port {_quote(port)} must be a number", hint)
    if not 0 < int(port) < 65536:
        raise _Problem(f"{what}: port {port} is out of range", hint)


def _check_path(path: str, offset: int) -> None:
    what = f"repository name {_quote(path)}"
    rule = "use lowercase letters, digits, '.', '_', '__' or '-', and '/' between components"
    _check_chars(path, _PATH_INPUT_CHARS, offset, what, rule)
    if path != path.lower():
        raise _Problem(f"{what} must be lowercase", f"use {_quote(path.lower())}")
    if "" in path.split("/"):
        where = "ends with" if path.endswith("/") else "starts with" if path[0] == "/" else "has"
        slash = "'//'" if where == "has" else "'/'"
        raise _Problem(f"{what} {where} {slash}", "remove the extra '/'")
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise _Problem(_component_problem(what, component), rule)


def _component_problem(what: str, component: str) -> str:
    part = f"{what}: component {_quote(component)}"
    if not component[0].isalnum():
        return f"{part} must start with a lowercase letter or digit"
    if not component[-1].isalnum():
        return f"{part} must end with a lowercase letter or digit"
    for run in re.findall(r"[._-]+", component):
        if not _PATH_SEPARATOR.fullmatch(run):
            return f"{part} has separator {_quote(run)}; allowed are '.', '_', '__' or dashes"
    raise AssertionError(component)  # unreachable: the cases above cover every mismatch


def _check_length(path: str) -> None:
    if len(path) > NAME_MAX:
        raise _Problem(
            f"repository name exceeds {NAME_MAX} characters: {_quote(path)} has {len(path)}",
            "shorten the repository path",
        )


def _check_tag(tag: str, offset: int) -> None:
    what = f"tag {_quote(tag)}"
    hint = (
        f"tags take up to {TAG_MAX} letters, digits, '_', '.' and '-', not starting with '.' or '-'"
    )
    if not tag:
        raise _Problem("the tag after ':' is empty", "remove the ':' or add a tag, e.g. ':latest'")
    _check_chars(tag, _TAG_CHARS, offset, what, hint)
    if tag[0] in ".-":
        raise _Problem(f"{what} must start with a letter, digit or '_'", hint)
    if len(tag) > TAG_MAX:
        raise _Problem(f"{what} is {len(tag)} characters long; at most {TAG_MAX} allowed", hint)


def _check_digest(digest: str, offset: int) -> None:
    what = f"digest {_quote(digest)}"
    supported = ", ".join(DIGEST_HEX_LENGTHS)
    hint = "a digest looks like 'sha256:' followed by 64 lowercase hex characters"
    if not digest:
        raise _Problem("the digest is empty", hint)
    algorithm, colon, encoded = digest.partition(":")
    if not colon:
        raise _Problem(f"{what} has no ':' between algorithm and hex", hint)
    if not _ALGORITHM.fullmatch(algorithm):
        raise _Problem(f"{what}: {_quote(algorithm)} is not a valid algorithm name", hint)
    length = DIGEST_HEX_LENGTHS.get(algorithm)
    if length is None:
        lower = (
            " (algorithm names are lowercase)" if algorithm.lower() in DIGEST_HEX_LENGTHS else ""
        )
        raise _Problem(
            f"{what}: unsupported algorithm {_quote(algorithm)}{lower}", f"use one of {supported}"
        )
    if encoded != encoded.lower() and set(encoded.lower()) <= _HEX:
        raise _Problem(f"{what}: hex characters must be lowercase", hint)
    _check_chars(encoded, _HEX, offset + len(algorithm) + 1, what, hint)
    if len(encoded) != length:
        raise _Problem(
            f"{what}: {algorithm} needs {length} hex characters, got {len(encoded)}", hint
        )


def _check_chars(part: str, allowed: frozenset[str], offset: int, what: str, hint: str) -> None:
    for index, char in enumerate(part):
        if char not in allowed:
            raise _Problem(
                f"{what} has invalid character {char!r} at position {offset + index + 1}", hint
            )


_NO_USERINFO = "a reference holds no user name or password"


def _after_userinfo(text: str) -> str | None:
    """What follows ``user[:password]@`` at the start of ``text``, or None. A digest after
    ``@`` has no ``/``, and a user name no ``/``, ``[`` or ``]`` (an IPv6 zone has ``%@``)."""
    userinfo, at, after = text.rpartition("@")
    if at and userinfo and "/" in after and not any(c in userinfo for c in "/[]"):
        return after
    return None


def _log_in_first(name: str) -> str:
    host = name.partition("/")[0]
    return f"log in to {host} first, then name the image {_quote(name)}"


def _quote(text: str) -> str:
    """Quote ``text`` for a message, shortened so a huge input cannot flood the output. What
    looks like a user name and password before a host (``user:pw@host/...``) is masked."""
    scheme, sep, body = text.rpartition("://")
    if (named := _after_userinfo(body)) is not None:
        text = scheme + sep + "***@" + named
    shown = text if len(text) <= 80 else text[:72] + "..." + text[-5:]
    return f"'{shown}'" if shown.isprintable() and "'" not in shown else repr(shown)
