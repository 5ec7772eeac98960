"""``%regauth`` in a real IPython shell against the real registry; no secret in any output,
result repr or history entry."""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output
from ipywidgets import HTML, IntProgress  # type: ignore[import-untyped]
from jupyter_client.manager import start_new_kernel

import jupyter_regauth
from jupyter_regauth.errors import RegAuthError
from jupyter_regauth.images.progress import ProgressEvent
from jupyter_regauth.magics import qualify_reference
from jupyter_regauth.results import (
    ImageResult,
    LoginInfo,
    ProgressDisplay,
    StatusTable,
    TextBar,
    WidgetBar,
)
from jupyter_regauth.service import RegAuth

from .cli_helpers import config_json
from .conftest import SECRETS, Registry, new_password


class Session:
    """A shell plus everything it showed, to look for secrets in."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.shown: list[str] = []

    def run(self, code: str) -> ExecutionResult:
        with capture_output() as captured:
            result = self.shell.run_cell(code, store_history=True)
        self.shown += [captured.stdout, captured.stderr]
        self.shown += [json.dumps(o.data) for o in captured.outputs]
        if result.error_in_exec is not None:
            self.shown.append(str(result.error_in_exec))
        return result

    def ok(self, code: str) -> Any:
        result = self.run(code)
        assert result.success, f"{code!r} failed: {result.error_in_exec}\n{self.shown[-3:]}"
        return result.result

    def error(self, code: str) -> str:
        result = self.run(code)
        assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
        return str(result.error_in_exec)

    def stdout(self, code: str) -> str:
        with capture_output() as captured:
            self.shell.run_cell(code, store_history=True)
        self.shown.append(captured.stdout + captured.stderr)
        return captured.stdout

    def assert_no_secrets(self) -> None:
        history = self.shell.history_manager
        assert history is not None
        texts = [*self.shown, *history.input_hist_raw, *history.input_hist_parsed]
        for value in [*history.output_hist.values(), *self.shell.user_ns.get("Out", {}).values()]:
            formatted, _ = self.shell.display_formatter.format(value)
            texts += [str(v) for v in formatted.values()]
        texts += [str(row) for row in history.get_range(output=True)]
        everything = "\n".join(texts)
        assert not any(s in everything for s in SECRETS), "a secret reached the notebook"


@pytest.fixture(scope="session")
def shell() -> InteractiveShell:
    start_ipython()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_regauth")
    return shell


@pytest.fixture
def ip(shell: InteractiveShell, docker_config: Path) -> Iterator[Session]:
    shell.reset(new_session=True)
    jupyter_regauth.load_ipython_extension(shell)  # a fresh kernel state: no default registry
    session = Session(shell)
    yield session
    session.assert_no_secrets()


@pytest.fixture
def typed_password(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the user types into getpass's hidden prompt, one entry per prompt."""
    typed: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": typed.pop(0))
    return typed


def login_line(registry: Registry, host: str | None = None) -> str:
    host = registry.host if host is None else host
    return f"%regauth login {host} --username {registry.username} --ca-file {registry.ca_file}"


def test_load_ext_registers_the_magics(shell: InteractiveShell) -> None:
    assert "regauth" in shell.magics_manager.magics["line"]
    assert "regauth" in shell.magics_manager.magics["cell"]
    jupyter_regauth.unload_ipython_extension(shell)
    assert "regauth" not in shell.magics_manager.magics["line"]
    jupyter_regauth.load_ipython_extension(shell)
    assert "regauth" in shell.magics_manager.magics["line"]


def test_help_for_each_verb(ip: Session) -> None:
    top = ip.stdout("%regauth --help")
    for verb in ("login", "logout", "ls", "status", "trust", "use", "kube", "push", "copy"):
        assert verb in top
        text = ip.stdout(f"%regauth {verb} --help")
        assert text.startswith(f"usage: %regauth {verb}"), text
    assert "--username" in ip.stdout("%regauth login --help")
    assert "--base" in ip.stdout("%regauth push --help")
    cell = ip.stdout("%%regauth build --help\nbase: scratch\n")
    assert cell.startswith("usage: %%regauth build") and "IMAGE" in cell


