"""``%regauth``: the ``regauth`` CLI's verbs as IPython magics.

Each line magic is parsed by the CLI's own parser and run by the CLI's own verb function, so
``%regauth login HOST --username U --ca-file PEM`` means what ``regauth login`` means. What
differs is the notebook: passwords through ``getpass`` (which the kernel routes to a hidden
input box), confirmations through ``input()``, results as objects with an HTML repr, progress
as a notebook bar. Magic-only verbs: ``use`` (a default registry for this kernel) and the cell
form ``%%regauth build IMAGE`` whose body is the YAML build spec.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import json
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .cli import (
    Console,
    ProgressSink,
    build_parser,
    check_digest_file,
    make_service,
    run_command,
    with_options,
    write_digest_file,
)
from .command_hints import command_hint
from .errors import YAML_HINT, ConfigError, RegAuthError, yaml_problem
from .images.compression import COMPRESSIONS, ZSTD_RUNTIMES
from .profiles import normalize_host
from .results import ProgressDisplay, Result, result_for
from .service import RegAuth

PROG = "%regauth"
# Positional arguments (by metavar) that name an image or repository: with a default registry
# set by `use`, a name without a registry host is taken to be on it.
REFERENCE_METAVARS = frozenset({"REFERENCE", "REPOSITORY", "IMAGE", "SOURCE", "DESTINATION"})


@dataclass
class NotebookConsole(Console):
    """Prompts through the kernel's input box; progress as a notebook bar."""

    label: str = "progress"

    def prompt(self, text: str) -> str:
        return input(text).strip()

    def progress(self) -> ProgressSink:
        return ProgressDisplay(self.label)


def notebook_console(label: str) -> NotebookConsole:
    # getpass is looked up at call time: the kernel replaces it with its hidden input box.
    return NotebookConsole(
        sys.stdin,
        sys.stdout,
        sys.stdout,
        True,
        read_secret=lambda p: getpass.getpass(p),
        prog=PROG,
        label=label,
    )


