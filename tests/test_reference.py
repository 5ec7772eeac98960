"""Image reference grammar and Docker Hub normalization.

The tables follow the distribution project's reference tests (what docker, containerd and skopeo
accept), translated to the canonical, normalized form ``parse`` returns.
"""
# ruff: noqa: E501  (the case tables read best one case per line)

from __future__ import annotations

import dataclasses

import pytest

from jupyter_regauth.errors import RegAuthError
from jupyter_regauth.reference import (
    InvalidDigest,
    InvalidReference,
    Reference,
    check_host,
    parse,
    parse_digest,
)

F64 = "f" * 64
D256 = "sha256:" + F64
D384 = "sha384:" + "a" * 96
D512 = "sha512:" + "0123456789abcdef" * 8
BUSYBOX = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
HEX_ID = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


def _error(text: str) -> InvalidReference:
    with pytest.raises(InvalidReference) as info:
        parse(text)
    return info.value


# input, domain, path, tag, digest
VALID = [
    ("test_com", "docker.io", "library/test_com", None, None),
    ("test.com:tag", "docker.io", "library/test.com", "tag", None),
    ("test.com:5000", "docker.io", "library/test.com", "5000", None),
    ("test.com/repo:tag", "test.com", "repo", "tag", None),
    ("test:5000/repo", "test:5000", "repo", None, None),
    ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
    (f"test:5000/repo@{D256}", "test:5000", "repo", None, D256),
    (f"test:5000/repo:tag@{D256}", "test:5000", "repo", "tag", D256),
    ("lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", None),
    ("a/" * 127 + "a:tag-puts-this-over-max", "docker.io", "a/" * 127 + "a", "tag-puts-this-over-max", None),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", None),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
    (f"xn--7o8h.com/myimage:xn--7o8h.com@{D256}", "xn--7o8h.com", "myimage", "xn--7o8h.com", D256),
    ("foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", None),
    ("192.168.1.1", "docker.io", "library/192.168.1.1", None, None),
    ("192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    (f"[2001:db8::1]:5000/repo:tag@{D256}", "[2001:db8::1]:5000", "repo", "tag", D256),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None),
    ("[::1]:5000/repo", "[::1]:5000", "repo", None, None),
    ("[2001:0DB8:85a3:0000:0000:8a2e:0370:7334]:443/x", "[2001:0DB8:85a3:0000:0000:8a2e:0370:7334]:443", "x", None, None),
    ("example.com/" + "a" * 255 + ":tag", "example.com", "a" * 255, "tag", None),
    ("localhost:5000/foo", "localhost:5000", "foo", None, None),
    ("localhost/foo", "localhost", "foo", None, None),
    ("a.b.c/d/e", "a.b.c", "d/e", None, None),
    ("LOCALDOMAIN/library/debian", "LOCALDOMAIN", "library/debian", None, None),
    ("Asdf.com/foo/bar", "Asdf.com", "foo/bar", None, None),
    (f"docker.io/{HEX_ID}", "docker.io", f"library/{HEX_ID}", None, None),
    ("registry.io/foo/project--id.module--name.ver---sion--name", "registry.io", "foo/project--id.module--name.ver---sion--name", None, None),
    ("example.com/some_separator__underscore/myimage", "example.com", "some_separator__underscore/myimage", None, None),
    ("docker---rules/docker", "docker.io", "docker---rules/docker", None, None),
    ("dock__er/docker", "docker.io", "dock__er/docker", None, None),
    ("d/docker", "docker.io", "d/docker", None, None),
    ("jess/t", "docker.io", "jess/t", None, None),
    ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", None, None),
    ("x:" + "t" * 128, "docker.io", "library/x", "t" * 128, None),
    ("x:_.-", "docker.io", "library/x", "_.-", None),
    (f"x@{D384}", "docker.io", "library/x", None, D384),
    (f"x@{D512}", "docker.io", "library/x", None, D512),
]  # fmt: skip


@pytest.mark.parametrize(("text", "domain", "path", "tag", "digest"), VALID)
def test_valid_references(
    text: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    suffix = (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assert str(ref) == f"{domain}/{path}{suffix}"
    assert parse(str(ref)) == ref  # the canonical form is a fixed point


# input, the exact message after "invalid reference '<input>': "
INVALID = [
    ("", "the reference is empty"),
    (":justtag", "the repository name is missing"),
    (f"@{D256}", "the repository name is missing"),
    ("example.com/:tag", "the repository name is missing"),
    ("Uppercase:tag", "repository name 'Uppercase' must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "repository name 'Uppercase/lowercase' must be lowercase"),
    ("docker/Docker", "repository name 'docker/Docker' must be lowercase"),
    ("docker.io/docker/Docker", "repository name 'docker/Docker' must be lowercase"),
    ("aa/asdf$$^/aa", "repository name 'aa/asdf$$^/aa' has invalid character '$' at position 8"),
    ("ubuntu ", "repository name 'ubuntu ' has invalid character ' ' at position 7"),
    ("[2001:db8::1]", "registry host '[2001:db8::1]' must be followed by '/' and a repository name"),
    ("[2001:db8::1]:5000", "registry host '[2001:db8::1]:5000' must be followed by '/' and a repository name"),
    ("[2001:db8::1]:tag", "registry host '[2001:db8::1]:tag': port 'tag' must be a number"),
    ("[fe80::1%@invalidzone]:5000/repo", "registry host '[fe80::1%' has invalid character '%' at position 9"),
    ("[fe80::1%eth0]:5000/repo", "registry host '[fe80::1%eth0]:5000' has invalid character '%' at position 9"),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "registry host '[2001:db8:3:4::192.0.2.33]:5000' has invalid character '.' at position 19"),
    ("[fd00123123123]:5000/x", "registry host '[fd00123123123]:5000': 'fd00123123123' is not a valid IPv6 address"),
    ("[::1/x", "registry host '[::1' is missing the ']' that closes its IPv6 address"),
    ("[::1]5000/x", "registry host '[::1]5000' has '5000' after ']' where only ':port' may be"),
    ("fc00::1:5000/debian", "registry host 'fc00::1:5000' has more than one ':'"),
    ("foo_bar.com:8080/app", "registry host 'foo_bar.com:8080' has invalid character '_' at position 4"),
    ("-docker.io/docker/docker", "registry host '-docker.io': label '-docker' must not start or end with '-'"),
    ("dock-.er/docker", "registry host 'dock-.er': label 'dock-' must not start or end with '-'"),
    ("docker./docker", "registry host 'docker.' has an empty label (a leading, trailing or doubled '.')"),
    ("dock..er/docker", "registry host 'dock..er' has an empty label (a leading, trailing or doubled '.')"),
    ("localhost:http/name", "registry host 'localhost:http': port 'http' must be a number"),
    ("localhost:/name", "registry host 'localhost:' has an empty port after ':'"),
    ("localhost:70000/name", "registry host 'localhost:70000': port 70000 is out of range"),
    (":5000/name", "registry host ':5000' has no host name before the port"),
    ("-docker", "repository name '-docker': component '-docker' must start with a lowercase letter or digit"),
    ("-docker/docker", "repository name '-docker/docker': component '-docker' must start with a lowercase letter or digit"),
    ("docker-/docker", "repository name 'docker-/docker': component 'docker-' must end with a lowercase letter or digit"),
    ("foo/bar-", "repository name 'foo/bar-': component 'bar-' must end with a lowercase letter or digit"),
    ("____/____", "repository name '____/____': component '____' must start with a lowercase letter or digit"),
    ("example.com/__underscore/myimage", "repository name '__underscore/myimage': component '__underscore' must start with a lowercase letter or digit"),
    ("example.com/.dots/myimage", "repository name '.dots/myimage': component '.dots' must start with a lowercase letter or digit"),
    ("example.com/nodouble..dots/myimage", "repository name 'nodouble..dots/myimage': component 'nodouble..dots' has separator '..'; allowed are '.', '_', '__' or dashes"),
    ("example.com/do___cker", "repository name 'do___cker': component 'do___cker' has separator '___'; allowed are '.', '_', '__' or dashes"),
    ("example.com/dock_.er", "repository name 'dock_.er': component 'dock_.er' has separator '_.'; allowed are '.', '_', '__' or dashes"),
    ("docker///docker", "repository name 'docker///docker' has '//'"),
    ("docker.io/docker///docker", "repository name 'docker///docker' has '//'"),
    ("docker/", "repository name 'docker/' ends with '/'"),
    ("/docker", "repository name '/docker' starts with '/'"),
    (HEX_ID, "a 64-character hex string is an image ID, not a repository name"),
    ("https://github.com/docker/docker", "an image reference has no URL scheme"),
    ("ubuntu:", "the tag after ':' is empty"),
    ("ubuntu:-foo", "tag '-foo' must start with a letter, digit or '_'"),
    ("ubuntu:.foo", "tag '.foo' must start with a letter, digit or '_'"),
    ("registry.com:8080/myapp:invalid~tag", "tag 'invalid~tag' has invalid character '~' at position 32"),
    ("foo:bar:baz", "tag 'bar:baz' has invalid character ':' at position 8"),
    ("ubuntu@", "the digest is empty"),
    ("registry.com:8080/myapp@bad", "digest 'bad' has no ':' between algorithm and hex"),
    (f"repo@sha256:{'f' * 34}", "digest 'sha256:ffffffffffffffffffffffffffffffffff': sha256 needs 64 hex characters, got 34"),
    (f"repo@sha512:{F64}", f"digest 'sha512:{F64}': sha512 needs 128 hex characters, got 64"),
    (f"repo@sha384:{F64}", f"digest 'sha384:{F64}': sha384 needs 96 hex characters, got 64"),
    (f"x@invalid:{F64}", f"digest 'invalid:{F64}': unsupported algorithm 'invalid'"),
    (f"repo@SHA256:{F64}", f"digest 'SHA256:{F64}': unsupported algorithm 'SHA256' (algorithm names are lowercase)"),
    (f"repo@sha256:{'F' * 64}", f"digest 'sha256:{'F' * 64}': hex characters must be lowercase"),
    (f"repo@sha256:{'f' * 63}g", f"digest 'sha256:{'f' * 63}g' has invalid character 'g' at position 76"),
    (f"repo@-sha:{F64}", f"digest '-sha:{F64}': '-sha' is not a valid algorithm name"),
    ("a@sha256:abc@x", "digest 'sha256:abc@x' has invalid character '@' at position 13"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problem"), INVALID)
def test_invalid_references_name_the_bad_part(text: str, problem: str) -> None:
    error = _error(text)
    assert error.message == f"invalid reference '{text}': {problem}"
    assert error.hint  # every error says what to do


def test_tag_length_limit() -> None:
    assert parse("ubuntu:" + "v" * 128).tag == "v" * 128
    error = _error("ubuntu:" + "v" * 129)
    assert f"tag '{'v' * 72}...vvvvv' is 129 characters long; at most 128 allowed" in error.message


def test_name_length_limit_counts_the_normalized_path() -> None:
    assert parse("example.com/" + "a" * 255).path == "a" * 255
    assert "repository name exceeds 255 characters" in _error("example.com/" + "a" * 256).message
    assert "has 256" in _error("example.com/" + "a" * 256).message
    # Docker Hub's "library/" counts: 248 + 8 = 256.
    assert parse("a" * 247).path == "library/" + "a" * 247
    assert "has 256" in _error("a" * 248).message
    # The host is not part of the limit.
    assert parse("registry.example.com:5000/" + "a" * 255).repository.endswith("a" * 255)


def test_long_input_is_shortened_in_messages() -> None:
    text = "x/" + "b" * 300 + "!"
    message = _error(text).message
    assert len(message) < 300
    assert "at position 303" in message


def test_capitalized_first_component_is_a_host_per_distribution() -> None:
    assert (parse("Foo/bar").domain, parse("Foo/bar").path) == ("Foo", "bar")
    error = _error("FOO_BAR/x")
    assert error.message == (
        "invalid reference 'FOO_BAR/x': registry host 'FOO_BAR' has invalid character '_' at"
        " position 4"
    )
    assert error.hint == "a first component with capitals is read as a registry host"


def test_uppercase_hint_suggests_the_fix() -> None:
    assert _error("Ubuntu:22.04").hint == "use 'ubuntu'"
    assert _error("https://ghcr.io/org/app").hint == "drop the scheme: 'ghcr.io/org/app'"


# familiar form, canonical form, other spellings that normalize to the same thing
NORMALIZED = [
    ("localhost/fooo", "localhost/fooo", []),
    ("localhost/fooo/bar", "localhost/fooo/bar", []),
    ("LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", []),
    ("fooo/bar", "docker.io/fooo/bar", ["index.docker.io/fooo/bar"]),
    ("ubuntu", "docker.io/library/ubuntu", ["library/ubuntu", "docker.io/ubuntu", "index.docker.io/ubuntu"]),
    ("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", []),
    ("other/library", "docker.io/other/library", []),
    ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", []),
    ("example.com:8000/privatebasee", "example.com:8000/privatebasee", []),
    ("ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", ["index.docker.io/library/ubuntu-12.04-base"]),
    ("library/foo/bar", "docker.io/library/foo/bar", []),
    ("store/foo/bar", "docker.io/store/foo/bar", []),
    ("FOO/bar", "FOO/bar", []),
    ("ubuntu:22.04", "docker.io/library/ubuntu:22.04", ["index.docker.io/library/ubuntu:22.04"]),
    (BUSYBOX, f"docker.io/library/{BUSYBOX}", []),
    (f"user/app@{D256}", f"docker.io/user/app@{D256}", []),
]  # fmt: skip


@pytest.mark.parametrize(("familiar", "canonical", "others"), NORMALIZED)
def test_docker_hub_normalization(familiar: str, canonical: str, others: list[str]) -> None:
    for text in [familiar, canonical, *others]:
        ref = parse(text)
        assert str(ref) == canonical, text
        assert ref.familiar == familiar, text


def test_parse_adds_no_default_tag() -> None:
    ref = parse("ubuntu")
    assert ref.tag is None
    assert ref.digest is None
    assert str(ref) == "docker.io/library/ubuntu"
    assert ref.identifier == "latest"
    assert str(ref.with_default_tag()) == "docker.io/library/ubuntu:latest"


def test_with_default_tag_only_when_nothing_names_the_image() -> None:
    tagged = parse("ubuntu:22.04")
    pinned = parse(f"ubuntu@{D256}")
    assert tagged.with_default_tag() == tagged
    assert pinned.with_default_tag() == pinned
    assert pinned.with_default_tag().tag is None


def test_tag_and_digest_are_both_kept() -> None:
    ref = parse(f"ubuntu:22.04@{D256}")
    assert (ref.tag, ref.digest) == ("22.04", D256)
    assert str(ref) == f"docker.io/library/ubuntu:22.04@{D256}"
    assert ref.familiar == f"ubuntu:22.04@{D256}"
    assert ref.identifier == D256  # the digest is what gets fetched


def test_with_tag_and_with_digest() -> None:
    ref = parse("registry.example.com:5000/team/app")
    tagged = ref.with_tag("1.0")
    assert str(tagged) == "registry.example.com:5000/team/app:1.0"
    assert tagged.identifier == "1.0"
    both = tagged.with_digest(D512)
    assert str(both) == f"registry.example.com:5000/team/app:1.0@{D512}"
    assert str(both.with_tag("2.0")) == f"registry.example.com:5000/team/app:2.0@{D512}"
    assert ref.tag is None  # the original is untouched


def test_with_tag_and_with_digest_validate() -> None:
    ref = parse("ubuntu")
    with pytest.raises(InvalidReference) as info:
        ref.with_tag("-foo")
    assert info.value.message == (
        "invalid reference 'docker.io/library/ubuntu:-foo': tag '-foo' must start with a letter,"
        " digit or '_'"
    )
    with pytest.raises(InvalidReference) as info:
        ref.with_digest("sha256:abc")
    assert "digest 'sha256:abc': sha256 needs 64 hex characters, got 3" in info.value.message


def test_reference_is_frozen_and_validated_on_construction() -> None:
    ref = parse("ubuntu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "x"  # type: ignore[misc]
    assert str(Reference("ghcr.io", "org/app", "v1")) == "ghcr.io/org/app:v1"
    with pytest.raises(InvalidReference) as info:
        Reference("ghcr.io", "Org/app")
    assert info.value.message == (
        "invalid reference 'ghcr.io/Org/app': repository name 'Org/app' must be lowercase"
    )
    with pytest.raises(InvalidReference, match="port 'x' must be a number"):
        Reference("ghcr.io:x", "app")


def test_repository_and_registry_host() -> None:
    hub = parse("jupyter/base-notebook:latest")
    assert hub.repository == "docker.io/jupyter/base-notebook"
    assert hub.registry_host() == "registry-1.docker.io"
    private = parse("[::1]:5000/team/app:1")
    assert private.repository == "[::1]:5000/team/app"
    assert private.registry_host() == "[::1]:5000"
    assert parse("localhost:5000/foo").registry_host() == "localhost:5000"


def test_errors_are_value_errors_and_regauth_errors() -> None:
    error = _error("Foo:Bar:baz")
    assert isinstance(error, ValueError)
    assert isinstance(error, RegAuthError)
    assert error.code == "invalid_reference"
    assert error.status is None  # the upstream status: no registry was asked
    assert error.to_dict()["code"] == "invalid_reference"
    assert str(error) == f"{error.message} ({error.hint})"


@pytest.mark.parametrize(
    "text",
    ["https://alice:s3cret@r.example:5000/team/app:1", "alice:s3cret@r.example:5000/team/app:1"],
)
def test_a_password_in_a_reference_is_not_repeated(text: str) -> None:
    error = _error(text)
    assert "s3cret" not in str(error) and "alice" not in str(error)
    assert "***@r.example:5000/team/app:1" in error.message
    assert "holds no user name or password" in error.message
    assert (
        error.hint
        == "log in to r.example:5000 first, then name the image 'r.example:5000/team/app:1'"
    )


def test_a_layout_is_not_a_registry_reference() -> None:
    error = _error("oci:./layout:v1")
    assert "names a local OCI layout, not an image in a registry" in error.message
    assert parse("oci:5000/team/app").domain == "oci:5000"  # a host named oci, and its port


def test_non_string_input() -> None:
    with pytest.raises(InvalidReference, match="expected a string, got int"):
        parse(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("digest", [D256, D384, D512])
def test_parse_digest_accepts_each_algorithm(digest: str) -> None:
    assert parse_digest(digest) == digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid digest: the digest is empty"),
        (F64, f"invalid digest: digest '{F64}' has no ':' between algorithm and hex"),
        ("sha256:abc", "invalid digest: digest 'sha256:abc': sha256 needs 64 hex characters, got 3"),
        (
            "sha512:" + "a" * 127,
            "invalid digest: digest 'sha512:" + "a" * 65 + "...aaaaa': sha512 needs 128 hex"
            " characters, got 127",
        ),
        (f"md5:{'a' * 32}", f"invalid digest: digest 'md5:{'a' * 32}': unsupported algorithm 'md5'"),
        (
            f"sha256+b64:{F64}",
            f"invalid digest: digest 'sha256+b64:{F64}': unsupported algorithm 'sha256+b64'",
        ),
        (f"sha256:{F64[:-1]}z", f"invalid digest: digest 'sha256:{F64[:-1]}z' has invalid character"
         " 'z' at position 71"),
    ],
)  # fmt: skip
def test_parse_digest_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidDigest) as info:
        parse_digest(text)
    assert info.value.message == message
    assert info.value.code == "invalid_digest"
    assert isinstance(info.value, InvalidReference)
    assert info.value.hint


def test_check_host() -> None:
    for good in (
        "localhost",
        "registry.example.com:5000",
        "[::1]:5000",
        "[fc00::1]",
        "Reg.Example",
    ):
        check_host(good)
    for bad, problem in [
        ("reg.example:abc", "port 'abc' must be a number"),
        ("[::1", "missing the ']'"),
        ("a:1:2", "more than one ':'"),
        (":5000", "no host name before the port"),
    ]:
        with pytest.raises(InvalidReference) as info:
            check_host(bad)
        assert problem in info.value.message and info.value.hint
