"""Benchmarks of build-and-push against peers (skopeo, crane, buildah); run ``python -m bench``."""
