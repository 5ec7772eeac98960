"""The Kubernetes objects that make a namespace's pods use its registries, as plain manifests.

One ``kubernetes.io/dockerconfigjson`` Secret holds every registry's entry: the ServiceAccount
lists it in ``imagePullSecrets`` (the kubelet pulls with it) and the PodDefault mounts it as
``~/.docker/config.json`` (docker, skopeo and buildah read it). An Opaque Secret holds each
registry's CA, plus their bundle as ``certificate.crt`` mounted at ``~/.tls/``, the Kaptain layout.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

Manifest = dict[str, Any]

FIELD_MANAGER = "jupyter-regauth"
MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyter-regauth"}
DOCKER_CONFIG_NAME = "regauth-docker-config"
CERTIFICATE_NAME = "regauth-registry-certificate"
POD_DEFAULT = "regauth-registries"
SELECTOR_LABEL = "jupyter-regauth/registries"
CA_BUNDLE_KEY = "certificate.crt"


def ca_key(host: str) -> str:
    """The CA Secret's key for ``host`` (Secret keys allow only ``[-._a-zA-Z0-9]``)."""
    return re.sub(r"[^-._a-zA-Z0-9]", "_", host) + ".crt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _metadata(name: str, namespace: str) -> Manifest:
    return {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)}


def config_secret(namespace: str, auths: Mapping[str, Mapping[str, str]]) -> Manifest:
    """The dockerconfigjson Secret holding ``auths`` (host -> ``auths`` entry)."""
    config = json.dumps({"auths": dict(sorted(auths.items()))}, indent=1).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(DOCKER_CONFIG_NAME, namespace),
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": _b64(config)},
    }


def ca_secret(namespace: str, cas: Mapping[str, str]) -> Manifest:
    """The Secret holding each host's CA (PEM) and their bundle."""
    data = {ca_key(host): _b64(pem.encode()) for host, pem in sorted(cas.items())}
    bundle = "".join(pem if pem.endswith("\n") else pem + "\n" for _, pem in sorted(cas.items()))
    data[CA_BUNDLE_KEY] = _b64(bundle.encode())
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(CERTIFICATE_NAME, namespace),
        "type": "Opaque",
        "data": data,
    }


def pod_default(namespace: str, hosts: list[str], home: str = "/home/jovyan") -> Manifest:
    """The PodDefault a notebook picks as "Configuration" to get the credentials and CAs."""
    docker, tls = f"{home}/.docker", f"{home}/.tls"
    return {
        "apiVersion": "kubeflow.org/v1alpha1",
        "kind": "PodDefault",
        "metadata": _metadata(POD_DEFAULT, namespace),
        "spec": {
            "desc": "Registry access: " + ", ".join(sorted(hosts)),
            "selector": {"matchLabels": {SELECTOR_LABEL: "true"}},
            "env": [
                {"name": "DOCKER_CONFIG", "value": docker},
                {"name": "REGISTRY_AUTH_FILE", "value": f"{docker}/config.json"},
            ],
            "volumes": [
                {
                    "name": "docker-secret",
                    "secret": {
                        "secretName": DOCKER_CONFIG_NAME,
                        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                    },
                },
                {
                    "name": "docker-registry-certificate",
                    # Optional: registries with a publicly trusted certificate need no CA Secret.
                    "secret": {"secretName": CERTIFICATE_NAME, "optional": True},
                },
            ],
            "volumeMounts": [
                {"name": "docker-secret", "mountPath": docker, "readOnly": True},
                {"name": "docker-registry-certificate", "mountPath": tls, "readOnly": True},
            ],
        },
    }
