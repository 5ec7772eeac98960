"""Registry credentials where docker, podman and skopeo look for them."""

from __future__ import annotations

from .errors import ConfigFileError, InvalidCredentialsError
from .helpers import HelperClient
from .hosts import DOCKER_HUB_KEY, auth_key, normalize_host
from .masking import SecretFilter, mask, secret_forms
from .store import DockerConfig, credentials_for
from .types import Credentials

__all__ = [
    "DOCKER_HUB_KEY",
    "ConfigFileError",
    "Credentials",
    "DockerConfig",
    "HelperClient",
    "InvalidCredentialsError",
    "SecretFilter",
    "auth_key",
    "credentials_for",
    "mask",
    "normalize_host",
    "secret_forms",
]
