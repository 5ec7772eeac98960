"""Job endpoints: start a push, build or copy; read its state; stream its events; cancel it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jupyter_core.paths import is_hidden
from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from ..images.manifest import Platform
from ..images.source import layout_base, parse_layout_ref
from ..images.spec import BuildSpec, check_compression
from ..reference import parse, push_target
from .errors import ApiError, BadRequest
from .handlers import RegAuthHandler
from .jobs import Job, JobManager, Work

#: How often an idle event stream sends a comment, so proxies keep it open.
KEEPALIVE_SECONDS = 15.0


class JobHandlerBase(RegAuthHandler):
    @property
    def jobs(self) -> JobManager:
        jobs: JobManager = self.settings["regauth_jobs"]
        return jobs

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no job {job_id}", hint="list jobs with GET jobs")
        return job

    @property
    def root(self) -> Path:
        return Path(self.settings.get("server_root_dir") or ".").expanduser().resolve()

    def as_given(self, path: str | Path) -> str:
        """A path a spec resolved against the root, shown as the user wrote it: relative."""
        text = str(path)
        prefix = str(self.root).rstrip("/") + "/"
        return text[len(prefix) :] if text.startswith(prefix) else text

    def under_root(self, path: str | Path, what: str, *, shown: str | None = None) -> Path:
        """``path`` (relative to the Jupyter root, as the file browser shows it) made absolute;
        refused when it leads outside the root: a job reads only what the file browser shows."""
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if not resolved.is_relative_to(self.root):
            raise BadRequest(f"{what} {shown or str(path)!r} is outside the Jupyter root directory")
        if not self.contents_manager.allow_hidden and is_hidden(str(resolved), str(self.root)):
            raise BadRequest(
                f"{what} {shown or str(path)!r} is hidden, and the file browser does not show it",
                hint="rename it, or let the server show hidden files "
                "(ContentsManager.allow_hidden)",
            )
        return resolved

    def base(self, text: str | None) -> str | None:
        """A base the user named: a local OCI layout (``oci:PATH[:REF]``, or a folder holding
        one) lies under the root and is taken from it, made absolute; a registry reference must
        parse (a 400 now, not a failed job)."""
        local = layout_base(text, self.root)
        if local is None:
            if text and text.strip() not in ("", "scratch"):
                parse(text)
            return text
        path, ref = local
        shown = parse_layout_ref(text or "")[0]
        resolved = self.under_root(path, "base", shown=str(shown))
        return f"oci:{resolved}" + (f":{ref}" if ref else "")

    def folder(self, path: str | Path, what: str) -> Path:
        """:meth:`under_root`, and a folder."""
        resolved = self.under_root(path, what)
        if not resolved.is_dir():
            raise BadRequest(f"{what} {str(path)!r} is not a folder", hint="pick a folder")
        return resolved


class JobsHandler(JobHandlerBase):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish({"jobs": [job.to_dict() for job in self.jobs.all()]})

    @web.authenticated
    @authorized
    def post(self) -> None:
        kind = self.json_object().get("kind")
        if kind == "push":
            description, work = self._push()
        elif kind == "build":
            description, work = self._build()
        elif kind == "copy":
            description, work = self._copy()
        else:
            raise BadRequest(f"unknown job kind {kind!r}", hint="use push, build or copy")
        job = self.jobs.start(kind, description, work)
        self.set_status(202)
        self.finish(job.to_dict())

    def _push(self) -> tuple[str, Work]:
        data = self.body(
            {
                "kind": str,
                "directory": str,
                "reference": str,
                "base": (str, type(None)),
                "dest": str,
                "platform": (str, type(None)),
                "compression": (str, type(None)),
            },
            ("directory", "reference"),
        )
        directory = self.folder(data["directory"], "directory")
        reference = str(push_target(data["reference"]))  # a bad reference is a 400 now, not a job
        compression = check_compression(data.get("compression"))  # and so is a bad compression
        _check_platform(data.get("platform"))  # and a bad platform
        # The server's own default base may be anywhere; one the user names is checked.
        if "base" in data:
            base = self.base(data["base"])
        else:
            base = self.settings["regauth_default_base"] or None
        service = self.service

        def work(progress: Any) -> dict[str, Any]:
            result = service.push_directory(
                directory,
                reference,
                base=base,
                dest=data.get("dest", "/model"),
                platform=data.get("platform"),
                compression=compression,
                progress=progress,
            )
            return result.to_dict()

        return f"push {data['directory']} -> {reference}", work

    def _build(self) -> tuple[str, Work]:
        data = self.body({"kind": str, "spec": dict, "reference": str}, ("spec", "reference"))
        raw = dict(data["spec"])
        if "base" not in raw:
            raw["base"] = self.settings["regauth_default_base"] or None
        elif isinstance(raw["base"], str):  # another type is refused by the spec's parsing
            raw["base"] = self.base(raw["base"])
        spec = BuildSpec.from_dict(raw, base_dir=self.root)
        for layer in spec.layers:  # a file or a folder; absolute srcs lie under the root too
            shown = self.as_given(layer.src)
            if not self.under_root(layer.src, "layer src", shown=shown).exists():
                raise BadRequest(f"layer src {shown!r} does not exist", hint="pick a file")
        if spec.python is not None:
            if spec.python.requirements_file is not None:
                requirements = spec.python.requirements_file
                shown = self.as_given(requirements)
                self.under_root(requirements, "python.requirements", shown=shown)
            for link in spec.python.find_links:  # pip reads wheels from a local one
                if link.startswith("file:") or "://" not in link:
                    self.under_root(_local_path(link), "python.find_links", shown=link)
        reference = str(push_target(data["reference"]))
        service = self.service

        def work(progress: Any) -> dict[str, Any]:
            return service.build_push(spec, reference, progress=progress).to_dict()

        return f"build -> {reference}", work

    def _copy(self) -> tuple[str, Work]:
        data = self.body(
            {
                "kind": str,
                "source": str,
                "destination": str,
                "all_platforms": bool,
                "platform": (str, type(None)),
            },
            ("source", "destination"),
        )
        source, destination = str(parse(data["source"])), str(parse(data["destination"]))
        _check_platform(data.get("platform"))
        service = self.service

        def work(progress: Any) -> dict[str, Any]:
            result = service.copy(
                source,
                destination,
                all_platforms=data.get("all_platforms", True),
                platform=data.get("platform"),
                progress=progress,
            )
            return result.to_dict()

        return f"copy {source} -> {destination}", work


class JobHandler(JobHandlerBase):
    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        self.finish(self.job(job_id).to_dict())

    @web.authenticated
    @authorized
    def delete(self, job_id: str) -> None:
        job = self.job(job_id)
        job.cancel()
        self.finish(job.to_dict())


class JobEventsHandler(JobHandlerBase):
    """Server-Sent Events: every message of the job from the first (or after the last seen)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job = self.job(job_id)
        seen = self._resume_point()
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
        try:
            while True:
                messages = job.messages[seen:]
                for name, data in messages:
                    seen += 1
                    self.write(f"id: {seen}\nevent: {name}\ndata: {json.dumps(data)}\n\n")
                if not messages:
                    self.write(": keep-alive\n\n")
                await self.flush()
                if job.done and seen >= len(job.messages):
                    break
                await job.wait(seen, KEEPALIVE_SECONDS)
        except StreamClosedError:
            return  # the browser went away; the job goes on
        self.finish()

    def _resume_point(self) -> int:
        text = self.request.headers.get("Last-Event-ID") or self.get_query_argument("after", "0")
        try:
            return max(0, int(text))
        except ValueError:
            raise BadRequest("Last-Event-ID (or after) must be a message number") from None


def _local_path(link: str) -> str:
    """The path a ``file:`` URL names (as pip reads it), or the path given."""
    return url2pathname(urlsplit(link).path) if link.startswith("file:") else link


def _check_platform(text: str | None) -> None:
    if text:
        Platform.parse(text)  # an ImageError (400) naming the bad platform
