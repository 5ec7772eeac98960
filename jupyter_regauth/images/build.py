"""Append build: a base image plus new layers and config changes, written to an OCI layout.

Like ``crane append`` + ``crane mutate``: no daemon, no RUN steps. The output is always an OCI
manifest (a Docker schema 2 base is converted, as ``skopeo copy`` to ``oci:`` does, since tools
only look up OCI manifests in a layout by name). It is reproducible
(fixed timestamps, deterministic layers), and the config carries a content digest label over
everything that went in, so an unchanged rebuild is detected from a hash-only pass over the files
and skipped.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any

from ..errors import DigestMismatch
from . import media
from .cache import layer_diff_ids
from .compression import layer_compressor
from .deflate import BLOCK
from .errors import BuildSpecError, ImageError
from .expansion import expand
from .layer import LayerInfo, plan, source_date_epoch, write_layer
from .layout import OCILayout
from .manifest import (
    JSON,
    Descriptor,
    Document,
    Platform,
    canonical_json,
    check_platform,
    config_env,
    empty_config,
    new_image_manifest,
    sha256_digest,
)
from .progress import ProgressCallback, ProgressEvent, State, emit, layer_name
from .pydeps import with_python
from .source import BlobSource, LayoutSource, open_base
from .spec import BuildSpec

CONTENT_DIGEST_LABEL = "io.jupyter-regauth.content-digest"
OCI_LABEL = "org.opencontainers.image."


@dataclass(frozen=True)
class BuiltImage:
    """An image built into an OCI layout: its manifest, config and the layers the build added."""

    manifest_digest: str
    manifest: bytes
    media_type: str
    config: bytes
    layers: tuple[LayerInfo, ...]  # the layers this build added (empty when reused)
    content_digest: str
    reused: bool = False  # the layout already held this exact build

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.manifest_digest, len(self.manifest))


@dataclass(frozen=True)
class BaseImage:
    """The image a build appends to: its manifest and config (an empty config for scratch)."""

    source: BlobSource | None
    manifest: Document | None
    config: JSON

    @classmethod
    def load(cls, source: BlobSource | None, platform: Platform) -> BaseImage:
        if source is None:
            return cls(None, None, empty_config(platform))
        manifest = source.manifest()
        config = json.loads(read_verified(source, manifest.config()))
        check_platform(config, platform, f"The base image {source.name or manifest.digest}")
        return cls(source, manifest, config)

    def layers(self) -> list[Descriptor]:
        """The base's layers as the new OCI manifest lists them."""
        if self.manifest is None:
            return []
        return [replace(d, media_type=media.to_oci(d.media_type)) for d in self.manifest.layers()]

    def annotations(self) -> dict[str, str]:
        if self.manifest is None:
            return {}
        annotations = {OCI_LABEL + "base.digest": self.manifest.digest}
        if self.source is not None and self.source.name:
            annotations[OCI_LABEL + "base.name"] = self.source.name
        return annotations


@dataclass(frozen=True)
class Assembled:
    """A build's config and manifest, and the content digest its config carries."""

    config: Document
    manifest: Document
    content_digest: str


def assemble(spec: BuildSpec, base: BaseImage, added: list[LayerInfo], created: str) -> Assembled:
    """The config and manifest of ``base`` plus the ``added`` layers and ``spec``'s changes."""
    digest_in = content_digest(spec, base.manifest, [a.diff_id for a in added], created)
    config = Document.build(media.OCI_CONFIG, _apply(spec, base.config, added, created, digest_in))
    layers = base.layers() + [a.descriptor() for a in added]
    manifest = new_image_manifest(config.descriptor(), layers, annotations=base.annotations())
    return Assembled(config, manifest, digest_in)