@magics_class
class RegAuthMagics(Magics):
    """``%regauth VERB ...`` and ``%%regauth build IMAGE``; see ``%regauth --help``."""

    def __init__(self, shell: InteractiveShell | None = None) -> None:
        super().__init__(shell)  # type: ignore[no-untyped-call, unused-ignore]
        self.default_registry: str | None = None

    @line_cell_magic  # type: ignore[untyped-decorator, unused-ignore]
    def regauth(self, line: str, cell: str | None = None) -> Result | None:
        """Log in to container registries, trust their CA, build and push images.

        Run ``%regauth --help`` for the verbs and ``%regauth VERB --help`` for each one.
        """
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot split the arguments: {exc}") from None
        if any(_is_password_option(token) for token in argv):
            # Refused before parsing: argparse would echo the value into the saved output.
            raise UsageError(
                "a password is never an argument of a magic: the notebook would keep it\n"
                "Hint: run `%regauth login HOST --username U` and type it into the hidden prompt"
            )
        parser = self.cell_parser() if cell is not None else self.parser()
        args = _parse(parser, argv, hide_values="login" in argv)
        if args is None:  # --help or --version was printed
            return None
        try:
            self.qualify(parser, args)
            return self.run(args, cell)
        except RegAuthError as exc:
            hint = command_hint(exc.to_dict(), PROG)
            raise UsageError(exc.message + (f"\nHint: {hint}" if hint else "")) from None

    # -- parsing -------------------------------------------------------------------------------

    def parser(self) -> argparse.ArgumentParser:
        """The CLI's parser plus ``use``, with the default registry filled in where omitted."""
        parser = build_parser(PROG)
        verbs = _verbs(parser)
        use = verbs.add_parser("use", help="set the default registry for this kernel")
        use.add_argument("host", metavar="HOST", nargs="?")
        use.add_argument("--clear", action="store_true", help="forget the default registry")
        if self.default_registry:
            for sub in _all_parsers(parser):
                for action in sub._actions:
                    if action.dest == "host" and not action.option_strings and action.nargs is None:
                        action.nargs, action.default = "?", self.default_registry
        return parser

    def cell_parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="%%regauth",
            description="Build an image from the YAML spec in the cell body and push it.",
            epilog="Spec keys: base, layers (or files), env, cmd, entrypoint, workdir, user, "
            "labels, platform. Relative paths are relative to the working directory.",
        )
        verbs = parser.add_subparsers(dest="verb", metavar="build", required=True)
        build = verbs.add_parser("build", help="build the cell's spec and push it to IMAGE")
        build.add_argument("image", metavar="IMAGE", help="where to push, e.g. team/model:v1")
        build.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        build.add_argument(
            "--compression",
            choices=COMPRESSIONS,
            help=f"of the new layers: gzip (default; every runtime) or zstd ({ZSTD_RUNTIMES}); "
            "wins over the spec's",
        )
        build.add_argument(
            "--platform", help="os/arch[/variant] to build for; wins over the spec's"
        )
        build.add_argument("--digest-file", type=Path, help="write the pushed digest to this file")
        build.add_argument("--json", action="store_true", help="show the result as JSON")
        return parser

    # -- running -------------------------------------------------------------------------------

    def run(self, args: argparse.Namespace, cell: str | None) -> Result:
        if args.verb == "use":
            return self.use(args)
        if cell is not None:
            return self.build_cell(make_service(_defaults(args)), args, cell)
        if args.verb == "login" and args.password_stdin:
            raise ConfigError(
                "--password-stdin does not work in a notebook: it has no standard input to pipe",
                hint=f"run `%regauth login {args.host or 'HOST'} --username U` and type the "
                "password into the hidden prompt",
            )
        output = run_command(args, notebook_console(args.verb))
        text = _json(output.data) if args.json else output.text
        if output.exit_code:  # part of the work failed (a rollout's namespace): the cell fails
            raise UsageError(text)
        return result_for(args.verb, output.data, text, as_json=args.json)

    def use(self, args: argparse.Namespace) -> Result:
        if args.clear:
            self.default_registry = None
        elif args.host:
            self.default_registry = normalize_host(args.host)
        current = self.default_registry
        data = {"default_registry": current}
        if args.json:
            return Result("use", data, _json(data), as_json=True)
        text = f"Default registry: {current}" if current else "No default registry"
        return Result("use", data, text)

    def qualify(self, parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
        """Put names without a registry host on the default registry, if one is set."""
        if not self.default_registry:
            return
        status_hosts = getattr(args, "hosts", None)
        if args.verb == "status" and status_hosts == []:
            args.hosts = [self.default_registry]
        for key in _reference_dests(parser, args):
            value = getattr(args, key, None)
            if isinstance(value, str):
                setattr(args, key, qualify_reference(value, self.default_registry))
        if isinstance(getattr(args, "base", None), str):  # push --base
            args.base = qualify_base(args.base, self.default_registry)

    def build_cell(self, service: RegAuth, args: argparse.Namespace, cell: str) -> Result:
        from .images.errors import BuildSpecError
        from .images.spec import BuildSpec, load_yaml

        try:
            data = load_yaml(cell) or {}
        except yaml.YAMLError as exc:
            raise BuildSpecError(
                f"the cell is not valid YAML: {yaml_problem(exc)}", hint=YAML_HINT
            ) from None
        if isinstance(data, dict) and "files" in data:
            if "layers" in data:
                raise BuildSpecError("give either files or layers, not both")
            data["layers"] = data.pop("files")
        if isinstance(data, dict) and isinstance(data.get("base"), str) and self.default_registry:
            data["base"] = qualify_base(data["base"], self.default_registry)
        if args.digest_file is not None:
            check_digest_file(args.digest_file)  # before anything is pushed, as the CLI does
        spec = with_options(BuildSpec.from_dict(data, os.getcwd()), args)  # as on the command line
        with contextlib.ExitStack() as stack:
            progress = None if args.quiet else stack.enter_context(ProgressDisplay("build"))
            result = service.build_push(spec, args.image, progress=progress)
        write_digest_file(args.digest_file, [result.digest], f"Pushed {result.reference}")
        data = result.to_dict()
        return result_for("build", data, _json(data), as_json=args.json)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every subcommand's parser, nested ones (``kube apply``) included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _all_parsers(sub)


def _verbs(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise AssertionError("the CLI parser has no verbs")


def _reference_dests(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The positional references of the verb parsed, down to a nested one's (``kube
    build-job``'s IMAGE)."""
    sub: argparse.ArgumentParser | None = _verbs(parser).choices.get(args.verb)
    dests: list[str] = []
    while sub is not None:
        dests += [
            a.dest
            for a in sub._actions
            if not a.option_strings and str(a.metavar or a.dest).upper() in REFERENCE_METAVARS
        ]
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        sub = nested[0].choices.get(str(getattr(args, nested[0].dest, ""))) if nested else None
    return dests


def qualify_reference(reference: str, host: str) -> str:
    """``reference`` on ``host`` unless it names a registry (or an ``oci:`` layout) itself,
    by the distribution rule for whether a first component is a registry host."""
    first, slash, _ = reference.partition("/")
    if slash:
        named = ":" in first or "." in first or first == "localhost" or first != first.lower()
    else:
        named = reference.startswith("oci:")
    return reference if named else f"{host}/{reference}"


def qualify_base(base: str, host: str) -> str:
    """A base image on ``host`` as :func:`qualify_reference` puts it, unless it is no image
    (``scratch``) or a local OCI layout."""
    from .images.source import layout_base

    if base.strip() in ("", "scratch") or layout_base(base) is not None:
        return base
    return qualify_reference(base, host)


def _is_password_option(token: str) -> bool:
    """``--password`` (or an abbreviation from ``--pas``) and docker login's ``-p PASSWORD``
    (also written ``-pPASSWORD``); no verb has a ``-p`` of its own."""
    name = token.split("=", 1)[0]
    if name.startswith("--"):
        return len(name) > 4 and name.startswith("--pas") and name != "--password-stdin"
    return name.startswith("-p")


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    """The cell parser has no global options: the CLI's defaults."""
    return argparse.Namespace(**{"config_dir": None, "registries_file": None, **vars(args)})


def _parse(
    parser: argparse.ArgumentParser, argv: list[str], *, hide_values: bool = False
) -> argparse.Namespace | None:
    """Parse like the CLI, but a usage error becomes a ``UsageError`` instead of an exit.

    With ``hide_values`` (a login, where a stray argument may be a password) the arguments
    argparse did not recognize are not repeated in the message."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return parser.parse_args(argv)
    except SystemExit as exit_:
        if not exit_.code:
            return None
        message = errors.getvalue().strip()
        if hide_values and "unrecognized arguments:" in message:
            usage, _, _ = message.partition("unrecognized arguments:")
            message = (
                f"{usage}unrecognized arguments (not shown: one may be a password)\n"
                "Hint: a password is typed into the hidden prompt; "
                "see `%regauth login --help` for the options"
            )
        raise UsageError(message) from None


def load_ipython_extension(shell: InteractiveShell) -> None:
    shell.register_magics(RegAuthMagics(shell))  # type: ignore[no-untyped-call, unused-ignore]


def unload_ipython_extension(shell: InteractiveShell) -> None:
    if shell.magics_manager is not None:
        for kind in ("line", "cell"):
            shell.magics_manager.magics[kind].pop("regauth", None)
