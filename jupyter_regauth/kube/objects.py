"""The Kubernetes objects that hand one registry's credentials and CA to a namespace's pods.

Per registry (``<slug>`` is the host made DNS-safe, see :func:`slug`):

- ``regauth-<slug>-docker-secret``: a ``kubernetes.io/dockerconfigjson`` Secret with only this
  registry's entry, under ``.dockerconfigjson`` (for ``imagePullSecrets``) and ``config.json``
  (the Kaptain ``docker-secret`` layout);
- ``regauth-<slug>-docker-registry-certificate``: its CA as ``certificate.crt`` and ``ca.crt``
  (the Kaptain layout), and ``ca-bundle.crt``: the system CAs plus the registry's;
- ``regauth-<slug>-client-certificate``: a ``kubernetes.io/tls`` Secret, for mutual TLS;
- the PodDefault ``regauth-<slug>``, chosen with the label ``regauth-<slug>: "true"``.

Docker and skopeo read ONE ``config.json`` and Python ONE CA bundle, so what pods mount is the
namespace's combined pair (:data:`COMBINED`), rebuilt from the per-registry Secrets on every change.
Every PodDefault declares those shared volumes and env identically, so the webhook merges several
PodDefaults on one pod; the per-registry volumes (client certificates) have unique names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..credentials.entries import encode_entry
from ..credentials.types import Credentials

Manifest = dict[str, Any]

FIELD_MANAGER = "jupyter-regauth"
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY = {MANAGED_BY_KEY: FIELD_MANAGER}
MANAGED_SELECTOR = f"{MANAGED_BY_KEY}={FIELD_MANAGER}"
REGISTRY_LABEL = "jupyter-regauth/registry"
HOST_ANNOTATION = "jupyter-regauth/host"
PODDEFAULT_API = ("kubeflow.org", "v1alpha1", "poddefaults")
DEFAULT_HOME = "/home/jovyan"
DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"  # a pull Secret's type
DOCKER_CONFIG_VOLUME = "regauth-docker-config"  # every PodDefault's mount of the combined config


@dataclass(frozen=True)
class Combined:
    """Names of the namespace-wide Secrets pods mount (Kaptain's own names on request)."""

    docker: str = "regauth-docker-secret"
    certificate: str = "regauth-docker-registry-certificate"
    registry: str = "combined-regauth"  # the registry label value marking them


COMBINED = Combined()
KAPTAIN = Combined("docker-secret", "docker-registry-certificate")


# Hosts whose plain slug is unambiguous: dot-separated lowercase labels, then maybe a port.
_PLAIN_HOST = re.compile(r"[a-z0-9]+(?:\.[a-z0-9]+)*(?::[0-9]+)?")
SLUG_MAX = 40


def slug(host: str) -> str:
    """``registry.example:5000`` -> ``registry-example-5000``: usable in names, label keys and
    values. Two hosts never share a slug: where the plain mapping could be ambiguous (the host
    has a ``-``, its last label is all digits without a port, e.g. ``reg.example.5000`` next to
    ``reg.example:5000``, other characters, or it is long) the slug ends in a hash of the host."""
    text = re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "registry"
    plain = _PLAIN_HOST.fullmatch(host) is not None
    if plain and ":" not in host and host.rsplit(".", 1)[-1].isdigit():
        plain = False  # its slug would read as host + port
    if plain and len(text) <= SLUG_MAX:
        return text
    return text[:31].rstrip("-") + "-" + hashlib.sha256(host.encode()).hexdigest()[:8]


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def system_ca_bundle() -> str:
    """This machine's trusted CAs (PEM), the base a registry CA is added to."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    import certifi

    return Path(certifi.where()).read_text()


def _pem_join(*pems: str) -> str:
    return "".join(p if p.endswith("\n") else p + "\n" for p in pems if p.strip())


@dataclass(frozen=True)
class RegistrySpec:
    """What the cluster needs to know about one registry. Its repr shows no secret."""

    host: str
    credentials: Credentials
    name: str = ""
    ca_pem: str = ""
    client_cert_pem: str = field(default="", repr=False)
    client_key_pem: str = field(default="", repr=False)

    @property
    def slug(self) -> str:
        return slug(self.host)

    @property
    def display_name(self) -> str:
        return self.name or self.host


@dataclass(frozen=True)
class Names:
    """The object names and labels of one registry."""

    host: str

    @property
    def slug(self) -> str:
        return slug(self.host)

    @property
    def docker_secret(self) -> str:
        return f"regauth-{self.slug}-docker-secret"

    @property
    def certificate_secret(self) -> str:
        return f"regauth-{self.slug}-docker-registry-certificate"

    @property
    def client_secret(self) -> str:
        return f"regauth-{self.slug}-client-certificate"

    @property
    def pod_default(self) -> str:
        return f"regauth-{self.slug}"

    @property
    def selector_label(self) -> str:
        """The label a pod carries to get this registry (the PodDefault's first matchLabel)."""
        return f"regauth-{self.slug}"

    @property
    def client_volume(self) -> str:
        return f"regauth-{self.slug}-client"


def metadata(name: str, namespace: str, registry: str, host: str = "") -> Manifest:
    meta: Manifest = {
        "name": name,
        "namespace": namespace,
        "labels": {**MANAGED_BY, REGISTRY_LABEL: registry},
    }
    if host:
        meta["annotations"] = {HOST_ANNOTATION: host}
    return meta


def docker_config_json(auths: Mapping[str, Mapping[str, str]]) -> str:
    return json.dumps({"auths": dict(sorted(auths.items()))}, indent=1, sort_keys=True)


def _secret(meta: Manifest, data: Mapping[str, str], kind: str = "Opaque") -> Manifest:
    encoded = {key: _b64(value) for key, value in sorted(data.items())}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": kind, "data": encoded}


def docker_secret(meta: Manifest, auths: Mapping[str, Mapping[str, str]]) -> Manifest:
    config = docker_config_json(auths)
    return _secret(meta, {".dockerconfigjson": config, "config.json": config}, DOCKER_CONFIG_TYPE)


def certificate_secret(meta: Manifest, ca_pem: str, system_cas: str) -> Manifest:
    ca = _pem_join(ca_pem)
    return _secret(
        meta, {"certificate.crt": ca, "ca.crt": ca, "ca-bundle.crt": _pem_join(system_cas, ca)}
    )


def registry_objects(
    spec: RegistrySpec,
    namespace: str,
    *,
    home: str = DEFAULT_HOME,
    combined: Combined = COMBINED,
    system_cas: str = "",
) -> list[Manifest]:
    """The Secrets and PodDefault of one registry, in the order they are applied."""
    names = Names(spec.host)

    def meta(name: str) -> Manifest:
        return metadata(name, namespace, names.slug, spec.host)

    objects = [
        docker_secret(meta(names.docker_secret), {spec.host: encode_entry(spec.credentials)})
    ]
    if spec.ca_pem:
        objects.append(certificate_secret(meta(names.certificate_secret), spec.ca_pem, system_cas))
    if spec.client_cert_pem:
        tls = {"tls.crt": spec.client_cert_pem, "tls.key": spec.client_key_pem}
        objects.append(_secret(meta(names.client_secret), tls, "kubernetes.io/tls"))
    objects.append(pod_default(spec, namespace, home=home, combined=combined))
    return objects


def combined_objects(
    namespace: str,
    auths: Mapping[str, Mapping[str, str]],
    cas: Iterable[str],
    *,
    combined: Combined = COMBINED,
    system_cas: str = "",
) -> list[Manifest]:
    """The namespace-wide config.json and CA bundle built from every registry's Secrets."""

    def meta(name: str) -> Manifest:
        return metadata(name, namespace, combined.registry)

    objects = [docker_secret(meta(combined.docker), auths)]
    pems = [p for p in cas if p.strip()]
    if pems:
        objects.append(certificate_secret(meta(combined.certificate), _pem_join(*pems), system_cas))
    return objects


def pod_default(
    spec: RegistrySpec, namespace: str, *, home: str = DEFAULT_HOME, combined: Combined = COMBINED
) -> Manifest:
    """The PodDefault the Kubeflow spawner offers as a "Configuration" for this registry."""
    names = Names(spec.host)
    docker, tls = f"{home}/.docker", f"{home}/.tls"
    env = [
        {"name": "DOCKER_CONFIG", "value": docker},
        {"name": "REGISTRY_AUTH_FILE", "value": f"{docker}/config.json"},
    ]
    volumes: list[Manifest] = [
        {
            "name": DOCKER_CONFIG_VOLUME,
            "secret": {
                "secretName": combined.docker,
                "items": [{"key": "config.json", "path": "config.json"}],
            },
        }
    ]
    mounts: list[Manifest] = [{"name": DOCKER_CONFIG_VOLUME, "mountPath": docker, "readOnly": True}]
    if spec.ca_pem:
        bundle = f"{tls}/ca-bundle.crt"
        env += [{"name": "SSL_CERT_FILE", "value": bundle}]
        env += [{"name": "REQUESTS_CA_BUNDLE", "value": bundle}]
        volumes.append(
            {
                "name": "regauth-docker-registry-certificate",
                "secret": {"secretName": combined.certificate},
            }
        )
        mounts.append(
            {"name": "regauth-docker-registry-certificate", "mountPath": tls, "readOnly": True}
        )
    if spec.client_cert_pem:
        items = [
            {"key": "tls.crt", "path": "client.cert"},
            {"key": "tls.key", "path": "client.key", "mode": 0o400},
        ]
        volumes.append(
            {
                "name": names.client_volume,
                "secret": {"secretName": names.client_secret, "items": items},
            }
        )
        mounts.append(
            {
                "name": names.client_volume,
                "mountPath": f"{home}/.regauth/clients/{names.slug}",
                "readOnly": True,
            }
        )
    return {
        "apiVersion": "kubeflow.org/v1alpha1",
        "kind": "PodDefault",
        "metadata": metadata(names.pod_default, namespace, names.slug, spec.host),
        "spec": {
            "desc": f"Registry {spec.display_name}: credentials and CA",
            "selector": {"matchLabels": {names.selector_label: "true"}},
            "env": env,
            "volumes": volumes,
            "volumeMounts": mounts,
        },
    }
