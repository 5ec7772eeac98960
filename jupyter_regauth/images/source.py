"""Where a base image's manifest and blobs come from.

:class:`BlobSource` is the seam between the builder and storage: today a local OCI layout
(:class:`LayoutSource`); a registry-backed source implements the same two methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol

from .errors import ImageError
from .layout import OCILayout
from .manifest import Document, Platform


class BlobSource(Protocol):
    # A registry reference, recorded as the base image name; None for local sources (a local
    # path means nothing to whoever pulls the image).
    name: str | None

    def manifest(self) -> Document:
        """The image manifest (an index already resolved to one platform)."""
        ...

    def open_blob(self, digest: str) -> BinaryIO:
        """A readable stream of the blob (the caller verifies its digest)."""
        ...


class LayoutSource:
    def __init__(
        self, layout: OCILayout, ref: str | None = None, platform: Platform | None = None
    ) -> None:
        self.layout = layout
        self.ref = ref
        self.platform = platform
        self.name: str | None = None

    def manifest(self) -> Document:
        return self.layout.read_manifest(self.ref, self.platform)

    def open_blob(self, digest: str) -> BinaryIO:
        return self.layout.open_blob(digest)


def parse_layout_ref(text: str) -> tuple[Path, str | None]:
    """Split ``[oci:]PATH[:REF]`` at the first ``:``, as skopeo does: a ref name may hold
    ``:`` and ``/`` (``oci:DIR:registry.example/team/model:v1``), a path may not hold ``:``."""
    body = text[4:] if text.startswith("oci:") else text
    path, sep, ref = body.partition(":")
    if sep and path:
        return Path(path), ref or None
    return Path(body), None


def layout_base(
    base: str | None, base_dir: str | Path | None = None
) -> tuple[Path, str | None] | None:
    """Where a spec's ``base`` is a local OCI layout (``oci:PATH[:REF]``, or a directory holding
    one): its path, a relative one taken from ``base_dir``, and its ref. None for an empty
    image (no base, ``scratch``) and for a registry reference."""
    text = (base or "").strip()
    if text in ("", "scratch"):
        return None
    path, ref = parse_layout_ref(text)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if text.startswith("oci:") or (path / "oci-layout").is_file():
        return path, ref
    return None


def open_base(base: str | None, platform: Platform | None = None) -> BlobSource | None:
    """The source for a spec's ``base``: None or ``scratch`` for an empty image, ``oci:PATH[:REF]``
    or a directory holding an OCI layout."""
    if base is None or base.strip() in ("", "scratch"):
        return None
    if (local := layout_base(base)) is not None:
        return LayoutSource(OCILayout.open(local[0]), local[1], platform)
    raise ImageError(
        f"Base {base!r} is not a local OCI layout; registry bases need a registry source",
        hint=f"copy it locally first (skopeo copy docker://{base} oci:DIR:TAG) and use oci:DIR:TAG",
    )
