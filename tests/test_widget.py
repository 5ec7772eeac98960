"""The widget driven through its comm, as the browser drives it, against the real registry; the
password must be gone from every state a notebook saves."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import comm
import pytest
from comm import DummyComm
from ipywidgets import Widget
from ipywidgets.embed import dependency_state, embed_data
from jupyter_client.manager import start_new_kernel

import jupyter_regauth
from jupyter_regauth.errors import ConfigError
from jupyter_regauth.nbwidget import KUBE_UNAVAILABLE, RegAuthWidget
from jupyter_regauth.service import RegAuth

from .cli_helpers import config_json
from .conftest import SECRETS, Registry, new_password


class RecordingComm(DummyComm):
    """A comm whose kernel-to-browser messages are kept."""

    sent: ClassVar[list[dict[str, Any]]] = []

    def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kwargs: Any) -> None:
        self.sent.append({"type": msg_type, "comm_id": self.comm_id, "data": data})


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    sent: ClassVar[list[dict[str, Any]]] = []
    monkeypatch.setattr(RecordingComm, "sent", sent)
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    # comm logs every incoming message at DEBUG: the leak check must see them redacted.
    monkeypatch.setattr(logging.getLogger("Comm"), "level", logging.DEBUG)
    yield sent
    Widget.close_all()


@pytest.fixture
def service(basic_registry: Registry, docker_config: Path) -> RegAuth:
    service = RegAuth()
    assert basic_registry.ca_file is not None
    service.trust(basic_registry.host, basic_registry.ca_file.read_bytes())
    return service


def from_browser(widget: Any, **state: Any) -> None:
    """What the front end sends when the user edits a field."""
    widget.comm.handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def click(button: Any) -> None:
    button.comm.handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []}
    )


def saved_state(widget: RegAuthWidget) -> str:
    """Everything a notebook could save: each model's state, the manager state, the embed data."""
    states = [w.get_state() for w in [widget, *widget.children]]
    states.append(Widget.get_manager_state())
    states.append(dependency_state(widget))
    states.append(embed_data(views=[widget]))
    states.append(widget._repr_mimebundle_())
    return json.dumps(states, default=str)


def login(widget: RegAuthWidget, username: str, password: str) -> None:
    from_browser(widget.username, value=username)
    from_browser(widget.password, value=password)
    assert widget.password.value == password  # it did reach the kernel
    click(widget.login_button)


def last_sent_value(sent: list[dict[str, Any]], widget: Any) -> Any:
    updates = [
        m["data"]["state"]["value"]
        for m in sent
        if m["comm_id"] == widget.comm.comm_id and "value" in (m["data"] or {}).get("state", {})
    ]
    return updates[-1]


def test_login_through_the_comm_keeps_no_password(
    comms: list[dict[str, Any]], service: RegAuth, basic_registry: Registry, docker_config: Path
) -> None:
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    assert isinstance(widget, RegAuthWidget)
    assert widget.registry.value == basic_registry.host
    assert "Not logged in" in widget.status.value

    login(widget, "alice", basic_registry.password)

    assert "Logged in to" in widget.status.value and "alice" in widget.status.value
    assert widget.last_login is not None and widget.last_login.username == "alice"
    assert basic_registry.host in config_json(docker_config)["auths"]
    assert widget.password.value == ""
    assert last_sent_value(comms, widget.password) == ""  # the browser's model is cleared too
    everything = saved_state(widget) + json.dumps(comms, default=str)
    assert not any(s in everything for s in SECRETS)
    # A new widget shows who is logged in, from config.json.
    again = jupyter_regauth.widget(service, registry=basic_registry.host)
    assert "Logged in to" in again.status.value and again.username.value == "alice"

    # Log out, as docker logout: the entry goes from config.json, the rest of it stays.
    config = config_json(docker_config)
    config["auths"]["other.example"] = {"auth": "dTpw"}
    (docker_config / "config.json").write_text(json.dumps(config))
    click(again.logout_button)
    assert again.status.value == f"Logged out of <code>{basic_registry.host}</code>"
    assert set(config_json(docker_config)["auths"]) == {"other.example"}
    click(again.logout_button)
    assert "Not logged in to" in again.status.value and "nothing to remove" in again.status.value
    assert not again.logout_button.disabled


def test_wrong_password_shows_the_error_and_stores_nothing(
    comms: list[dict[str, Any]], service: RegAuth, basic_registry: Registry, docker_config: Path
) -> None:
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    wrong = new_password()
    login(widget, "alice", wrong)
    assert "refused the credentials for &#x27;alice&#x27;" in widget.status.value
    assert "check the username and password" in widget.status.value
    assert widget.password.value == "" and last_sent_value(comms, widget.password) == ""
    assert not (docker_config / "config.json").exists()
    assert wrong not in saved_state(widget) + json.dumps(comms, default=str)


