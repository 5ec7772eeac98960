"""What the notebook front ends show: result objects with an HTML and a plain-text repr, and a
progress bar over the image progress event stream.

Results wrap the same ``data`` the CLI prints with ``--json``, so Python code can use them
(``r = %regauth ls; r[0]["authenticated"]``) while the notebook renders them as tables.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from html import escape
from typing import Any, Protocol, TextIO

from .images.progress import ByteTally, ProgressEvent
from .service import expires_in


class Result:
    """A verb's result: ``data`` for code, ``text`` for people, ``_repr_html_`` for notebooks.
    With ``as_json`` (the verb's ``--json``), the text is the JSON, shown as it is."""

    def __init__(self, verb: str, data: Any, text: str, *, as_json: bool = False) -> None:
        self.verb = verb
        self.data = data
        self.text = text
        self.as_json = as_json

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre>{escape(self.text)}</pre>" if self.as_json else self._html()

    def _html(self) -> str:
        return f"<pre>{escape(self.text)}</pre>"


class StatusTable(Result):
    """Registries with reachable / trusted / logged-in marks; indexable like a list of dicts."""

    @property
    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.data
        return rows

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, host: str) -> dict[str, Any]:
        for row in self.rows:
            if row["host"] == host:
                return row
        raise KeyError(host)

    def _html(self) -> str:
        head = ("Registry", "Source", "Reachable", "Trusted", "Logged in", "User", "Token expires")
        cells = "".join(f"<th>{h}</th>" for h in head)
        body = [f"<tr>{cells}</tr>"]
        for row in self.rows:
            host = escape(row["host"]) + (" <em>(insecure)</em>" if row.get("insecure") else "")
            values = [
                host,
                escape(str(row.get("source") or "")),
                _mark(row.get("reachable")),
                _mark(row.get("trusted")),
                _mark(row.get("authenticated")),
                escape(row.get("username") or ""),
                escape(expires_in(row.get("token_expires_at"))),
            ]
            body.append("<tr>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>")
            error = row.get("error")
            if error:
                message = escape(str(error.get("message", "")))
                hint = escape(str(error.get("hint", "")))
                body.append(
                    f'<tr><td colspan="7">&#9888; {message}'
                    + (f"<br><small>{hint}</small>" if hint else "")
                    + "</td></tr>"
                )
        return '<table class="regauth-status">' + "".join(body) + "</table>"


class LoginInfo(Result):
    def _html(self) -> str:
        d = self.data
        extra = f", CA and certificates in <code>{escape(d['certs_dir'])}</code>"
        return (
            f"<b>Login Succeeded</b>: {escape(d['username'])} at <code>{escape(d['host'])}</code>"
            f" (stored as {escape(d['stored_as'])} in <code>{escape(d['config_path'])}</code>"
            + (extra if d.get("certs_dir") else "")
            + ")"
        )


class ImageResult(Result):
    """A pushed, built or copied image: the digest reference is its text, as the CLI prints."""

    @property
    def reference(self) -> str:
        return str(self.data["reference"])

    @property
    def digest(self) -> str:
        return str(self.data["digest"])

    def _html(self) -> str:
        counts = ", ".join(
            f"{key} {self.data[key]}"
            for key in ("uploaded", "mounted", "existing")
            if self.data.get(key)
        )
        note = " (unchanged: nothing sent)" if self.data.get("unchanged") else ""
        return (
            f"<code>{escape(self.reference)}</code>{escape(note)}"
            f"<br><small>digest <code>{escape(self.digest)}</code>"
            + (f"; blobs {escape(counts)}" if counts else "")
            + "</small>"
        )


class ListResult(Result):
    """Repositories or tags: a list of names."""

    def __getitem__(self, index: int) -> str:
        return str(self.data[index])

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def _html(self) -> str:
        if not self.data:
            return "<em>(none)</em>"
        return (
            "<ul>" + "".join(f"<li><code>{escape(str(n))}</code></li>" for n in self.data) + "</ul>"
        )


def result_for(verb: str, data: Any, text: str, *, as_json: bool = False) -> Result:
    """The result object of a verb; an image's text is its digest reference, unless JSON."""
    kind: type[Result] = Result
    if verb in ("ls", "status"):
        kind = StatusTable
    elif verb == "login":
        kind = LoginInfo
    elif verb in ("catalog", "tags"):
        kind = ListResult
    elif isinstance(data, dict) and {"reference", "digest"} <= data.keys() and verb != "inspect":
        kind, text = ImageResult, text if as_json else data["reference"]
    return kind(verb, data, text, as_json=as_json)


