"""JupyterHub: a KubeSpawner ``profile_list`` entry that gives a server one registry, and the
``jupyterhub_config.py`` lines that add it.

The entry uses the same Secrets ``regauth kube apply`` writes in the user's namespace (the
per-registry ones, so no other registry's credentials reach the pod).

KubeSpawner merges a ``kubespawner_override`` value into the hub's own only where both are
dicts; a list replaces the hub's list outright (its home volume, its pull secrets). So
``volumes`` and ``volume_mounts`` are given in KubeSpawner's dict form, keyed by volume name, and
the generated config adds them (and the pull Secret, which KubeSpawner only takes as a list) with
a callable that extends whatever form the hub uses.
"""

from __future__ import annotations

import pprint
from typing import Any

from .objects import DEFAULT_HOME, Names, RegistrySpec

# Pasted into jupyterhub_config.py: the hub need not have jupyter_regauth installed.
MERGE_HELPER = '''\
def _regauth_extend(key, ours):
    """A kubespawner_override callable: the hub's own `key` (a list or a dict) plus `ours`."""

    def extend(spawner):
        have = getattr(spawner, key) or []
        if isinstance(have, dict):
            return {**have, **ours}
        names = [i if isinstance(i, str) else i.get("name") for i in have]
        return [*have, *(v for k, v in ours.items() if k not in names)]

    return extend

'''


def profile_entry(
    spec: RegistrySpec, *, home: str = DEFAULT_HOME, default: bool = False
) -> dict[str, Any]:
    """One ``c.KubeSpawner.profile_list`` item for ``spec``'s registry, as data: ``volumes`` and
    ``volume_mounts`` in the dict form (merged with the hub's where the hub uses it too). The
    pull Secret is not in it (a list override would drop the hub's own); the ServiceAccount
    ``apply`` updated carries it, or see :func:`jupyterhub_config`."""
    names = Names(spec.host)
    docker, tls = f"{home}/.docker", f"{home}/.tls"
    docker_volume, tls_volume = f"{names.pod_default}-docker", f"{names.pod_default}-tls"
    volumes: dict[str, Any] = {
        docker_volume: {
            "name": docker_volume,
            "secret": {
                "secretName": names.docker_secret,
                "items": [{"key": "config.json", "path": "config.json"}],
            },
        }
    }
    mounts: dict[str, Any] = {
        docker_volume: {"name": docker_volume, "mountPath": docker, "readOnly": True}
    }
    env = {"DOCKER_CONFIG": docker, "REGISTRY_AUTH_FILE": f"{docker}/config.json"}
    if spec.ca_pem:
        tls_secret = {"secretName": names.certificate_secret}
        volumes[tls_volume] = {"name": tls_volume, "secret": tls_secret}
        mounts[tls_volume] = {"name": tls_volume, "mountPath": tls, "readOnly": True}
        env |= {
            "SSL_CERT_FILE": f"{tls}/ca-bundle.crt",
            "REQUESTS_CA_BUNDLE": f"{tls}/ca-bundle.crt",
        }
    entry: dict[str, Any] = {
        "display_name": f"Registry {spec.display_name}",
        "slug": f"regauth-{names.slug}",
        "description": f"Credentials and CA for {spec.host} (docker, skopeo, Python)",
        "kubespawner_override": {
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
    keeping the profiles listed before it (``append`` works on a set list and an unset one).
    Its volumes, mounts and pull Secret extend the hub's own, in the list or the dict form."""
    entry = pprint.pformat(profile_entry(spec, home=home), sort_dicts=False)
    secret = Names(spec.host).docker_secret
    lines = [
        f"# jupyter-regauth: registry {spec.host}",
        MERGE_HELPER,
        f"_regauth_profile = {entry}",
        '_regauth_override = _regauth_profile["kubespawner_override"]',
        'for _key in ("volumes", "volume_mounts"):',
        "    _regauth_override[_key] = _regauth_extend(_key, _regauth_override[_key])",
        '_regauth_override["image_pull_secrets"] = _regauth_extend(',
        f'    "image_pull_secrets", {{{secret!r}: {{"name": {secret!r}}}}}',
        ")",
        "c.KubeSpawner.profile_list.append(_regauth_profile)",
    ]
    return "\n".join(lines) + "\n"