def sent_states(sent: list[dict[str, Any]], widget: Any, key: str) -> list[tuple[int, Any]]:
    """Each update of ``key`` sent to the browser for ``widget``, with its place among all."""
    return [
        (i, m["data"]["state"][key])
        for i, m in enumerate(sent)
        if m["type"] == "comm_msg"
        and m["comm_id"] == widget.comm.comm_id
        and key in ((m["data"] or {}).get("state") or {})
    ]


def test_buttons_are_off_while_a_login_or_push_runs(
    comms: list[dict[str, Any]], service: RegAuth, basic_registry: Registry, tmp_path: Path
) -> None:
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    login(widget, "alice", new_password())  # refused: the buttons come back all the same
    login(widget, "alice", basic_registry.password)
    toggles = sent_states(comms, widget.login_button, "disabled")
    assert [value for _, value in toggles] == [True, False, True, False]
    pushes = sent_states(comms, widget.push_button, "disabled")
    assert [value for _, value in pushes] == [True, False, True, False]
    statuses = [i for i, _ in sent_states(comms, widget.status, "value")]
    for (on, _), (off, _) in (toggles[0:2], toggles[2:4]):
        assert any(on < i < off for i in statuses)  # what the login showed, while it ran

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(bytes(range(256)) * 4000)
    from_browser(widget.folder, value=str(model))
    from_browser(widget.target, value="team/busy:v1")
    del comms[:]
    click(widget.push_button)
    assert widget.last_push is not None, widget.digest.value
    toggles = sent_states(comms, widget.push_button, "disabled")
    assert [value for _, value in toggles] == [True, False]
    (on, _), (off, _) = toggles
    progress = [i for i, _ in sent_states(comms, widget.progress, "value")]
    assert progress and on < min(progress) and max(progress) < off
    assert not widget.login_button.disabled and not widget.push_button.disabled


def test_no_registry_picked_is_an_error(comms: list[dict[str, Any]], docker_config: Path) -> None:
    widget = jupyter_regauth.widget(RegAuth())
    assert widget.registry.options == ()
    assert "No registries yet" in widget.status.value
    click(widget.login_button)
    assert "no registry picked" in widget.status.value


def test_an_entry_that_cannot_be_used_shows_why(
    comms: list[dict[str, Any]], docker_config: Path
) -> None:
    """Invalid entries of a profiles file are listed, each with its own error; one without a
    host is not taken for an empty list."""
    service = RegAuth()
    service.profiles.user_path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{"host": "reg.example:abc"}, {"host": ""}, {"host": "good.invalid"}]
    service.profiles.user_path.write_text(json.dumps({"registries": entries}))
    widget = jupyter_regauth.widget(service)
    labels = [label for label, _ in widget.registry.options]
    assert labels == ["good.invalid", "reg.example:abc", "(an entry without a host)"]
    widget.registry.value = "reg.example:abc"
    assert "port &#x27;abc&#x27; must be a number" in widget.status.value
    widget.registry.value = ""
    assert "No registries yet" not in widget.status.value
    assert "&#x27;&#x27; is not a registry host" in widget.status.value
    widget.registry.value = "good.invalid"
    assert widget.status.value == "Not logged in to <code>good.invalid</code>"


def test_login_stands_when_the_kubernetes_step_fails(
    comms: list[dict[str, Any]],
    service: RegAuth,
    basic_registry: Registry,
    docker_config: Path,
    unreachable_cluster: Path,
) -> None:
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    assert not widget.kube.disabled
    from_browser(widget.kube, value=True)
    login(widget, "alice", basic_registry.password)
    assert widget.last_login is not None and widget.last_login.username == "alice"
    assert basic_registry.host in config_json(docker_config)["auths"]
    status = widget.status.value
    assert "Logged in to" in status and "Kubernetes setup failed: " in status
    assert "cannot reach the Kubernetes API" in status


