"""The declarative build spec: a base, layers to append, and config changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BuildSpecError, ImageError
from .ignore import Excludes
from .layer import LayerSource
from .manifest import Platform


@dataclass(frozen=True)
class LayerSpec:
    src: str
    dest: str = "/"
    exclude: tuple[str, ...] = ()

    def source(self) -> LayerSource:
        return LayerSource(self.src, self.dest, self.exclude)


@dataclass(frozen=True)
class BuildSpec:
    base: str | None = None  # None/"scratch", "oci:PATH[:REF]", or a registry reference
    platform: Platform = field(default_factory=Platform)
    tag: str = "latest"  # the ref name in the output layout
    layers: tuple[LayerSpec, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    workdir: str | None = None
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    source: str | None = None  # e.g. the git repository URL
    revision: str | None = None  # e.g. the git commit

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None) -> BuildSpec:
        """Validate a parsed spec; relative layer sources resolve against ``base_dir``."""
        if not isinstance(data, Mapping):
            raise BuildSpecError("A build spec must be a mapping", hint="see the documented keys")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise BuildSpecError(
                f"Unknown build spec key(s): {', '.join(map(str, unknown))}",
                hint=f"known keys: {', '.join(sorted(_KEYS))}",
            )
        platform = data.get("platform")
        return cls(
            base=_opt_str(data, "base"),
            platform=Platform.parse(_str(platform, "platform")) if platform else Platform(),
            tag=_opt_str(data, "tag") or "latest",
            layers=tuple(
                _layer(i, item, base_dir) for i, item in enumerate(data.get("layers") or [])
            ),
            env=_str_map(data, "env"),
            entrypoint=_opt_argv(data, "entrypoint"),
            cmd=_opt_argv(data, "cmd"),
            workdir=_opt_str(data, "workdir"),
            user=_opt_str(data, "user"),
            labels=_str_map(data, "labels"),
            title=_opt_str(data, "title"),
            source=_opt_str(data, "source"),
            revision=_opt_str(data, "revision"),
        )

    @classmethod
    def load(cls, path: str | Path) -> BuildSpec:
        """Read a YAML (or JSON) spec file; layer sources are relative to its directory."""
        import yaml  # only spec files need it

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise BuildSpecError(
                f"Cannot read build spec {path}: {exc.strerror}", hint="check the path"
            ) from None
        except yaml.YAMLError as exc:
            raise BuildSpecError(
                f"Build spec {path} is not valid YAML: {exc}", hint="fix it"
            ) from None
        return cls.from_dict(data or {}, path.parent)

    def config_fields(self) -> dict[str, Any]:
        """The parts of the spec that end up in the image (for the content digest)."""
        return {
            "env": dict(self.env),
            "entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "cmd": list(self.cmd) if self.cmd is not None else None,
            "workdir": self.workdir,
            "user": self.user,
            "labels": dict(self.labels),
            "title": self.title,
            "source": self.source,
            "revision": self.revision,
            "layers": [[lay.dest, list(lay.exclude)] for lay in self.layers],
        }


_KEYS = frozenset(
    {
        *("base", "platform", "tag", "layers", "env", "entrypoint", "cmd"),
        *("workdir", "user", "labels", "title", "source", "revision"),
    }
)


def _str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise BuildSpecError(f"{key} must be a string, not {type(value).__name__}", hint="quote it")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _str(value, key)


def _str_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise BuildSpecError(f"{key} must be a mapping of names to strings", hint="NAME: value")
    # YAML turns 1 or true into numbers and booleans; an env value is a string either way.
    return {
        _str(k, f"{key} name"): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()
    }


def _opt_argv(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BuildSpecError(
            f"{key} must be a list of strings", hint=f'write it as {key}: ["python", "serve.py"]'
        )
    return tuple(value)


def _layer(index: int, item: object, base_dir: str | Path | None) -> LayerSpec:
    where = f"layers[{index}]"
    if isinstance(item, str):
        item = {"src": item}
    if not isinstance(item, Mapping) or "src" not in item:
        raise BuildSpecError(f"{where} needs a src", hint="write it as {src: DIR, dest: /model}")
    extra = sorted(set(item) - {"src", "dest", "exclude"})
    if extra:
        raise BuildSpecError(
            f"{where}: unknown key(s) {', '.join(map(str, extra))}", hint="use src, dest, exclude"
        )
    src = Path(_str(item["src"], f"{where}.src"))
    if base_dir is not None and not src.is_absolute():
        src = Path(base_dir) / src
    exclude = item.get("exclude") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
        raise BuildSpecError(f"{where}.exclude must be a list of patterns", hint='e.g. ["*.tmp"]')
    try:
        Excludes(exclude)  # a malformed pattern fails now rather than mid-build
    except ImageError as exc:
        raise BuildSpecError(f"{where}.exclude: {exc.message}", hint=exc.hint) from None
    return LayerSpec(str(src), _str(item.get("dest", "/"), f"{where}.dest"), tuple(exclude))
