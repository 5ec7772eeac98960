"""Registry host names as docker keys them in ``config.json``.

``auths`` keys may carry a scheme and a path (``https://registry:5000/v2/``) from old docker
versions; lookups compare the host part, as docker/cli's ``ConvertToHostname`` does. Docker Hub is
the exception: docker keys it by its historical index address ``https://index.docker.io/v1/``.
"""

from __future__ import annotations

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_HOST = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def convert_to_hostname(key: str) -> str:
    """The ``host[:port]`` of a key with or without scheme and path (docker's ConvertToHostname)."""
    _, scheme, rest = key.partition("://")
    if not scheme:
        return key.split("/", 1)[0]
    hostport = rest
    for stop in "/?#":
        hostport = hostport.split(stop, 1)[0]
    hostport = hostport.rpartition("@")[2]  # userinfo is never part of the host
    if not hostport:
        return key.split("/", 1)[0]
    if hostport.startswith("[") and "]" in hostport:
        address, _, tail = hostport[1:].partition("]")
        port = tail.removeprefix(":")
        return f"[{address}]:{port}" if port else address
    if hostport.count(":") > 1:
        # An unbracketed IPv6 literal: the last group is a port only if it is all digits.
        address, _, port = hostport.rpartition(":")
        return f"[{address}]:{port}" if address and port.isdigit() else hostport
    return hostport.removesuffix(":")


def normalize_host(key: str) -> str:
    """The registry host a key or URL is about, lower-cased (host names are case-insensitive, and
    every host the core hands us is lower-cased, while ``docker login Host`` keeps the capitals);
    every Docker Hub alias becomes ``docker.io``."""
    host = convert_to_hostname(key.strip()).lower()
    return DOCKER_HUB_HOST if host in _HUB_ALIASES else host


def auth_key(host: str) -> str:
    """The key docker/cli uses for ``host`` in ``auths``, ``credHelpers`` and helper calls."""
    normalized = normalize_host(host)
    return DOCKER_HUB_KEY if normalized == DOCKER_HUB_HOST else normalized