def test_kubernetes_toggle_is_disabled_without_a_cluster(
    comms: list[dict[str, Any]], docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    widget = jupyter_regauth.widget(RegAuth(), registry="registry.example")
    assert widget.kube.disabled and widget.kube.tooltip == KUBE_UNAVAILABLE


def test_build_and_push_shows_progress_and_digest(
    comms: list[dict[str, Any]],
    service: RegAuth,
    basic_registry: Registry,
    tmp_path: Path,
) -> None:
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    login(widget, "alice", basic_registry.password)
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(bytes(range(256)) * 4000)
    from_browser(widget.folder, value=str(model))
    from_browser(widget.target, value="team/widget:v1")  # relative: on the picked registry
    click(widget.push_button)
    result = widget.last_push
    assert result is not None, widget.digest.value
    assert result.reference.startswith(f"{basic_registry.host}/team/widget@sha256:")
    assert result.digest in widget.digest.value
    assert widget.progress.value == 100 and widget.progress.bar_style == "success"
    progress_updates = [
        m["data"]["state"]["value"]
        for m in comms
        if m["comm_id"] == widget.progress.comm.comm_id and "value" in m["data"]["state"]
    ]
    assert progress_updates[-1] == 100 and len(set(progress_updates)) >= 2
    assert service.tags(f"{basic_registry.host}/team/widget") == ["v1"]
    layers = service.inspect(result.reference)["manifest"]["layers"]
    assert layers[0]["mediaType"].endswith("tar+gzip")

    from_browser(widget.compression, index=1)  # zstd
    from_browser(widget.target, value="team/widget:zstd")
    click(widget.push_button)
    assert widget.last_push is not None and widget.last_push is not result, widget.digest.value
    layers = service.inspect(widget.last_push.reference)["manifest"]["layers"]
    assert layers[0]["mediaType"].endswith("tar+zstd")

    # A base without a registry host is on the picked registry, as the image is.
    from_browser(widget.compression, index=0)
    from_browser(widget.base, value="team/widget:v1")
    from_browser(widget.target, value="team/widget:on-base")
    click(widget.push_button)
    assert widget.last_push is not None, widget.digest.value
    assert len(service.inspect(widget.last_push.reference)["manifest"]["layers"]) == 2

    # A failed push shows nothing of the one before it.
    from_browser(widget.folder, value=str(tmp_path / "missing"))
    click(widget.push_button)
    assert "is not a directory" in widget.digest.value
    assert widget.progress.bar_style == "danger" and widget.progress.value == 0
    assert widget.progress_text.value in ("", "failed")


def test_push_needs_a_folder_and_an_image(
    comms: list[dict[str, Any]],
    service: RegAuth,
    basic_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # what an empty Folder would otherwise push
    (tmp_path / "notebook.ipynb").write_text("{}")
    widget = jupyter_regauth.widget(service, registry=basic_registry.host)
    login(widget, "alice", basic_registry.password)
    for folder, target, words in [
        ("", "team/cwd:v1", "no folder given"),
        ("  ", "team/cwd:v1", "no folder given"),
        (str(tmp_path), " ", "no image given"),
    ]:
        from_browser(widget.folder, value=folder)
        from_browser(widget.target, value=target)
        click(widget.push_button)
        assert words in widget.digest.value and widget.last_push is None
        assert widget.progress.bar_style == "danger" and widget.progress.value == 0
    assert "team/cwd" not in service.catalog(basic_registry.host)
    for directory, reference, words in [
        ("", f"{basic_registry.host}/team/cwd:v1", "no directory given"),
        (str(tmp_path), "", "no image given"),
    ]:
        with pytest.raises(ConfigError, match=words) as info:
            service.push_directory(directory, reference)
        assert info.value.hint


def kernel_run(client: Any, code: str) -> str:
    """Run ``code`` in the kernel; what it printed."""
    msg_id = client.execute(code)
    printed = ""
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            printed += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return printed


def kernel_comm_msg(client: Any, comm_id: str, data: dict[str, Any]) -> None:
    """What the browser sends the kernel for a widget."""
    client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def test_a_kernel_run_with_debug_logs_no_password(tmp_path: Path, docker_config: Path) -> None:
    """A kernel started with --debug logs each message it gets, the Password's updates too."""
    password = new_password()
    log_file = tmp_path / "kernel.log"
    with log_file.open("w") as log:
        manager, client = start_new_kernel(
            kernel_name="python3",
            cwd=str(Path(__file__).parents[1]),
            extra_arguments=["--debug"],
            stdout=log,
            stderr=log,
        )
        try:
            field, button = kernel_run(
                client,
                "import jupyter_regauth\n"
                "w = jupyter_regauth.widget(registry='127.0.0.1:1')\n"
                "w.username.value = 'alice'\n"
                "print(w.password.model_id, w.login_button.model_id)",
            ).split()
            typed = {"method": "update", "state": {"value": password}, "buffer_paths": []}
            kernel_comm_msg(client, field, typed)
            kernel_comm_msg(client, button, {"method": "custom", "content": {"event": "click"}})
            shown = "print('cannot connect' in w.status.value, w.password.value == '')"
            assert kernel_run(client, shown) == "True True\n"  # the login was tried
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    logged = log_file.read_text()
    assert "comm_msg: " in logged  # the kernel did log the messages
    leaked = password in logged
    assert not leaked, "the password reached the kernel's log"
