"""Kubernetes errors: one type per thing a user can fix, with what it is about as ``fields``.

The hints say what to do in words; the command line names its options (``-n``,
``--kaptain-names``) from the code and fields, and the panel its controls.
"""

from __future__ import annotations

from ..errors import ConfigError, RegAuthError


class KubeError(RegAuthError):
    """The Kubernetes API refused or could not be reached. ``reason`` is the API's own word for
    it where it sent one (``AlreadyExists``, ``Conflict``, ``NotFound``, ...)."""

    code = "kube_error"

    def __init__(
        self, message: str, *, hint: str | None = None, status: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message, hint=hint, status=status)
        self.reason = reason


class KubeconfigNotFound(KubeError):
    """Neither a pod's service account nor a kubeconfig that loads; ``cause`` is the type of
    what went wrong (its text may quote the file)."""

    code = "kubeconfig_not_found"
    fields = ("cause",)

    def __init__(self, cause: str) -> None:
        super().__init__(
            "no Kubernetes configuration was found",
            hint=f"run inside the cluster, or set KUBECONFIG to a kubeconfig file ({cause})",
        )
        self.cause = cause


class NamespaceNotFound(KubeError):
    code = "namespace_not_found"
    fields = ("namespace",)

    def __init__(self, message: str, namespace: str) -> None:
        super().__init__(
            message,
            hint="check the namespace's name, or create the namespace first",
            status=404,
            reason="NotFound",
        )
        self.namespace = namespace


class InvalidSelector(KubeError):
    """The API server could not parse the label ``selector``."""

    code = "invalid_selector"
    fields = ("selector",)

    def __init__(self, selector: str) -> None:
        super().__init__(
            f"the label selector {selector!r} is not valid",
            hint="write it as Kubernetes does: key=value, key!=value, key, !key, "
            "key in (a,b), joined by commas",
            status=400,
            reason="BadRequest",
        )
        self.selector = selector


class KubeForbidden(KubeError):
    """403: the account may not ``verb`` the ``resource`` there."""

    code = "kube_forbidden"

    def __init__(self, message: str, *, verb: str, resource: str, where: str, reason: str) -> None:
        hint = f"ask a cluster admin to grant '{verb}' on {resource} {where}"
        super().__init__(message, hint=hint, status=403, reason=reason)


class KubeletNeedsPassword(ConfigError):
    """The login stored for ``host`` is a token: the kubelet pulls with a password only."""

    code = "kubelet_needs_password"
    fields = ("host",)

    def __init__(self, host: str, token: str) -> None:
        super().__init__(
            f"the login stored for {host} is {token}, which the kubelet cannot use to pull images",
            hint=f"log in to {host} again keeping the password rather than a token, or with a "
            "robot account or password the token service does not exchange for a refresh token",
        )
        self.host = host


class LayoutConflict(ConfigError):
    """Other registries of ``namespace`` (``hosts``) mount the combined Secrets under other
    names (``kaptain_names``) or another ``home``."""

    code = "kube_layout_conflict"
    fields = ("namespace", "hosts", "kaptain_names", "home")

    def __init__(
        self, message: str, *, namespace: str, hosts: list[str], kaptain_names: bool, home: str
    ) -> None:
        names = "the Kaptain names" if kaptain_names else "the default names"
        super().__init__(
            message,
            hint="use the same layout for every registry of a namespace: configure this one "
            f"with {names} for the combined Secrets and home {home}, or remove those "
            "registries from the namespace first",
        )
        self.namespace = namespace
        self.hosts = hosts
        self.kaptain_names = kaptain_names
        self.home = home


class ForeignSecret(ConfigError):
    """A combined Secret's name (``name``) is taken by a Secret we do not manage."""

    code = "foreign_secret"
    fields = ("namespace", "name", "kaptain_names")

    def __init__(self, namespace: str, name: str, *, kaptain_names: bool) -> None:
        hint = f"delete it (`kubectl -n {namespace} delete secret {name}`)"
        if kaptain_names:
            hint += " or use the default names for the combined Secrets"
        super().__init__(
            f"Secret {name} exists in {namespace} and is not managed by jupyter-regauth",
            hint=hint,
        )
        self.namespace = namespace
        self.name = name
        self.kaptain_names = kaptain_names
