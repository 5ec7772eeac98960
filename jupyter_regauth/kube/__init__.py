"""Kubernetes: a registry's credentials and CA in a namespace (Secrets, PodDefault,
ServiceAccount pull secrets), JupyterHub profiles, node mirror config and in-cluster builds.

Modules: ``objects`` (manifests), ``client`` (connection, namespace, errors), ``apply``
(apply/status/remove/rollout), ``serviceaccount``, ``spawner``, ``containerd``, ``buildjob``,
``rbac``, ``facade`` (what ``RegAuth.kube_*`` run), ``cli`` (``regauth kube``). Nothing is
imported here, so the CLI starts without loading the Kubernetes client.
"""
