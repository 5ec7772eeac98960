"""Descriptors, platforms, manifests, indexes and image configs.

A digest is of the exact bytes, so parsed documents keep their raw bytes beside the parsed dict
(:class:`Document`); re-serialising a manifest someone else wrote would change its digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import media
from .errors import ImageError, PlatformNotFoundError

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

JSON = dict[str, Any]


def canonical_json(obj: object) -> bytes:
    """Deterministic JSON bytes: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        algorithm = digest.partition(":")[0] if isinstance(digest, str) else ""
        if algorithm in ("sha384", "sha512", "blake3"):  # well-formed, just not ours
            raise ImageError(
                f"{algorithm} digests are not supported: {digest!r}",
                hint="only sha256 is; have the content written with sha256 digests "
                "(the default of docker, skopeo, crane and oras)",
            )
        raise ImageError(
            f"Not a sha256 digest: {digest!r}",
            hint="digests look like sha256:<64 lowercase hex characters>",
        )
    return digest


@dataclass(frozen=True)
class Platform:
    """An image's platform, as in an index or a config: os, architecture and variant."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (e.g. ``linux/arm64/v8``), taking the names ``uname -m``
        and Debian give (``x86_64``, ``aarch64``, ``armhf``) as docker's ``--platform`` does."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ImageError(
                f"Not a platform: {text!r}", hint="write it as os/architecture[/variant]"
            )
        arch, variant = _ARCH_ALIASES.get(parts[1], (parts[1], None))
        return cls(parts[0], arch, parts[2] if len(parts) == 3 else variant)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Platform:
        return cls(
            str(data.get("os", "")), str(data.get("architecture", "")), data.get("variant") or None
        )

    def to_dict(self) -> JSON:
        out: JSON = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def matches(self, other: Platform) -> bool:
        """Whether an image for ``other`` runs here (containerd's rules: arm/v7 also runs v6 and
        v5, amd64/v3 also runs v2 and v1)."""
        return self.preference(other) is not None

    def preference(self, other: Platform) -> int | None:
        """How well an image for ``other`` fits: 0 best (the same variant), higher for older
        compatible variants; None when it does not run here."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return None
        compatible = _compatible_variants(self.architecture, self.variant)
        found = _norm_variant(other.architecture, other.variant)
        return compatible.index(found) if found in compatible else None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


# containerd's platforms.Normalize: other names of an architecture, and the variant they imply.
_ARCH_ALIASES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", None),
}


def _norm_variant(arch: str, variant: str | None) -> str | None:
    # The OCI spec's defaults: arm64 means v8, arm v7; amd64/v1 is plain amd64.
    if arch == "amd64" and variant == "v1":
        return None
    return variant or {"arm64": "v8", "arm": "v7"}.get(arch)


