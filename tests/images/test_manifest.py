from __future__ import annotations

import pytest

from jupyter_regauth.images import media
from jupyter_regauth.images.errors import ImageError, PlatformNotFoundError
from jupyter_regauth.images.manifest import (
    Descriptor,
    Document,
    Platform,
    canonical_json,
    check_platform,
    empty_config,
    new_index,
    select_platform,
)


def _index() -> Document:
    def entry(n: int, p: Platform) -> Descriptor:
        return Descriptor.of(media.OCI_MANIFEST, bytes([n]), platform=p)

    return new_index(
        [
            entry(1, Platform("linux", "amd64")),
            entry(2, Platform("linux", "arm64")),
            entry(3, Platform("linux", "arm", "v6")),
            entry(4, Platform("unknown", "unknown")),  # attestation entries are not platforms
        ]
    )


def test_select_platform() -> None:
    index = _index()
    assert select_platform(index).digest == Descriptor.of("", bytes([1])).digest
    assert select_platform(index, Platform.parse("linux/arm64/v8")).digest == (
        Descriptor.of("", bytes([2])).digest
    )
    assert select_platform(index, Platform("linux", "arm")).digest == (
        Descriptor.of("", bytes([3])).digest
    )
    # arm/v7 runs arm/v6 images, as containerd's matcher has it; arm/v5 does not.
    assert select_platform(index, Platform("linux", "arm", "v7")).digest == (
        Descriptor.of("", bytes([3])).digest
    )
    with pytest.raises(PlatformNotFoundError) as err:
        select_platform(index, Platform("linux", "arm", "v5"))
    assert "linux/amd64, linux/arm/v6, linux/arm64" in err.value.message
    assert "unknown" not in err.value.message


def test_select_platform_prefers_the_default_variant() -> None:
    platforms = ["linux/arm/v6", "linux/arm/v7", "linux/amd64/v3", "linux/amd64", "linux/arm64/v8"]
    index = new_index(
        [
            Descriptor.of(media.OCI_MANIFEST, p.encode(), platform=Platform.parse(p))
            for p in platforms
        ]
    )

    def picked(wanted: str | None) -> str:
        desc = select_platform(index, Platform.parse(wanted) if wanted else None)
        return str(desc.platform)

    # The first entry with the os and architecture is not the answer: the variant decides.
    assert picked("linux/arm") == "linux/arm/v7"
    assert picked(None) == "linux/amd64"  # not amd64/v3, which older CPUs cannot run
    assert picked("linux/amd64/v2") == "linux/amd64"
    assert picked("linux/amd64/v3") == "linux/amd64/v3"
    assert picked("linux/amd64/v4") == "linux/amd64/v3"
    assert picked("linux/arm/v6") == "linux/arm/v6"
    assert picked("linux/arm64") == "linux/arm64/v8"


def test_platform_names_uname_and_debian_give_are_understood() -> None:
    """``--platform linux/aarch64`` (what ``uname -m`` prints) picks arm64, as docker's does."""
    assert select_platform(_index(), Platform.parse("linux/aarch64")).digest == (
        Descriptor.of("", bytes([2])).digest
    )
    assert Platform.parse("Linux/X86_64") == Platform("linux", "amd64")
    assert Platform.parse("linux/armhf") == Platform("linux", "arm", "v7")
    assert Platform.parse("linux/armel") == Platform("linux", "arm", "v6")
    assert Platform.parse("linux/i386") == Platform("linux", "386")


def test_an_empty_image_for_plain_arm_records_v7() -> None:
    assert empty_config(Platform.parse("linux/arm"))["variant"] == "v7"
    assert empty_config(Platform.parse("linux/arm/v6"))["variant"] == "v6"
    assert "variant" not in empty_config(Platform.parse("linux/amd64"))


def test_check_platform_refuses_another_single_platform_image() -> None:
    config = {"os": "linux", "architecture": "amd64"}
    check_platform(config, Platform(), "the base")
    check_platform({"config": {}}, Platform.parse("linux/arm64"), "an artifact")  # no platform
    with pytest.raises(PlatformNotFoundError) as err:
        check_platform(config, Platform.parse("linux/arm64"), "The base image x")
    assert err.value.message == (
        "The base image x is a single-platform image for linux/amd64, not linux/arm64"
    )


def test_document_keeps_exact_bytes() -> None:
    raw = b'{ "schemaVersion": 2, "manifests": [] }'
    doc = Document.parse(raw)
    assert doc.raw == raw and doc.is_index and doc.media_type == media.OCI_INDEX
    assert doc.digest == Descriptor.of("", raw).digest
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_bad_input() -> None:
    with pytest.raises(ImageError, match="Not a platform"):
        Platform.parse("linux")
    with pytest.raises(ImageError, match="Not a sha256 digest"):
        Descriptor.from_dict({"mediaType": "x", "digest": "sha256:abc", "size": 1})
    sha512 = "sha512:" + "a" * 128  # registered by the image spec, refused as such
    with pytest.raises(ImageError, match=r"^sha512 digests are not supported") as err:
        Descriptor.from_dict({"mediaType": "x", "digest": sha512, "size": 1})
    assert err.value.hint and "only sha256" in err.value.hint
    with pytest.raises(ImageError, match="Malformed descriptor"):
        Descriptor.from_dict({"mediaType": "x"})
    with pytest.raises(ImageError, match="Not valid JSON"):
        Document.parse(b"{")
    with pytest.raises(ImageError, match="has no config"):
        _index().config()