def created_timestamp() -> str:
    """The ``created`` time of every build: SOURCE_DATE_EPOCH, else the epoch (reproducible)."""
    return datetime.fromtimestamp(source_date_epoch(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(
    spec: BuildSpec,
    output_layout: str | os.PathLike[str] | OCILayout,
    progress: ProgressCallback | None = None,
    *,
    base_source: BlobSource | None = None,
    level: int = 1,
    threads: int | None = None,
) -> BuiltImage:
    """Build ``spec`` into ``output_layout`` under the ref name ``spec.tag``.

    ``base_source`` overrides ``spec.base`` (e.g. a registry-backed source).
    """
    layout = (
        output_layout if isinstance(output_layout, OCILayout) else OCILayout.create(output_layout)
    )
    source = base_source if base_source is not None else open_base(spec.base, spec.platform)
    base = BaseImage.load(source, spec.platform)
    spec = with_python(spec, base, progress)
    spec = in_workdir(spec, base)  # and a ${VAR:?message} fails before any layer is made
    created = created_timestamp()

    reused = _reuse(layout, spec, base.manifest, created, progress)
    if reused is not None:
        emit(progress, ProgressEvent("image", reused.manifest_digest, "exists"))
        return reused

    _copy_base_layers(base, layout, progress)
    added: list[LayerInfo] = []
    with layer_compressor(spec.compression, level, threads) as compressor:
        for i, lay in enumerate(spec.layers):
            with layout.blob_writer() as w:
                info = write_layer(
                    [lay.source()],
                    w,
                    compressor=compressor,
                    progress=progress,
                    name=layer_name(i),
                )
                w.commit(info.digest)
            added.append(info)

    image = assemble(spec, base, added, created)
    layout.write_blob(image.config.raw, image.config.digest)
    layout.put_manifest(image.manifest, spec.tag)
    emit(progress, ProgressEvent("image", image.manifest.digest, "done"))
    return BuiltImage(
        image.manifest.digest,
        image.manifest.raw,
        image.manifest.media_type,
        image.config.raw,
        tuple(added),
        image.content_digest,
    )


def content_digest(
    spec: BuildSpec, base_manifest: Document | None, diff_ids: list[str], created: str
) -> str:
    """A digest of everything that determines the image: base, layer contents, config changes."""
    return sha256_digest(
        canonical_json(
            {
                "base": base_manifest.digest if base_manifest else None,
                "platform": str(spec.platform),
                "diff_ids": diff_ids,
                "config": spec.config_fields(),
                "created": created,
            }
        )
    )


def _reuse(
    layout: OCILayout,
    spec: BuildSpec,
    base_manifest: Document | None,
    created: str,
    progress: ProgressCallback | None,
) -> BuiltImage | None:
    """The existing image at ``spec.tag`` if it was built from exactly these inputs."""
    if spec.tag not in layout.ref_names():
        return None
    try:
        manifest = layout.read_manifest(spec.tag)
        config_raw = layout.read_blob(manifest.config().digest)
    except ImageError:
        return None
    labels = (json.loads(config_raw).get("config") or {}).get("Labels") or {}
    old = labels.get(CONTENT_DIGEST_LABEL)
    if not old:
        return None
    diff_ids = layer_diff_ids((plan([lay.source()]) for lay in spec.layers), progress)
    new = content_digest(spec, base_manifest, diff_ids, created)
    if new != old or not all(layout.has_blob(d.digest) for d in manifest.layers()):
        return None
    return BuiltImage(
        manifest.digest, manifest.raw, manifest.media_type, config_raw, (), new, reused=True
    )


def read_verified(source: BlobSource, desc: Descriptor) -> bytes:
    with source.open_blob(desc.digest) as f:
        data = f.read()
    if sha256_digest(data) != desc.digest:
        raise DigestMismatch(
            f"Base blob {desc.digest} is corrupt", hint="fetch the base image again"
        )
    return data


def _copy_base_layers(
    base: BaseImage, layout: OCILayout, progress: ProgressCallback | None
) -> None:
    source = base.source
    if source is None or base.manifest is None:
        return
    for desc in base.manifest.layers():
        state: State = "done"
        if layout.has_blob(desc.digest):
            state = "exists"
        elif isinstance(source, LayoutSource):
            layout.copy_blob_from(source.layout, desc.digest)
        else:
            with source.open_blob(desc.digest) as f:
                layout.write_blob(iter(partial(f.read, BLOCK), b""), desc.digest)
        emit(progress, ProgressEvent("blob", desc.digest, state, desc.size, desc.size))


def in_workdir(spec: BuildSpec, base: BaseImage) -> BuildSpec:
    """``spec`` with each relative layer ``dest`` under the image's working directory (the
    spec's ``workdir``, else the base's), as a Dockerfile's COPY puts one under WORKDIR. It
    takes the image's config for that, so a ``${VAR:?message}`` fails here, before any layer."""
    workdir = runtime_config(spec, base.config)[0].get("WorkingDir") or "/"
    if workdir == "/":  # where a relative dest was put before: the spec stays as it is
        return spec
    layers = tuple(
        lay if lay.dest.startswith("/") else replace(lay, dest=posixpath.join(workdir, lay.dest))
        for lay in spec.layers
    )
    return replace(spec, layers=layers)


def _env_name(name: str, env: Mapping[str, str]) -> str:
    """An env name expanded, as BuildKit's ENV expands it; what it expands to is not shown
    (it comes from env values, which may be secret)."""
    expanded = expand(name, env, "env name")
    if not expanded or any(c == "=" or c == "\0" or c.isspace() for c in expanded):
        raise BuildSpecError(
            f"env name {name!r} expands to a name that is empty or has =, whitespace or NUL in it",
            hint="check the variables it uses, or write the name without them",
        )
    return expanded


def runtime_config(spec: BuildSpec, base_config: JSON) -> tuple[dict[str, Any], list[str]]:
    """The base's runtime config with ``spec``'s env, entrypoint, cmd, workdir, user and
    labels (their names expanded too), and those changes as history lines. A build takes it
    before any layer too, so a ``${VAR:?message}`` fails then, not once the layers are made
    or sent."""
    run: dict[str, Any] = dict(base_config.get("config") or {})
    changes: list[str] = []
    env = config_env(base_config)
    if spec.env:
        # As one Dockerfile ENV: every value sees the variables from before it.
        env.update(
            {
                _env_name(key, env): expand(value, env, f"env.{key}")
                for key, value in spec.env.items()
            }
        )
        run["Env"] = [f"{k}={v}" for k, v in env.items()]
        changes += [f"ENV {k}={v}" for k, v in spec.env.items()]
    if spec.entrypoint is not None:
        run["Entrypoint"] = list(spec.entrypoint)
        if spec.cmd is None:
            run.pop("Cmd", None)  # as in a Dockerfile, a new ENTRYPOINT drops the base's CMD
        changes.append(f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}")
    if spec.cmd is not None:
        run["Cmd"] = list(spec.cmd)
        changes.append(f"CMD {json.dumps(list(spec.cmd))}")
    # As a Dockerfile's WORKDIR, USER and LABEL after its ENV, these see the image's env.
    if spec.workdir is not None:
        workdir = expand(spec.workdir, env, "workdir")
        run["WorkingDir"] = _workdir(run.get("WorkingDir") or "/", workdir)
        changes.append(f"WORKDIR {run['WorkingDir']}")
    if spec.user is not None:
        run["User"] = expand(spec.user, env, "user")
        changes.append(f"USER {run['User']}")
    labels = dict(run.get("Labels") or {})
    labels.update(
        {
            expand(key, env, "labels name"): expand(value, env, f"labels.{key}")
            for key, value in spec.labels.items()
        }
    )
    run["Labels"] = labels
    return run, changes


def _apply(
    spec: BuildSpec, base_config: JSON, added: list[LayerInfo], created: str, digest_in: str
) -> JSON:
    cfg = copy.deepcopy(base_config)
    cfg["created"] = created
    rootfs = cfg.setdefault("rootfs", {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *(a.diff_id for a in added)]
    history: list[JSON] = list(cfg.get("history") or [])
    for lay in spec.layers:
        name = posixpath.basename(os.path.normpath(lay.src))  # never the local absolute path
        history.append(
            {
                "created": created,
                "created_by": f"COPY {name} {lay.dest}",
                "comment": "jupyter-regauth",
            }
        )

    run, changes = runtime_config(spec, cfg)
    labels = run["Labels"]
    for key in ("title", "source", "revision"):
        value = getattr(spec, key)
        if value:
            labels[OCI_LABEL + key] = value
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        labels[OCI_LABEL + "created"] = created
    labels[CONTENT_DIGEST_LABEL] = digest_in
    changes.append("LABEL " + " ".join(sorted(labels)))

    history.append(
        {
            "created": created,
            "created_by": "; ".join(changes),
            "comment": "jupyter-regauth",
            "empty_layer": True,
        }
    )
    cfg["config"] = run
    cfg["history"] = history
    return cfg


def _workdir(current: str, requested: str) -> str:
    """``requested`` as Docker's WORKDIR has it: a relative one is under ``current``. A
    runtime refuses a relative working directory, so one is never written."""
    return "/" + posixpath.normpath(posixpath.join("/", current, requested)).lstrip("/")
