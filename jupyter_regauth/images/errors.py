"""Errors raised while reading, writing or building images."""

from __future__ import annotations

from ..errors import RegAuthError


class ImageError(RegAuthError):
    """An image, layout or layer could not be read or written."""

    code = "image_error"


class PlatformNotFoundError(ImageError):
    """An image index has no manifest for the requested platform."""

    code = "platform_not_found"


class BuildSpecError(ImageError):
    """A build spec is malformed."""

    code = "build_spec_error"


class NotAnArtifact(ImageError):
    """``reference`` is an image, or an image index (``index``), not an artifact of files."""

    code = "not_an_artifact"
    fields = ("reference", "index")

    def __init__(self, reference: str, *, index: bool) -> None:
        if index:
            message = f"{reference} is an index, not an artifact"
            hint = "pull one of its manifests by digest, or pull the image into an OCI layout"
        else:
            message = f"{reference} has no titled files: it is not a file artifact"
            hint = "pull images into an OCI layout"
        super().__init__(message, hint=hint)
        self.reference = reference
        self.index = index