def _mark(value: bool | None) -> str:
    return {True: "&#10004;", False: "<b>&#10008;</b>", None: "&ndash;"}[value]


# -- progress ---------------------------------------------------------------------------------


class Bar(Protocol):
    def show(self, done: int, total: int) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...  # the work finished
    def fail(self) -> None: ...  # the work stopped with an error


class ProgressDisplay:
    """One bar over all bytes of a build, push or copy (see :class:`ByteTally`); a
    ``ProgressCallback``. Events come from upload threads, so updates are serialized."""

    def __init__(self, label: str, *, bar: Bar | None = None, file: TextIO | None = None) -> None:
        self._lock = threading.Lock()
        self._tally = ByteTally()
        self._bar = bar or _make_bar(label, _mode(), file or sys.stderr)

    def __call__(self, event: ProgressEvent, /) -> None:
        with self._lock:
            self._tally.add(event)
            self._bar.show(self._tally.done, self._tally.total)
            if event.kind == "step":
                self._bar.note(f"{event.id}: {event.state}")
            elif event.kind in ("image", "manifest") or event.state in ("exists", "mounted"):
                self._bar.note(f"{event.kind} {event.id}: {event.state}")

    def close(self) -> None:
        """The work finished: the bar shows it complete."""
        with self._lock:
            self._bar.close()

    def fail(self) -> None:
        """The work stopped with an error: the bar shows it failed, where it stopped."""
        with self._lock:
            self._bar.fail()

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.fail()


def _mode() -> str:
    """ "tqdm" where installed (tqdm.auto picks the notebook bar itself), else "widget" in a
    kernel, else "text"."""
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        pass
    else:
        return "tqdm"
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance() if InteractiveShell.initialized() else None
    return "widget" if getattr(shell, "kernel", None) is not None else "text"


def _make_bar(label: str, mode: str, file: TextIO) -> Bar:
    if mode == "tqdm":
        return TqdmBar(label, file)
    if mode == "widget":
        return WidgetBar.displayed(label)
    return TextBar(label, file)


class TqdmBar:
    def __init__(self, label: str, file: TextIO) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(desc=label, total=0, unit="B", unit_scale=True, file=file, leave=True)

    def show(self, done: int, total: int) -> None:
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def note(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        self._bar.close()

    def fail(self) -> None:
        self._bar.set_postfix_str("failed", refresh=False)
        self._bar.close()  # the notebook bar turns red when it closes short of its total


class WidgetBar:
    """Drives an ipywidgets ``IntProgress`` (percent) and an ``HTML`` line beside it."""

    def __init__(self, progress: Any, text: Any) -> None:
        # The widget's bar is used again for each push: nothing of the last one may show.
        self._progress = progress
        self._text = text
        progress.bar_style, progress.value, text.value = "", 0, ""

    @classmethod
    def displayed(cls, label: str) -> WidgetBar:
        from IPython.display import display
        from ipywidgets import HTML, HBox, IntProgress  # type: ignore[import-untyped]

        bar = cls(IntProgress(value=0, min=0, max=100, description=label), HTML())
        display(HBox([bar._progress, bar._text]))  # type: ignore[no-untyped-call]
        return bar

    def show(self, done: int, total: int) -> None:
        self._progress.value = min(100, done * 100 // total) if total else 0
        self._text.value = escape(f"{_size(done)} / {_size(total)}")

    def note(self, text: str) -> None:
        self._text.value = escape(text)

    def close(self) -> None:
        self._progress.value = self._progress.max
        self._progress.bar_style = "success"

    def fail(self) -> None:
        self._progress.bar_style = "danger"
        self._text.value = escape("failed")


class TextBar:
    """Outside a notebook: a line per tenth of the way and per notable event, not per chunk."""

    def __init__(self, label: str, file: TextIO) -> None:
        self._label = label
        self._file = file
        self._tenth = -1

    def show(self, done: int, total: int) -> None:
        tenth = done * 10 // total if total else 0
        if tenth != self._tenth:
            self._tenth = tenth
            self._write(f"{tenth * 10}% ({_size(done)} / {_size(total)})")

    def note(self, text: str) -> None:
        self._write(text)

    def close(self) -> None:
        self._write("done")

    def fail(self) -> None:
        self._write("failed")

    def _write(self, text: str) -> None:
        self._file.write(f"{self._label}: {text}\n")
        self._file.flush()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
