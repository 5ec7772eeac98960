"""Nodes: containerd ``hosts.toml`` for a registry or a mirror, and a DaemonSet that installs it.

containerd reads ``<config_path>/<registry>/hosts.toml`` (``config_path`` set to
``/etc/containerd/certs.d`` in its CRI registry config), and ``_default/hosts.toml`` for every
registry without a directory of its own. A profile with ``mirror_of`` makes this registry the
first host tried for those upstreams ("*" means ``_default``).
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Sequence
from typing import Any

from ..profiles import EVERY_UPSTREAM
from .objects import FIELD_MANAGER, MANAGED_BY, REGISTRY_LABEL, Manifest, RegistrySpec, slug

CERTS_DIR = "/etc/containerd/certs.d"
UPSTREAM_SERVERS = {"docker.io": "https://registry-1.docker.io"}
INSTALLER_IMAGE = "busybox:1.37"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def _q(text: str) -> str:
    # A JSON string is a valid TOML basic string for the characters a path or host holds.
    return json.dumps(text)


def host_block(
    url: str,
    capabilities: Sequence[str],
    *,
    ca: str = "",
    client: tuple[str, str] | None = None,
    override_path: bool = False,
    authorization: str = "",
) -> list[str]:
    lines = [f"[host.{_q(url)}]", f"  capabilities = [{', '.join(_q(c) for c in capabilities)}]"]
    if ca:
        lines.append(f"  ca = {_q(ca)}")
    if client:
        lines.append(f"  client = [[{_q(client[0])}, {_q(client[1])}]]")
    if override_path:
        lines.append("  override_path = true")
    if authorization:
        lines += [f"  [host.{_q(url)}.header]", f"    authorization = [{_q(authorization)}]"]
    return lines


def node_files(
    spec: RegistrySpec,
    mirror_of: Sequence[str] = (),
    *,
    certs_dir: str = CERTS_DIR,
    header_auth: bool = False,
    override_path: bool = False,
) -> dict[str, str]:
    """Files relative to ``certs_dir``: the registry's own ``hosts.toml`` with its CA and client
    pair beside it, and one ``hosts.toml`` per mirrored upstream. ``header_auth`` puts the
    credentials in the files (so they must travel in a Secret); without it, pods pull with their
    ``imagePullSecrets``."""
    own = f"{certs_dir}/{spec.host}"
    files: dict[str, str] = {}
    ca = client = None
    if spec.ca_pem:
        files[f"{spec.host}/ca.crt"] = spec.ca_pem
        ca = f"{own}/ca.crt"
    if spec.client_cert_pem:
        files[f"{spec.host}/client.cert"] = spec.client_cert_pem
        files[f"{spec.host}/client.key"] = spec.client_key_pem
        client = (f"{own}/client.cert", f"{own}/client.key")
    authorization = ""
    creds = spec.credentials
    if header_auth and creds.username and creds.password:
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        authorization = f"Basic {token}"
    url = f"https://{spec.host}" + ("/v2" if override_path else "")
    options: dict[str, Any] = {
        "ca": ca or "",
        "client": client,
        "override_path": override_path,
        "authorization": authorization,
    }
    files[f"{spec.host}/hosts.toml"] = "\n".join(
        [
            f"server = {_q(f'https://{spec.host}')}",
            "",
            *host_block(url, ["pull", "resolve", "push"], **options),
            "",
        ]
    )
    for upstream in mirror_of:
        directory = "_default" if upstream in EVERY_UPSTREAM else upstream
        server = (
            []
            if directory == "_default"
            else [f"server = {_q(UPSTREAM_SERVERS.get(upstream, f'https://{upstream}'))}", ""]
        )
        block = host_block(url, ["pull", "resolve"], **options)
        files[f"{directory}/hosts.toml"] = "\n".join([*server, *block, ""])
    return files


def daemonset(
    spec: RegistrySpec,
    mirror_of: Sequence[str] = (),
    *,
    namespace: str = "kube-system",
    certs_dir: str = CERTS_DIR,
    header_auth: bool = False,
    override_path: bool = False,
    installer_image: str = INSTALLER_IMAGE,
    pause_image: str = PAUSE_IMAGE,
) -> list[Manifest]:
    """A Secret holding :func:`node_files` and a DaemonSet whose init container copies them
    into the node's ``certs_dir`` (a hostPath); a pause container keeps the pod alive."""
    files = node_files(
        spec, mirror_of, certs_dir=certs_dir, header_auth=header_auth, override_path=override_path
    )
    name = f"regauth-{slug(spec.host)}-containerd"
    labels = {**MANAGED_BY, REGISTRY_LABEL: slug(spec.host)}
    keys = {path: f"file-{i}" for i, path in enumerate(sorted(files))}
    script = ["set -e"]
    for path, key in keys.items():
        target = shlex.quote(f"/host/{path}")
        script.append(f'mkdir -p "$(dirname {target})"')
        script.append(f"cp /regauth/{key} {target}.tmp && mv {target}.tmp {target}")
    secret: Manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "data": {
            key: base64.b64encode(files[path].encode()).decode() for path, key in keys.items()
        },
    }
    match = {"app.kubernetes.io/name": name}
    template: Manifest = {
        "metadata": {"labels": {**labels, **match}},
        "spec": {
            "tolerations": [{"operator": "Exists"}],
            "initContainers": [
                {
                    "name": "install",
                    "image": installer_image,
                    "command": ["sh", "-c", "\n".join(script)],
                    "volumeMounts": [
                        {"name": "files", "mountPath": "/regauth", "readOnly": True},
                        {"name": "certs-d", "mountPath": "/host"},
                    ],
                }
            ],
            "containers": [{"name": "pause", "image": pause_image}],
            "volumes": [
                {"name": "files", "secret": {"secretName": name, "defaultMode": 0o400}},
                {"name": "certs-d", "hostPath": {"path": certs_dir, "type": "DirectoryOrCreate"}},
            ],
        },
    }
    ds: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": {"matchLabels": match}, "template": template},
    }
    return [secret, ds]


__all__ = ["CERTS_DIR", "FIELD_MANAGER", "daemonset", "host_block", "node_files"]
