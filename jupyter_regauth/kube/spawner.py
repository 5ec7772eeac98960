"""JupyterHub: a KubeSpawner ``profile_list`` entry that gives a server one registry, and the
``jupyterhub_config.py`` lines that add it.

The entry uses the same Secrets ``regauth kube apply`` writes in the user's namespace (the
per-registry ones, so no other registry's credentials reach the pod).
"""

from __future__ import annotations

import pprint
from typing import Any

from .objects import DEFAULT_HOME, Names, RegistrySpec


def profile_entry(
    spec: RegistrySpec, *, home: str = DEFAULT_HOME, default: bool = False
) -> dict[str, Any]:
    """One ``c.KubeSpawner.profile_list`` item for ``spec``'s registry."""
    names = Names(spec.host)
    docker, tls = f"{home}/.docker", f"{home}/.tls"
    volumes: list[dict[str, Any]] = [
        {
            "name": f"{names.pod_default}-docker",
            "secret": {
                "secretName": names.docker_secret,
                "items": [{"key": "config.json", "path": "config.json"}],
            },
        }
    ]
    mounts = [{"name": f"{names.pod_default}-docker", "mountPath": docker, "readOnly": True}]
    env = {"DOCKER_CONFIG": docker, "REGISTRY_AUTH_FILE": f"{docker}/config.json"}
    if spec.ca_pem:
        volumes.append(
            {"name": f"{names.pod_default}-tls", "secret": {"secretName": names.certificate_secret}}
        )
        mounts.append({"name": f"{names.pod_default}-tls", "mountPath": tls, "readOnly": True})
        env |= {
            "SSL_CERT_FILE": f"{tls}/ca-bundle.crt",
            "REQUESTS_CA_BUNDLE": f"{tls}/ca-bundle.crt",
        }
    entry: dict[str, Any] = {
        "display_name": f"Registry {spec.display_name}",
        "slug": f"regauth-{names.slug}",
        "description": f"Credentials and CA for {spec.host} (docker, skopeo, Python)",
        "kubespawner_override": {
            "image_pull_secrets": [names.docker_secret],
            "volumes": volumes,
            "volume_mounts": mounts,
            "environment": env,
        },
    }
    if default:
        entry["default"] = True
    return entry


def jupyterhub_config(spec: RegistrySpec, *, home: str = DEFAULT_HOME) -> str:
    """Python for ``jupyterhub_config.py``: appends the entry to ``c.KubeSpawner.profile_list``,
    keeping the profiles listed before it (``append`` works on a set list and an unset one)."""
    entry = pprint.pformat(profile_entry(spec, home=home), sort_dicts=False)
    return (
        f"# jupyter-regauth: registry {spec.host}\nc.KubeSpawner.profile_list.append(\n{entry}\n)\n"
    )
