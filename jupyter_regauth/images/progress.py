"""One progress event stream for building, pushing and copying, rendered by every front end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

State = Literal[
    "waiting",
    "running",  # a step under way
    "hashing",
    "compressing",
    "uploading",
    "exists",
    "mounted",
    "done",
    "error",
    "stopped",  # given up unfinished: its job was cancelled, or another part of it failed
]
#: States after which an item's work is complete.
FINISHED: frozenset[State] = frozenset({"exists", "mounted", "done"})
#: States after which nothing more happens to an item.
ENDED: frozenset[State] = FINISHED | {"error", "stopped"}
# A step is work of a build that makes no blob of its own, named by its id (the Python
# dependencies' install, which then becomes a layer).
Kind = Literal["layer", "blob", "config", "manifest", "image", "step"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step of an image operation, for a progress bar: what, which, and how far along."""

    kind: Kind
    id: str  # a digest once known, else a stable name such as "layer 1"
    state: State
    bytes_done: int = 0
    bytes_total: int | None = None  # None when the size is not known up front
    message: str = ""


class ProgressCallback(Protocol):
    def __call__(self, event: ProgressEvent, /) -> None: ...


def emit(callback: ProgressCallback | None, event: ProgressEvent) -> None:
    if callback is not None:
        callback(event)


class ByteTally:
    """Bytes done and to do over an event stream, as one bar shows them.

    A new layer is reported under its name while it is read and again, once compressed, as a
    blob carrying that name in ``message``: the second report only completes the first, so
    its bytes are not counted twice. Not thread-safe: callers hold their own lock.
    """

    def __init__(self) -> None:
        self._done: dict[str, int] = {}
        self._total: dict[str, int] = {}

    def add(self, event: ProgressEvent) -> None:
        if event.kind == "blob" and event.message in self._total:
            self._done[event.message] = self._total[event.message]
        elif event.kind in ("layer", "blob", "config"):
            if event.bytes_total is not None:
                self._total[event.id] = event.bytes_total
            finished = event.state in FINISHED
            reached = self._total.get(event.id, event.bytes_done) if finished else event.bytes_done
            # An upload resumed at the registry's offset reports fewer bytes than before.
            self._done[event.id] = max(self._done.get(event.id, 0), reached)

    @property
    def done(self) -> int:
        return sum(self._done.values())

    @property
    def total(self) -> int:
        return sum(self._total.values())


def layer_name(index: int) -> str:
    """The id under which the progress of a build spec's layer ``index`` is reported."""
    return f"layer {index + 1}"


def bytes_sent(
    progress: ProgressCallback | None, kind: Kind, ident: str, total: int | None
) -> Callable[[int], None] | None:
    """An upload's byte counter (called with how many bytes of the blob have been sent) turned
    into ``uploading`` events every 8 MiB or so, and when a resumed upload goes back to the
    registry's offset; through it a raising callback (a cancelled job) stops the upload."""
    if progress is None:
        return None
    last = 0

    def report(sent: int) -> None:
        nonlocal last
        if sent - last >= 8 << 20 or sent < last:
            last = sent
            progress(ProgressEvent(kind, ident, "uploading", sent, total))

    return report