def test_login_status_logout(
    ip: Session, basic_registry: Registry, docker_config: Path, typed_password: list[str]
) -> None:
    typed_password.append(basic_registry.password)
    login = ip.ok(login_line(basic_registry))
    assert isinstance(login, LoginInfo)
    assert repr(login) == "Login Succeeded"
    assert "Login Succeeded" in login._repr_html_() and basic_registry.host in login._repr_html_()
    assert config_json(docker_config)["auths"][basic_registry.host]["auth"]

    ip.ok("r = %regauth ls")
    table = ip.shell.user_ns["r"]
    assert isinstance(table, StatusTable)
    row = table.row(basic_registry.host)
    assert row["reachable"] and row["trusted"] and row["authenticated"]
    assert row["username"] == "alice"
    assert repr(table).splitlines()[0].split()[:2] == ["REGISTRY", "SOURCE"]
    html = table._repr_html_()
    assert "<table" in html and basic_registry.host in html and "&#10004;" in html

    ip.ok(f"%regauth status {basic_registry.host}")
    assert isinstance(ip.shell.user_ns["_"], StatusTable)  # the last result, as `_`
    assert [r["host"] for r in ip.shell.user_ns["_"]] == [basic_registry.host]

    out = ip.ok(f"%regauth logout {basic_registry.host}")
    assert repr(out) == f"Removing login credentials for {basic_registry.host}"
    assert basic_registry.host not in config_json(docker_config).get("auths", {})


def test_wrong_password_is_a_clear_error_and_stores_nothing(
    ip: Session, basic_registry: Registry, docker_config: Path, typed_password: list[str]
) -> None:
    typed_password.append(new_password())
    message = ip.error(login_line(basic_registry))
    assert f"{basic_registry.host} refused the credentials for 'alice'" in message
    assert "Hint: check the username and password" in message
    assert not (docker_config / "config.json").exists()
    assert not (Path.home() / ".config/containers/certs.d").exists()


def test_unknown_ca_names_the_magics_own_commands(
    ip: Session, basic_registry: Registry, docker_config: Path, typed_password: list[str]
) -> None:
    typed_password.append(basic_registry.password)
    host = basic_registry.host
    message = ip.error(f"%regauth login {host} --username {basic_registry.username}")
    assert "signed by an unknown authority" in message
    assert f"`%regauth trust {host}`" in message
    assert f"`%regauth login {host} --ca-file PEM`" in message
    assert "`regauth" not in message  # not the shell command: the user is in a notebook