def _compatible_variants(arch: str, variant: str | None) -> list[str | None]:
    """The variants whose images run on ``arch``/``variant``, best first."""
    wanted = _norm_variant(arch, variant)
    level = int(wanted[1:]) if wanted and wanted[0] == "v" and wanted[1:].isdigit() else None
    if arch == "arm" and level is not None:
        return [f"v{n}" for n in range(min(level, 8), 4, -1)]
    if arch == "amd64":
        return [f"v{n}" if n > 1 else None for n in range(level or 1, 0, -1)]
    return [wanted]


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest or an index says of a blob it refers to."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, media_type: str, data: bytes, **kw: Any) -> Descriptor:
        """The descriptor of ``data``."""
        return cls(media_type, sha256_digest(data), len(data), **kw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Descriptor:
        try:
            return cls(
                media_type=str(data["mediaType"]),
                digest=check_digest(data["digest"]),
                size=int(data["size"]),
                annotations=dict(data.get("annotations") or {}),
                platform=Platform.from_dict(data["platform"]) if data.get("platform") else None,
                urls=tuple(data.get("urls") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(
                f"Malformed descriptor: missing or bad {exc}",
                hint="a descriptor needs mediaType, digest and size",
            ) from None

    def to_dict(self) -> JSON:
        out: JSON = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = self.platform.to_dict()
        if self.urls:
            out["urls"] = list(self.urls)
        return out


@dataclass(frozen=True)
class Document:
    """A manifest, index or config: its exact bytes and their parsed form."""

    raw: bytes
    media_type: str
    data: JSON

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Document:
        """Parse ``raw``; ``media_type`` (e.g. a Content-Type header) wins over the body's."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImageError(f"Not valid JSON: {exc}", hint="the document is corrupt") from None
        if not isinstance(data, dict):
            raise ImageError("Not a JSON object", hint="the document is corrupt")
        mt = media_type or data.get("mediaType") or _sniff(data)
        return cls(raw, str(mt), data)

    @classmethod
    def build(cls, media_type: str, data: JSON) -> Document:
        return cls(canonical_json(data), media_type, data)

    @property
    def digest(self) -> str:
        return sha256_digest(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in media.INDEXES

    def descriptor(self, **kw: Any) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw), **kw)

    def config(self) -> Descriptor:
        """The config descriptor of an image manifest."""
        if self.is_index or "config" not in self.data:
            raise ImageError(f"{self.media_type} has no config", hint="resolve a platform first")
        return Descriptor.from_dict(self.data["config"])

    def layers(self) -> list[Descriptor]:
        return [Descriptor.from_dict(d) for d in self.data.get("layers") or []]

    def manifests(self) -> list[Descriptor]:
        """The entries of an index."""
        return [Descriptor.from_dict(d) for d in self.data.get("manifests") or []]


def _sniff(data: JSON) -> str:
    # OCI manifests may omit mediaType; tell an index from an image by its keys.
    if "manifests" in data:
        return media.OCI_INDEX
    if "config" in data:
        return media.OCI_MANIFEST
    return media.OCI_CONFIG


def select_platform(index: Document, wanted: Platform | None = None) -> Descriptor:
    """Pick the manifest for ``wanted`` (default linux/amd64) from an index: the same variant
    first, else the newest compatible one (see :meth:`Platform.preference`)."""
    wanted = wanted or Platform()
    entries = index.manifests()
    ranked = [
        (rank, i, desc)
        for i, desc in enumerate(entries)
        if desc.platform and (rank := wanted.preference(desc.platform)) is not None
    ]
    if ranked:
        return min(ranked, key=lambda r: r[:2])[2]
    available = sorted(
        {str(d.platform) for d in entries if d.platform and d.platform.os != "unknown"}
    )
    raise PlatformNotFoundError(
        f"No image for platform {wanted} in the index "
        f"(available: {', '.join(available) or 'none'})",
        hint="choose one of the available platforms",
    )


def check_platform(config: Mapping[str, Any], wanted: Platform, what: str) -> None:
    """Refuse a single-platform image (``what``, its ``config``) that is not for ``wanted``:
    there is no index to choose from, and using it would build or copy the wrong platform."""
    if not config.get("architecture"):
        return  # no platform recorded (an artifact's config): nothing to compare
    found = Platform.from_dict(config)
    if not wanted.matches(found):
        raise PlatformNotFoundError(
            f"{what} is a single-platform image for {found}, not {wanted}",
            hint=f"ask for platform {found}, or use an image that has {wanted}",
        )


def new_image_manifest(
    config: Descriptor,
    layers: list[Descriptor],
    media_type: str = media.OCI_MANIFEST,
    annotations: Mapping[str, str] | None = None,
) -> Document:
    data: JSON = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.to_dict(),
        "layers": [d.to_dict() for d in layers],
    }
    if annotations and media_type == media.OCI_MANIFEST:
        data["annotations"] = dict(annotations)
    return Document.build(media_type, data)


def new_index(manifests: list[Descriptor], media_type: str = media.OCI_INDEX) -> Document:
    data: JSON = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [d.to_dict() for d in manifests],
    }
    return Document.build(media_type, data)


def config_env(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``Env`` of an image config, as names and values (a later one wins, as at run)."""
    env = (config.get("config") or {}).get("Env") or []
    return dict(item.partition("=")[::2] for item in env)


def empty_config(platform: Platform | None = None) -> JSON:
    """The config of an image with no layers (``FROM scratch``). Plain ``arm`` is recorded as
    ``arm/v7``, as containerd's platforms.Normalize and so BuildKit write it."""
    platform = platform or Platform()
    if platform.architecture == "arm" and not platform.variant:
        platform = Platform(platform.os, "arm", "v7")
    out = platform.to_dict()
    out.update({"config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []})
    return out
