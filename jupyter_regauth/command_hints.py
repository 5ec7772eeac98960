"""The fixes the ``regauth`` command and the ``%regauth`` magics word as their own commands.

Core errors, and the notes of a Kubernetes report, say what to do in words every front end can
act on; these two front ends share one parser (the magics take the CLI's verbs and options), so
one table serves both, with ``prog`` (``regauth`` or ``%regauth``) in front of each command.
Entries are keyed by the error's (or note's) ``code`` and read its ``to_dict()``; an entry (or a
code) with nothing of its own to say leaves the core's hint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Error = Mapping[str, Any]


def _host(error: Error) -> str:
    return str(error.get("host") or "HOST")


def _unknown_ca(error: Error, prog: str) -> str:
    host = _host(error)
    return (
        f"if the fingerprint is right, trust its CA with `{prog} trust {host}`, "
        f"or log in with `{prog} login {host} --ca-file PEM`"
    )


def _client_certificate(error: Error, prog: str) -> str | None:
    if error.get("sent"):
        return None  # the certificate given was refused: nothing to add on a command line
    host = _host(error)
    return (
        f"log in with `{prog} login {host} --client-cert CERT --client-key KEY`, "
        f"or put client.cert and client.key in certs.d/{host}/"
    )


def _kubelet_needs_password(error: Error, prog: str) -> str:
    return (
        f"log in again with `{prog} login {_host(error)} --store-password`, which keeps the "
        "password, or with a robot account or password the token service does not exchange "
        "for a refresh token"
    )


def _namespace_not_found(error: Error, prog: str) -> str:
    return "check -n/--namespace, or create the namespace first"


def _invalid_selector(error: Error, prog: str) -> str:
    return f"check -l/--selector: {error['hint']}"


def _kube_forbidden(error: Error, prog: str) -> str:
    return f"{error['hint']}; `{prog} kube rbac` prints the Role jupyter-regauth needs"


def _kubeconfig_not_found(error: Error, prog: str) -> str:
    return f"run inside the cluster, or pass --kubeconfig FILE / set KUBECONFIG ({error['cause']})"


def _layout_conflict(error: Error, prog: str) -> str:
    flag = "with" if error.get("kaptain_names") else "without"
    return (
        "use the same layout for every registry of a namespace: run again "
        f"{flag} --kaptain-names and with --home {error['home']}, "
        f"or first `{prog} kube remove HOST` each of those registries"
    )


def _foreign_secret(error: Error, prog: str) -> str | None:
    if not error.get("kaptain_names"):
        return None  # deleting it is the only way, and the core's hint says how
    return (
        f"delete it (`kubectl -n {error['namespace']} delete secret {error['name']}`) "
        "or drop --kaptain-names"
    )


def _pod_defaults_not_served(note: Error, prog: str) -> str:
    return (
        "mount the Secrets with a JupyterHub profile: "
        f"`{prog} kube spawner-profile {_host(note)}` prints one"
    )


def _service_accounts_not_listed(note: Error, prog: str) -> str:
    namespace = note["namespace"]
    return (
        f"`{prog} kube remove {_host(note)} -n {namespace} --service-account NAME` with each of "
        f"the others, or grant 'list' on serviceaccounts in {namespace} "
        f"(`{prog} kube rbac` prints the Role)"
    )


def _not_an_artifact(error: Error, prog: str) -> str:
    pull = f"`{prog} pull {error.get('reference') or 'REFERENCE'} --oci-layout DIR`"
    if error.get("index"):
        return f"pull one of its manifests by digest, or the image with {pull}"
    return f"pull images with {pull}"


def _digest_file(error: Error, prog: str) -> str:
    return f"the registry has the image; `{prog} inspect REFERENCE` shows its digest"


HINTS: dict[str, Callable[[Error, str], str | None]] = {
    "unknown_ca": _unknown_ca,
    "client_certificate_required": _client_certificate,
    "kubelet_needs_password": _kubelet_needs_password,
    "namespace_not_found": _namespace_not_found,
    "kube_forbidden": _kube_forbidden,
    "invalid_selector": _invalid_selector,
    "kubeconfig_not_found": _kubeconfig_not_found,
    "kube_layout_conflict": _layout_conflict,
    "foreign_secret": _foreign_secret,
    "pod_defaults_not_served": _pod_defaults_not_served,
    "service_accounts_not_listed": _service_accounts_not_listed,
    "not_an_artifact": _not_an_artifact,
    "digest_file_error": _digest_file,
}


def command_hint(error: Error, prog: str) -> str | None:
    """The hint to show on the command line for ``error`` (a ``RegAuthError.to_dict()``, or a
    Kubernetes report's ``Note.to_dict()``)."""
    word = HINTS.get(str(error.get("code")))
    hint = word(error, prog) if word else None
    core = error.get("hint")
    return hint or (str(core) if core else None)
