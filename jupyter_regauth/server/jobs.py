"""Background image jobs (push, build, copy): run in threads, recorded as a replayable event log.

Each job keeps every message it produced, numbered, so an event stream can start late or resume
after ``Last-Event-ID``. Cancelling sets a flag that the progress callback checks: the core stops
at its next progress event, before it writes a tag. The one exception is an event reporting a
completed write (a manifest or an image ``done``): the tag is already written then, so that event
does not stop the job; the next event, if there is one, does. A job whose final write happened
ends ``succeeded`` with its result, even when it was cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from typing import Any, Literal

from ..errors import RegAuthError
from ..images.progress import ENDED, ByteTally, ProgressEvent
from .errors import error_body

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: How many finished jobs the server keeps for GET /jobs and their event streams.
KEEP_FINISHED = 50
#: Kinds whose ``done`` event reports a write that has happened (a tag or an image is there).
WRITTEN = ("manifest", "image")

Work = Callable[[Callable[[ProgressEvent], None]], dict[str, Any]]


class JobCancelled(RegAuthError):
    code = "cancelled"


class Job:
    def __init__(self, kind: str, description: str, loop: asyncio.AbstractEventLoop) -> None:
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.description = description
        self.state: JobState = "queued"
        self.created = time.time()
        self.finished: float | None = None
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.messages: list[tuple[str, dict[str, Any]]] = []  # (event name, data); id = index+1
        self._items: dict[tuple[str, str], ProgressEvent] = {}
        self._tally = ByteTally()
        self._cancel = threading.Event()
        self._lock = threading.RLock()
        self._loop = loop
        self._changed = asyncio.Event()  # replaced on each change; set and only then replaced

    # -- called from the worker thread ---------------------------------------------------------

    def progress(self, event: ProgressEvent) -> None:
        written = event.kind in WRITTEN and event.state == "done"
        if self._cancel.is_set() and not written:
            raise JobCancelled("the job was cancelled")
        with self._lock:
            if self._items.get((event.kind, event.id)) == event:
                return  # nothing new: a long step repeats its event to hear of a cancel
            self._items[(event.kind, event.id)] = event
            self._tally.add(event)
            self._append(
                "progress",
                {
                    "job": self.id,
                    "event": asdict(event),
                    "bytes_done": self._tally.done,
                    "bytes_total": self._tally.total,
                },
            )

    def run(self, work: Work) -> None:
        with self._lock:
            if self._cancel.is_set():
                return
            self._set_state("running")
        try:
            result = work(self.progress)
        except JobCancelled:
            self._finish("cancelled")
        except RegAuthError as exc:
            self._finish("cancelled" if self._cancel.is_set() else "failed", error=error_body(exc))
        except Exception:  # an unexpected bug: logged with its traceback, reported generically
            log.exception("job %s (%s) failed", self.id, self.description)
            self._finish(
                "cancelled" if self._cancel.is_set() else "failed",
                error={
                    "code": "internal_error",
                    "message": "the job failed unexpectedly",
                    "hint": "see the Jupyter server log",
                },
            )
        else:
            self._finish("succeeded", result=result)

    # -- called from the server ----------------------------------------------------------------

    def cancel(self) -> None:
        with self._lock:
            if self.state in FINAL:
                return
            self._cancel.set()
            if self.state == "queued":
                self._finish_locked("cancelled")
            else:
                self._set_state("cancelling")

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "id": self.id,
                "kind": self.kind,
                "state": self.state,
                "description": self.description,
                "created": self.created,
                "finished": self.finished,
                "bytes_done": self._tally.done,
                "bytes_total": self._tally.total,
                "items": [asdict(e) for e in self._items.values()],
                "result": self.result,
                "error": self.error,
            }

    @property
    def done(self) -> bool:
        return self.state in FINAL

    async def wait(self, seen: int, timeout: float) -> None:
        """Until there are more than ``seen`` messages (or ``timeout`` seconds pass)."""
        changed = self._changed  # taken on the loop, where it is replaced: no lost wake-up
        if len(self.messages) <= seen:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)

    # -- internals (hold ``_lock``) ------------------------------------------------------------

    def _finish(self, state: JobState, **fields: Any) -> None:
        with self._lock:
            self._finish_locked(state, **fields)

    def _finish_locked(
        self,
        state: JobState,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        self.result, self.error, self.finished = result, error, time.time()
        if state != "succeeded":
            # What was under way when the job stopped stays that way: say so, rather than
            # leave a layer "uploading" under a job that has ended.
            for key, item in self._items.items():
                if item.state not in ENDED:
                    self._items[key] = replace(item, state="stopped")
        self._set_state(state)

    def _set_state(self, state: JobState) -> None:
        self.state = state
        self._append("state", self.to_dict())

    def _append(self, name: str, data: dict[str, Any]) -> None:
        self.messages.append((name, data))
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._notify)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class JobManager:
    """The server's jobs, run a few at a time in their own threads. Of the finished ones only
    the latest ``keep_finished`` are kept (each holds its whole event log), so a server that
    runs for weeks does not grow with every push."""

    def __init__(self, workers: int, keep_finished: int = KEEP_FINISHED) -> None:
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="regauth-job")
        self._jobs: dict[str, Job] = {}
        self._keep_finished = keep_finished

    def start(self, kind: str, description: str, work: Work) -> Job:
        self._prune()
        job = Job(kind, description, asyncio.get_running_loop())
        self._jobs[job.id] = job
        job._append("state", job.to_dict())
        self._pool.submit(job.run, work)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _prune(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.created)
        for job in finished[: max(0, len(finished) - self._keep_finished)]:
            del self._jobs[job.id]

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def shutdown(self) -> None:
        for job in self._jobs.values():
            job.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
