"""``jupyter_regauth.widget()``: log in and build-and-push from an ipywidgets form.

The password travels once, from the browser to the kernel, and is cleared from the Password
field before the login is attempted, so the synced model (what a saved notebook stores as widget
state) never keeps it. Everything else goes through the same ``RegAuth`` facade as the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from ipywidgets import (  # type: ignore[import-untyped]
    HTML,
    Button,
    Checkbox,
    Dropdown,
    HBox,
    IntProgress,
    Layout,
    Password,
    Text,
    VBox,
)
from traitlets import Unicode

from .errors import ConfigError, RegAuthError
from .images.compression import GZIP, ZSTD
from .images.push import PushResult
from .magics import qualify_base, qualify_reference
from .profiles import normalize_host
from .results import ImageResult, ProgressDisplay, WidgetBar
from .service import LoginResult, RegAuth

KUBE_UNAVAILABLE = (
    "No Kubernetes cluster is configured here (no in-cluster service account, $KUBECONFIG "
    "or ~/.kube/config)"
)


def kube_available() -> bool:
    from .kube.detect import cluster_configured

    return cluster_configured()


REDACTED = "<redacted: secret field>"


class _RedactSecretMessages(logging.Filter):
    """The comm package logs each message from the browser at DEBUG, and so does the kernel
    (``--debug``); for a SecretField that message holds what was typed. Redact those records,
    whatever the log level is set to."""

    def __init__(self) -> None:
        super().__init__()
        self.comm_ids: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        first = args[0] if isinstance(args, tuple) and args else None
        if isinstance(first, str) and first in self.comm_ids:
            record.args = (first, REDACTED)  # comm's "handle_msg[%s](%s)": the id, the message
        elif self._is_secret(args):  # the kernel's: a message's content alone is the args
            record.args = (REDACTED,)
        elif isinstance(args, tuple) and any(self._is_secret(a) for a in args):
            record.args = tuple(REDACTED if self._is_secret(a) else a for a in args)
        return True

    def _is_secret(self, arg: object) -> bool:
        """A comm message (or its content) for a SecretField."""
        content = arg.get("content", arg) if isinstance(arg, Mapping) else None
        comm_id = content.get("comm_id") if isinstance(content, Mapping) else None
        return isinstance(comm_id, str) and comm_id in self.comm_ids


_REDACT = _RedactSecretMessages()


class SecretField(Password):  # type: ignore[misc]
    """A Password whose value the kernel never echoes back to the browsers or logs."""

    value = Unicode(help="the secret").tag(sync=True, echo_update=False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _REDACT.comm_ids.add(self.model_id)
        for log in (logging.getLogger("Comm"), _kernel_log()):
            if log is not None and _REDACT not in log.filters:
                log.addFilter(_REDACT)


def _kernel_log() -> logging.Logger | None:
    """The running kernel's own logger, if there is a kernel."""
    from IPython.core.getipython import get_ipython

    shell = get_ipython()  # type: ignore[no-untyped-call, unused-ignore]
    log = getattr(getattr(shell, "kernel", None), "log", None)
    if isinstance(log, logging.LoggerAdapter):
        log = log.logger
    return log if isinstance(log, logging.Logger) else None