def test_login_checks_its_arguments_before_asking_for_the_password(
    ip: Session, basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password typed in only to be told the line was wrong would have to be typed again."""
    asked: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or "unused")
    monkeypatch.setattr("builtins.input", lambda prompt="": "")  # Username: left empty
    host = basic_registry.host
    for line, words in [
        (f"{host}/team --username alice", "is a registry host with a repository path"),
        (f"{host} --username alice --ca-file {tmp_path}/no.pem", "cannot read the CA file"),
        (f"{host} -u alice --client-cert {tmp_path}/c --client-key {tmp_path}/k", "client cert"),
        (host, "a username is needed to log in"),
    ]:
        assert words in ip.error(f"%regauth login {line}")
    assert asked == []


def test_password_is_never_an_argument(ip: Session, basic_registry: Registry) -> None:
    message = ip.error(login_line(basic_registry) + " --password-stdin")
    assert "--password-stdin does not work in a notebook" in message
    assert "hidden prompt" in message
    typed = "typed-in-the-line"  # in the input history by the user's own hand, so not in SECRETS
    for option in (
        f"--password {typed}",
        f"--password={typed}",
        f"--pass {typed}",
        f"-p {typed}",  # docker login's own flag
        f"-p{typed}",
        f"-p={typed}",
    ):
        message = ip.error(f"{login_line(basic_registry)} {option}")
        assert "a password is never an argument" in message and typed not in message
    for stray in (typed, f"--secret {typed}", f"-x{typed}"):
        message = ip.error(f"{login_line(basic_registry)} {stray}")
        assert "unrecognized arguments (not shown" in message and typed not in message
    assert "unrecognized arguments: extra" in ip.error("%regauth logout r.example extra")


def test_usage_errors(ip: Session) -> None:
    assert "the following arguments are required: HOST" in ip.error("%regauth login")
    assert "cannot split the arguments" in ip.error("%regauth login 'unclosed")
    assert "invalid choice: 'nope'" in ip.error("%regauth nope")
    assert "invalid choice: 'push'" in ip.error("%%regauth push x\nbase: scratch\n")
    assert "missing the ']'" in ip.error("%regauth status [::1")
    assert "port 'abc' must be a number" in ip.error("%regauth status reg.example:abc")
    assert "port 'abc' must be a number" in ip.error("%regauth use reg.example:abc")


def test_use_with_a_repository_path_is_an_error(ip: Session) -> None:
    """The default registry is a host: the path would be dropped from the names put on it."""
    ip.ok("%regauth use reg.example:5000")
    error = ip.error("%regauth use reg.example:5000/team")
    assert error.startswith(
        "'reg.example:5000/team' is a registry host with a repository path (team)"
    ), error
    assert "Hint: give the registry host only (HOST[:PORT]), here reg.example:5000;" in error
    assert repr(ip.ok("%regauth use")) == "Default registry: reg.example:5000"
    assert json.loads(repr(ip.ok("%regauth --json use"))) == {
        "default_registry": "reg.example:5000"
    }


def test_use_sets_the_default_registry(
    ip: Session,
    basic_registry: Registry,
    docker_config: Path,
    typed_password: list[str],
    tmp_path: Path,
) -> None:
    assert repr(ip.ok("%regauth use")) == "No default registry"
    assert repr(ip.ok(f"%regauth use {basic_registry.host}")) == (
        f"Default registry: {basic_registry.host}"
    )
    typed_password.append(basic_registry.password)
    ip.ok(login_line(basic_registry, host=""))  # the host comes from `use`
    assert basic_registry.host in config_json(docker_config)["auths"]
    status = ip.ok("%regauth status")
    assert [r["host"] for r in status] == [basic_registry.host]

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00\x01" * 5000)
    pushed = ip.ok(f"%regauth push {model} team/used:v1")
    assert isinstance(pushed, ImageResult)
    assert pushed.reference.startswith(f"{basic_registry.host}/team/used@sha256:")
    tags = ip.ok("%regauth tags team/used")
    assert list(tags) == ["v1"]
    # A base without a registry host is on the default registry too, in a line and a cell.
    on_base = ip.ok(f"%regauth push {model} team/on-base:v1 --base team/used:v1")
    layers = RegAuth().inspect(on_base.reference)["manifest"]["layers"]
    assert len(layers) == 2
    cell = ip.ok("%%regauth build team/on-base:v2\nbase: team/used:v1\nenv: {A: b}\n")
    assert len(RegAuth().inspect(cell.reference)["manifest"]["layers"]) == 1
    # --json shows the result as the command line prints it; the object is the same.
    as_json = ip.ok(f"%regauth push {model} team/used:v1 --json")
    assert json.loads(repr(as_json))["digest"] == as_json.digest == pushed.digest
    assert as_json._repr_html_().startswith("<pre>{")
    # A digest file that cannot be written is refused before anything is pushed.
    message = ip.error(f"%regauth push {model} team/never:v1 --digest-file {tmp_path}/no/d")
    assert "cannot write the digest file" in message
    assert "team/never" not in RegAuth().catalog(basic_registry.host)

    ip.ok("%regauth use --clear")
    assert "required: HOST" in ip.error("%regauth logout")


def test_push_copy_and_build_cell(
    ip: Session,
    basic_registry: Registry,
    typed_password: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed_password.append(basic_registry.password)
    ip.ok(login_line(basic_registry))
    host = basic_registry.host
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.txt").write_text("weights\n")

    pushed = ip.ok(f"%regauth push {model} {host}/team/model:v1")
    assert isinstance(pushed, ImageResult)
    assert repr(pushed) == pushed.reference == f"{host}/team/model@{pushed.digest}"
    assert pushed.digest in pushed._repr_html_()
    assert "push:" in "".join(ip.shown[-4:])  # the progress bar, as text outside a notebook

    copied = ip.ok(f"%regauth copy {host}/team/model:v1 {host}/team/copy:v1")
    assert copied.digest == pushed.digest

    monkeypatch.chdir(tmp_path)
    cell = f"%%regauth build {host}/team/built:v2\n" + (
        "files:\n  - {src: model, dest: /srv}\nenv: {MODE: serve}\ncmd: [python, serve.py]\n"
    )
    built = ip.ok(cell)
    assert isinstance(built, ImageResult) and built.reference.startswith(f"{host}/team/built@")
    config = RegAuth().inspect(f"{host}/team/built:v2")["config"]["config"]
    assert "MODE=serve" in config["Env"] and config["Cmd"] == ["python", "serve.py"]

    digest_file = tmp_path / "digest.txt"
    zstd = ip.ok(
        f"%%regauth build {host}/team/built:zstd --compression zstd --digest-file {digest_file}\n"
        "files:\n  - {src: model, dest: /srv}\ncompression: gzip\n"
    )
    assert digest_file.read_text() == zstd.digest + "\n"
    as_json = ip.ok(f"%%regauth build {host}/team/built:json --json -q\nfiles: [{{src: model}}]\n")
    assert json.loads(repr(as_json))["reference"] == as_json.reference, "--json, as the CLI's"
    layers = RegAuth().inspect(f"{host}/team/built:zstd")["manifest"]["layers"]
    assert layers[0]["mediaType"].endswith("tar+zstd"), "the magic's argument wins"
    # Pushed, but the digest file cannot take it: the hint names the magic, not the shell's.
    message = ip.error(
        f"%%regauth build {host}/team/built:full --digest-file /dev/full\n"
        "files:\n  - {src: model, dest: /srv}\n"
    )
    assert "but the digest could not be written to /dev/full" in message
    assert "`%regauth inspect REFERENCE`" in message and "`regauth" not in message

    message = ip.error(f"%%regauth build {host}/team/bad\nlayers: [x]\nbogus: 1\n")
    assert "Unknown build spec key(s): bogus" in message
    message = ip.error(f"%%regauth build {host}/team/bad\nlayers: 5\n")
    assert "layers must be a list of layers, not a number" in message
    message = ip.error(f"%%regauth build {host}/team/bad\nenv: {{A: {{b: 1}}}}\n")
    assert "env.A must be a string (or a number), not a mapping" in message
    message = ip.error(f"%%regauth build {host}/team/bad\nenv:\n  TOKEN: 'opensesame\n")
    assert "the cell is not valid YAML: line 3, column 1" in message
    assert "opensesame" not in message, "PyYAML quotes the line: it may hold a secret"


def test_trust_asks_through_input(
    ip: Session, basic_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = ["n", "y"]
    monkeypatch.setattr("builtins.input", lambda prompt="": answers.pop(0))
    assert "not trusted: the CA was not confirmed" in ip.error(
        f"%regauth trust {basic_registry.host}"
    )
    trusted = ip.ok(f"%regauth trust {basic_registry.host}")
    ca = Path.home() / ".config/containers/certs.d" / basic_registry.host / "ca.crt"
    assert ca.is_file() and repr(trusted) == f"Trusted for {basic_registry.host}: {ca.parent}"
    assert repr(ip.ok(f"%regauth trust {basic_registry.host} --yes")).endswith("already trusted")


def test_kube_without_a_cluster_says_so(ip: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    message = ip.error("%regauth kube status registry.example")
    assert "no Kubernetes configuration was found" in message
    assert "--kubeconfig" in message


def test_use_puts_a_build_jobs_image_on_the_default_registry(
    ip: Session,
    basic_registry: Registry,
    typed_password: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`kube build-job`'s IMAGE is a nested verb's: without a host it is on `use`'s too."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    typed_password.append(basic_registry.password)
    ip.ok(login_line(basic_registry))
    ip.ok(f"%regauth use {basic_registry.host}")
    # The context went to the default registry (not Docker Hub); the cluster is what is missing.
    message = ip.error("%regauth kube build-job ctx team/model:v1 --dry-run")
    assert "docker.io" not in message
    assert "no Kubernetes configuration was found" in message


def test_qualify_reference() -> None:
    assert qualify_reference("team/model:v1", "r.example:5000") == "r.example:5000/team/model:v1"
    assert qualify_reference("model", "r.example") == "r.example/model"
    assert qualify_reference("other.example/team/m", "r.example") == "other.example/team/m"
    assert qualify_reference("localhost/m", "r.example") == "localhost/m"
    assert qualify_reference("oci:layout", "r.example") == "oci:layout"


def test_progress_counts_each_byte_once() -> None:
    out = io.StringIO()
    display = ProgressDisplay("push", bar=TextBar("push", out))
    display(ProgressEvent("layer", "layer 1", "compressing", 0, 1000))
    display(ProgressEvent("layer", "layer 1", "compressing", 500, 1000))
    display(ProgressEvent("blob", "sha256:aa", "done", 300, 300, "layer 1"))  # its compressed form
    display(ProgressEvent("blob", "sha256:bb", "exists", 1000, 1000))
    display(ProgressEvent("manifest", "sha256:cc", "done", 10))
    display.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "push: 0% (0 B / 1000 B)"
    assert "push: 50% (500 B / 1000 B)" in lines
    assert "push: 100% (1000 B / 1000 B)" in lines  # the layer's blob was not counted again
    assert "push: blob sha256:bb: exists" in lines and lines[-1] == "push: done"


def test_a_failed_push_shows_a_failed_bar(
    ip: Session, basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    with pytest.raises(RegAuthError), ProgressDisplay("push", bar=TextBar("push", out)) as bar:
        bar(ProgressEvent("layer", "layer 1", "compressing", 500, 1000))
        raise RegAuthError("the registry went away")
    assert out.getvalue().splitlines()[-1] == "push: failed"

    progress, text = IntProgress(value=0, max=100), HTML()
    with pytest.raises(RegAuthError), ProgressDisplay("push", bar=WidgetBar(progress, text)) as bar:
        bar(ProgressEvent("layer", "layer 1", "compressing", 500, 1000))
        raise RegAuthError("the registry went away")
    assert (progress.value, progress.bar_style, text.value) == (50, "danger", "failed")

    # A magic's push that fails: the bar says so instead of "done".
    shown: list[str] = []
    monkeypatch.setattr(
        "jupyter_regauth.magics.ProgressDisplay",
        lambda label: ProgressDisplay(label, bar=TextBar(label, _Lines(shown))),
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"w" * 1000)
    ip.error(f"%regauth push {tmp_path / 'model'} {basic_registry.host}/team/refused:1")
    assert shown and shown[-1] == "push: failed\n"


class _Lines(io.StringIO):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


def test_in_a_real_kernel(basic_registry: Registry, docker_config: Path, tmp_path: Path) -> None:
    """getpass goes over the kernel's stdin channel as a hidden prompt; results are HTML; the
    push progress is a notebook progress bar; no message the kernel sends holds the password."""
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(Path(__file__).parents[1]))
    sent: list[dict[str, Any]] = []
    prompts: list[dict[str, Any]] = []

    def run(code: str, answer: str | None = None) -> list[dict[str, Any]]:
        msg_id = client.execute(code, allow_stdin=answer is not None)
        outputs: list[dict[str, Any]] = []
        while True:
            if answer is not None:
                with contextlib.suppress(queue.Empty):
                    prompts.append(client.get_stdin_msg(timeout=0.1)["content"])
                    client.input(answer)
            with contextlib.suppress(queue.Empty):
                msg = client.get_iopub_msg(timeout=0.1)
                sent.append(msg["content"])
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return outputs
                outputs.append({"type": msg["msg_type"], **msg["content"]})

    try:
        run("%load_ext jupyter_regauth")
        login = run(login_line(basic_registry), answer=basic_registry.password)
        assert prompts == [{"prompt": "Password: ", "password": True}]
        [result] = [o for o in login if o["type"] == "execute_result"]
        assert result["data"]["text/plain"] == "Login Succeeded"
        assert "<b>Login Succeeded</b>" in result["data"]["text/html"]

        [status] = [o for o in run("%regauth ls") if o["type"] == "execute_result"]
        assert "<table" in status["data"]["text/html"]
        assert status["data"]["text/plain"].startswith("REGISTRY")

        model = tmp_path / "model"
        model.mkdir()
        (model / "m.bin").write_bytes(b"m" * 10000)
        push = run(f"%regauth push {model} {basic_registry.host}/team/kernel:v1")
        bars = [o for o in push if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert bars, push  # tqdm.auto's notebook bar
        [pushed] = [o for o in push if o["type"] == "execute_result"]
        assert "@sha256:" in pushed["data"]["text/plain"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    everything = json.dumps(sent, default=str)
    assert not any(s in everything for s in SECRETS)
