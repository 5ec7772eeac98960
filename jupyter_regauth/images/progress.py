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
]
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
