"""Kubernetes: registry credentials, CAs and the PodDefault that hands them to pods."""

from .access import KubeError, RegistryAccess

__all__ = ["KubeError", "RegistryAccess"]
