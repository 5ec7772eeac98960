"""Daemonless image building blocks: formats, OCI layout, deterministic layers, append builds.

The modules are small and composable (like go-containerregistry's ``layout``, ``mutate`` and
``tarball``): :mod:`.media` and :mod:`.manifest` know the formats, :mod:`.layout` stores blobs on
disk, :mod:`.layer` turns files into layer blobs in one streaming pass, and :mod:`.build` applies a
:class:`.spec.BuildSpec` on top of a base image.
"""
