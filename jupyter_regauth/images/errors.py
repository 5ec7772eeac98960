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
