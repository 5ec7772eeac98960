"""Jupyter Server extension: the REST API the JupyterLab sidebar talks to."""

from __future__ import annotations

from .app import RegAuthApp

__all__ = ["RegAuthApp"]