class RegAuthWidget(VBox):  # type: ignore[misc]
    """Registry picker, login form and logout, status, Kubernetes toggle, and build-and-push."""

    def __init__(self, service: RegAuth | None = None, registry: str | None = None) -> None:
        service = service or RegAuth()
        hosts = [r.host for r in service.registries()]
        if registry is not None and normalize_host(registry) not in hosts:
            hosts.insert(0, normalize_host(registry))
        wide = Layout(width="32em")
        # An entry whose host text is empty (a profiles file's) is still listed, to say why.
        choices = [(host or "(an entry without a host)", host) for host in hosts]
        self.registry = Dropdown(options=choices, description="Registry", layout=wide)
        self.username = Text(description="Username", layout=wide)
        self.password = SecretField(description="Password", layout=wide)
        self.login_button = Button(description="Log in", button_style="primary", icon="sign-in")
        self.logout_button = Button(description="Log out", icon="sign-out")
        self.status = HTML()
        has_kube = kube_available()
        self.kube = Checkbox(
            value=False,
            description="Configure Kubernetes",
            disabled=not has_kube,
            tooltip="also create the pull Secret and PodDefault" if has_kube else KUBE_UNAVAILABLE,
            indent=False,
        )
        self.folder = Text(description="Folder", placeholder="model directory", layout=wide)
        self.base = Text(description="Base", placeholder="empty image", layout=wide)
        self.compression = Dropdown(
            options=[("gzip: every runtime", GZIP), ("zstd: containerd 1.5+, Docker 23+", ZSTD)],
            value=GZIP,
            description="Layers",
            layout=wide,
        )
        self.target = Text(description="Image", placeholder="team/model:v1", layout=wide)
        self.push_button = Button(description="Build and push", icon="upload")
        self.progress = IntProgress(value=0, min=0, max=100, description="Progress")
        self.progress_text = HTML()
        self.digest = HTML()
        super().__init__(
            children=[
                HTML("<b>Container registry</b>"),
                self.registry,
                self.username,
                self.password,
                HBox([self.login_button, self.logout_button, self.kube]),
                self.status,
                HTML("<b>Build and push</b>"),
                self.folder,
                self.base,
                self.compression,
                self.target,
                self.push_button,
                HBox([self.progress, self.progress_text]),
                self.digest,
            ]
        )
        self.service = service
        self.last_login: LoginResult | None = None
        self.last_push: PushResult | None = None
        self.login_button.on_click(self._while_busy(self.login))
        self.logout_button.on_click(self._while_busy(self.logout))
        self.push_button.on_click(self._while_busy(self.push))
        self.registry.observe(lambda _: self._show_registry(), "value")
        if registry is not None:
            self.registry.value = normalize_host(registry)
        self._show_registry()

    def login(self) -> None:
        # Taken and cleared first: a failed login must not leave it in the synced state either.
        password, self.password.value = self.password.value, ""
        host = self.registry.value
        try:
            if not host:
                raise ConfigError("no registry picked", hint="pick one, or pass registry=HOST")
            # The kubelet cannot pull with an identity token: keep the password for the cluster.
            kube = bool(self.kube.value) and kube_available()
            user = self.username.value.strip()
            result = self.service.login(host, user, password, store_password=kube)
        except RegAuthError as exc:
            self.status.value = _error_html(exc)
            return
        finally:
            del password
        self.last_login = result
        logged_in = (
            f"&#10004; Logged in to <code>{escape(result.host)}</code> as "
            f"<b>{escape(result.username)}</b>"
        )
        self.status.value = f"{logged_in} ({escape(result.stored_as)} saved)"
        if kube:
            # The credentials are stored whatever happens here: say so, and what failed.
            try:
                self.service.kube_apply(host)
            except RegAuthError as exc:
                self.status.value = f"{logged_in}; " + _error_html(exc, "Kubernetes setup failed: ")

    def logout(self) -> None:
        """As ``docker logout``: the registry's credentials go from config.json (or its
        helper); its CA and profile stay, and so does what Kubernetes was given."""
        host = self.registry.value
        try:
            if not host:
                raise ConfigError("no registry picked", hint="pick one, or pass registry=HOST")
            removed = self.service.logout(host)
        except RegAuthError as exc:
            self.status.value = _error_html(exc)
            return
        self.last_login = None
        self.status.value = (
            f"Logged out of <code>{escape(host)}</code>"
            if removed
            else f"Not logged in to <code>{escape(host)}</code>: nothing to remove"
        )

    def push(self) -> None:
        host = self.registry.value
        target = self.target.value.strip()
        base = self.base.value.strip() or None
        if host and target:
            target = qualify_reference(target, host)
        if host and base:
            base = qualify_base(base, host)
        self.digest.value = ""
        bar = WidgetBar(self.progress, self.progress_text)
        try:
            if not self.folder.value.strip():
                raise ConfigError("no folder given", hint="type the model directory into Folder")
            if not target:
                raise ConfigError("no image given", hint="type where to push into Image")
            with ProgressDisplay("push", bar=bar) as progress:
                result = self.service.push_directory(
                    self.folder.value.strip(),
                    target,
                    base=base,
                    compression=self.compression.value,
                    progress=progress,
                )
        except RegAuthError as exc:
            self.progress.bar_style = "danger"
            self.digest.value = _error_html(exc)
            return
        self.last_push = result
        self.digest.value = ImageResult("push", result.to_dict(), result.reference)._repr_html_()

    def _while_busy(self, action: Callable[[], None]) -> Callable[[Any], None]:
        def run(_: Any) -> None:
            # Both buttons are off while one runs: a click meanwhile would queue the work again
            # (a second login, the Password already cleared, fails over the first's success).
            buttons = (self.login_button, self.logout_button, self.push_button)
            for button in buttons:
                button.disabled = True
            try:
                action()
            finally:
                for button in buttons:
                    button.disabled = False

        return run

    def _show_registry(self) -> None:
        host = self.registry.value
        if not self.registry.options:
            self.status.value = "No registries yet: pass <code>registry=HOST</code>."
            return
        row = next((r for r in self.service.registries() if r.host == host), None)
        if row is not None and row.error is not None:
            # An entry that cannot be used (a bad host in a profiles file): why, not its login.
            hint = row.error.get("hint")
            problem = RegAuthError(str(row.error["message"]), hint=str(hint) if hint else None)
            self.username.value = ""
            self.status.value = _error_html(problem)
            return
        username = row.username if row else None
        try:
            profile = self.service.profile(host)
        except RegAuthError as exc:
            self.username.value = username or ""
            self.status.value = _error_html(exc)
            return
        self.username.value = username or profile.username or ""
        self.status.value = (
            f"Logged in to <code>{escape(host)}</code> as <b>{escape(username)}</b>"
            if username
            else f"Not logged in to <code>{escape(host)}</code>"
        )


def _error_html(exc: RegAuthError, prefix: str = "") -> str:
    hint = f"<br><small>{escape(exc.hint)}</small>" if exc.hint else ""
    style = "color: var(--jp-error-color1, #d32f2f)"
    return f'<span style="{style}">&#10008; {escape(prefix + exc.message)}</span>{hint}'


def widget(service: RegAuth | None = None, registry: str | None = None) -> RegAuthWidget:
    """The registry widget; ``registry`` preselects (and adds) a host."""
    return RegAuthWidget(service, registry)
