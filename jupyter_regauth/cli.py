"""``regauth``: the command-line front end. Parses, calls ``RegAuth``, renders; nothing more.

Verbs mirror ``docker login/logout``. Exit codes: 0 success, 1 an error the message explains,
2 a usage error, 130 interrupted. ``--json`` prints machine-readable results (and errors as
``{"error": {...}}`` on standard error).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from . import __version__
from .command_hints import command_hint
from .credentials import DockerConfig
from .errors import ConfigError, RegAuthError
from .images.compression import COMPRESSIONS, ZSTD_RUNTIMES
from .images.progress import ENDED, ProgressEvent
from .kube.cli import add_parser as add_kube_parser
from .profiles import ProfileStore, normalize_host
from .service import RegAuth, RegistryStatus, expires_in, require_username

if TYPE_CHECKING:
    from .images.spec import BuildSpec


@dataclass
class Console:
    """Where a verb reads and writes: the terminal for the CLI, a notebook for the magics."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    interactive: bool
    read_secret: Callable[[str], str] = getpass.getpass
    prog: str = "regauth"  # how commands are named in what is written (hints, notes)

    def prompt(self, text: str) -> str:
        self.stderr.write(text)
        self.stderr.flush()
        return self.stdin.readline().strip()

    def confirm(self, text: str) -> bool:
        return self.prompt(f"{text} [y/N] ").lower() in ("y", "yes")

    def progress(self) -> ProgressSink:
        """Where image progress goes; the notebook console shows a notebook progress bar."""
        return ProgressPrinter(self.stderr, self.stderr.isatty())


class ProgressSink(Protocol):
    def __call__(self, event: ProgressEvent, /) -> None: ...
    def close(self) -> None: ...  # the work finished
    def fail(self) -> None: ...  # the work stopped with an error


@dataclass
class Output:
    """A verb's result: ``data`` for ``--json`` and Python callers, ``text`` for people."""

    data: Any
    text: str
    exit_code: int = 0  # not 0: the verb printed its result, yet part of the work failed


def build_parser(prog: str = "regauth") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Log in to private container registries, trust their CA, and browse them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help="print JSON")
    # --json is accepted after the verb too (`regauth ls --json`), as users type it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    parser.add_argument(
        "--config-dir",
        type=Path,
        help="docker config directory (default $DOCKER_CONFIG or ~/.docker)",
    )
    parser.add_argument(
        "--registries-file", help="a JSON/YAML file of admin-defined registry profiles"
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    login = verbs.add_parser(
        "login", parents=[common], help="verify credentials against a registry, then store them"
    )
    login.add_argument("host", metavar="HOST")
    login.add_argument("-u", "--username")
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password or token from stdin"
    )
    login.add_argument("--ca-file", type=Path, help="PEM CA bundle that signs the registry")
    login.add_argument("--client-cert", type=Path, help="client certificate (PEM) for mutual TLS")
    login.add_argument("--client-key", type=Path, help="key of the client certificate (PEM)")
    login.add_argument(
        "--insecure", action="store_true", help="skip TLS verification for this registry (unsafe)"
    )
    login.add_argument(
        "--no-profile", action="store_true", help="do not add the registry to your list"
    )
    login.add_argument(
        "--store-password",
        action="store_true",
        help="store the password even where the token service offers an identity token "
        "(needed for `regauth kube apply`: the kubelet cannot use identity tokens)",
    )

    logout = verbs.add_parser(
        "logout", parents=[common], help="remove stored credentials for a registry"
    )
    logout.add_argument("host", metavar="HOST")

    for name in ("ls", "status"):
        status = verbs.add_parser(
            name,
            parents=[common],
            help="list registries: reachable, trusted, authenticated, token expiry",
        )
        status.add_argument("hosts", nargs="*", metavar="HOST")
        status.add_argument("--offline", action="store_true", help="do not contact the registries")

    trust = verbs.add_parser(
        "trust", parents=[common], help="fetch a registry's CA, show it, and trust it"
    )
    trust.add_argument("host", metavar="HOST")
    trust.add_argument("-y", "--yes", action="store_true", help="store without asking")
    trust.add_argument("--ca-file", type=Path, help="trust this PEM instead of fetching the chain")
    trust.add_argument("--fingerprint", help="store only if the CA has this SHA-256 fingerprint")

    catalog = verbs.add_parser("catalog", parents=[common], help="list a registry's repositories")
    catalog.add_argument("host", metavar="HOST")

    tags = verbs.add_parser("tags", parents=[common], help="list a repository's tags")
    tags.add_argument("repository", metavar="REPOSITORY")

    inspect = verbs.add_parser(
        "inspect", parents=[common], help="show an image's manifest, digest and config"
    )
    inspect.add_argument("reference", metavar="REFERENCE")
    inspect.add_argument(
        "--platform", help="os/arch[/variant]: show that platform's image of an index"
    )
    _add_image_verbs(verbs, common)
    add_kube_parser(verbs, common)
    return parser


def _add_image_verbs(verbs: Any, common: argparse.ArgumentParser) -> None:
    shared = argparse.ArgumentParser(add_help=False, parents=[common])
    shared.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    shared.add_argument("--digest-file", type=Path, help="write the pushed digest to this file")
    compression = argparse.ArgumentParser(add_help=False)
    compression.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        help=f"of the new layers: gzip (default; every runtime) or zstd ({ZSTD_RUNTIMES})",
    )

    build = verbs.add_parser(
        "build", parents=[shared, compression], help="build an image from a spec file and push it"
    )
    build.add_argument("spec", metavar="SPEC.yaml", type=Path)
    build.add_argument("reference", metavar="REFERENCE")
    build.add_argument(
        "--platform", help="os/arch[/variant] to build for (wins over the spec's platform)"
    )

    push = verbs.add_parser(
        "push", parents=[shared, compression], help="put a directory on a base image and push it"
    )
    push.add_argument("directory", metavar="DIR", type=Path)
    push.add_argument("reference", metavar="REFERENCE")
    push.add_argument("--base", help="base image: a registry reference or oci:LAYOUT[:REF]")
    push.add_argument(
        "--dest",
        default="/model",
        help="where the files go (default /model; a relative one is under the base's WORKDIR)",
    )
    push.add_argument("--platform", help="os/arch[/variant] to pick from a base index")
    push.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help=".dockerignore-style pattern of files to leave out, after DIR/.dockerignore's",
    )

    artifact = verbs.add_parser(
        "push-artifact", parents=[shared], help="push files as an OCI artifact (as oras push)"
    )
    artifact.add_argument("reference", metavar="REFERENCE")
    artifact.add_argument(
        "paths",
        nargs="+",
        metavar="PATH[:TYPE]",
        help="a file or directory, relative: its title, where a pull writes it; TYPE is its "
        "media type (split at the last ':', as oras does)",
    )
    artifact.add_argument("--artifact-type", help="the artifact's type (a media type)")
    artifact.add_argument(
        "--annotation", action="append", default=[], metavar="KEY=VALUE", help="manifest annotation"
    )

    copy = verbs.add_parser(
        "copy", parents=[shared], help="copy an image (all platforms) to a registry"
    )
    copy.add_argument("source", metavar="SOURCE", help="a registry reference, or oci:DIR[:REF]")
    copy.add_argument("destination", metavar="DESTINATION")
    copy.add_argument("--platform", help="copy only this platform of an index")

    mirror = verbs.add_parser(
        "mirror", parents=[shared], help="copy the images listed in a file into a registry"
    )
    mirror.add_argument("-f", "--file", required=True, type=Path, help="lines of SOURCE [DEST]")
    mirror.add_argument(
        "host",
        metavar="HOST[/PREFIX]",
        help="the registry to mirror into, and a repository prefix for lines without DEST",
    )

    pull = verbs.add_parser(
        "pull", parents=[shared], help="pull an artifact's files, or an image to an OCI layout"
    )
    pull.add_argument("reference", metavar="REFERENCE")
    where = pull.add_mutually_exclusive_group(required=True)  # a usage error otherwise
    where.add_argument(
        "directory", metavar="DIR", type=Path, nargs="?", help="write an artifact's files here"
    )
    where.add_argument(
        "--oci-layout", type=Path, metavar="DIR", help="write the image as an OCI layout here"
    )


def make_service(args: argparse.Namespace) -> RegAuth:
    profiles = ProfileStore(registries_file=args.registries_file or None)
    return RegAuth(profiles=profiles, docker_config=DockerConfig(args.config_dir))


def _read_file(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None


class UsageError(ConfigError):
    """Options that cannot go together, as argparse's own usage errors: exit status 2."""

    code = "usage_error"
    exit_code = 2


def cmd_login(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    username = args.username
    if bool(args.client_cert) != bool(args.client_key):  # before a password is asked for
        raise UsageError("--client-cert and --client-key go together")
    if args.insecure and args.ca_file:
        raise UsageError(
            "--ca-file is not used with --insecure: TLS is not verified, so the CA would be "
            "stored without being checked",
            hint="give --ca-file to verify the registry's certificate with it, "
            "or --insecure, not both",
        )
    # What can be checked here is, before a password is typed in only to be refused.
    normalize_host(args.host)
    ca_pem = _read_file(args.ca_file, "CA file")
    client_cert = _read_file(args.client_cert, "client certificate")
    client_key = _read_file(args.client_key, "client key")
    if args.password_stdin:
        if not username:
            raise UsageError("--password-stdin needs --username")
        password = console.stdin.read().rstrip("\r\n")
    elif console.interactive:
        username = username or console.prompt("Username: ")
        require_username(username)
        password = console.read_secret("Password: ")
    else:
        raise ConfigError(
            "cannot prompt for a password: standard input is not a terminal",
            hint="pipe the password in with --password-stdin",
        )
    result = service.login(
        args.host,
        username,
        password,
        ca_pem=ca_pem,
        client_cert=client_cert,
        client_key=client_key,
        insecure=True if args.insecure else None,
        save_profile=not args.no_profile,
        store_password=args.store_password,
    )
    return Output(result.to_dict(), "Login Succeeded")


def cmd_logout(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    removed = service.logout(args.host)
    text = (
        f"Removing login credentials for {args.host}"
        if removed
        else f"Not logged in to {args.host}"
    )
    return Output({"host": args.host, "removed": removed}, text)


def _status_table(rows: list[RegistryStatus]) -> str:
    def mark(value: bool | None) -> str:
        return {True: "yes", False: "NO", None: "-"}[value]

    header = ("REGISTRY", "SOURCE", "REACHABLE", "TRUSTED", "LOGGED IN", "USER", "TOKEN EXPIRES")
    table = [header]
    for row in rows:
        table.append(
            (
                row.host + (" (insecure)" if row.insecure else ""),
                row.source,
                mark(row.reachable),
                "off" if row.insecure else mark(row.trusted),
                mark(row.authenticated),
                row.username or "",
                expires_in(row.token_expires_at),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    for row in rows:
        if row.error:
            lines.append(f"{row.host}: {row.error.get('message')}")
    return "\n".join(lines)


def cmd_status(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    if args.offline:
        rows = [r for r in service.registries() if not args.hosts or r.host in args.hosts]
    else:
        rows = service.statuses(args.hosts or None)
    return Output([r.to_dict() for r in rows], _status_table(rows))


def cmd_trust(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    if args.ca_file:
        pem = _read_file(args.ca_file, "CA file")
        assert pem is not None
        path = service.trust(args.host, pem, expected_fingerprint=args.fingerprint or "")
        return Output({"host": args.host, "path": str(path)}, f"Trusted for {args.host}: {path}")
    offer = service.offer_trust(args.host)
    lines = [f"{args.host} presents:"]
    for cert in offer.chain:
        lines.append(
            f"  {cert.subject}\n    issued by {cert.issuer}\n    SHA-256 {cert.fingerprint}"
        )
    lines.append(f"CA to trust: {offer.ca.subject}\n  SHA-256 {offer.ca.fingerprint}")
    console.stderr.write("\n".join(lines) + "\n")
    if offer.already_trusted and not args.fingerprint:
        return Output({**offer.to_dict(), "stored": False}, f"{args.host} is already trusted")
    if args.fingerprint or args.yes:
        confirmed = True
    elif console.interactive:
        confirmed = console.confirm("Trust this CA for " + args.host + "?")
    else:
        raise ConfigError(
            "not trusting without confirmation",
            hint="check the fingerprint, then run again with --yes or --fingerprint SHA256",
        )
    if not confirmed:
        raise RegAuthError("not trusted: the CA was not confirmed")
    path = service.trust(
        args.host, offer.ca_pem, expected_fingerprint=args.fingerprint or offer.ca.fingerprint
    )
    data = {**offer.to_dict(), "stored": True, "path": str(path)}
    return Output(data, f"Trusted for {args.host}: {path}")


def cmd_catalog(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    repositories = service.catalog(args.host)
    return Output(repositories, "\n".join(repositories))


def cmd_tags(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    tags = service.tags(args.repository)
    return Output(tags, "\n".join(tags))


def cmd_inspect(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    result = service.inspect(args.reference, platform=args.platform)
    return Output(result, json.dumps(result, indent=2))


class ProgressPrinter:
    """Renders progress events: one updating bar on a terminal, else a line per finished blob.

    Events arrive from several upload threads at once. Only digests, names and sizes are shown.
    """

    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[int, int]] = {}
        self._drawn = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            # A new layer's compressed blob carries its name: the layer's own events count it.
            counted = event.kind == "layer" or (event.kind == "blob" and not event.message)
            if counted and event.bytes_total is not None:
                self._items[(event.kind, event.id)] = (event.bytes_done, event.bytes_total)
            finished = event.state in ENDED
            if self.tty:
                now = time.monotonic()
                if finished or now - self._drawn > 0.1:
                    self._drawn = now
                    self.stream.write("\r" + self._bar(event) + "\x1b[K")
                    self.stream.flush()
            elif finished and event.kind != "layer":
                size = f" {_mib(event.bytes_total)}" if event.bytes_total else ""
                name = f" ({event.message})" if event.message and event.kind == "blob" else ""
                self.stream.write(f"{event.kind} {event.id[:19]}{name}: {event.state}{size}\n")

    def _bar(self, event: ProgressEvent) -> str:
        done = sum(d for d, _ in self._items.values())
        total = sum(t for _, t in self._items.values()) or 1
        filled = int(30 * min(done, total) / total)
        bar = "#" * filled + "." * (30 - filled)
        what = event.id if event.kind == "step" else event.kind
        return f"[{bar}] {_mib(done)} / {_mib(total)}  {what} {event.state}"

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def fail(self) -> None:
        self.close()  # the error itself is printed next


def _mib(n: int | None) -> str:
    return f"{(n or 0) / (1 << 20):.1f} MiB"


def _with_progress(
    console: Console, args: argparse.Namespace, run: Callable[[ProgressSink | None], Any]
) -> Any:
    printer = None
    if not args.quiet:
        printer = console.progress()
    try:
        result = run(printer)
    except BaseException:
        if printer:
            printer.fail()
        raise
    if printer:
        printer.close()
    return result


class DigestFileError(ConfigError):
    """The work is done, but the ``--digest-file`` could not be written."""

    code = "digest_file_error"


def check_digest_file(path: Path) -> None:
    """Before anything is pushed: a ``--digest-file`` that could not be written is an error now,
    not after the work is done."""
    if path.is_dir() or not path.parent.is_dir():
        if path.is_dir():
            where = f"{path} is a directory"
        elif path.parent.exists():  # a file, which nothing can be written under
            where = f"{path.parent} is not a directory"
        else:
            where = f"{path.parent} does not exist"
        raise ConfigError(
            f"cannot write the digest file: {where}", hint="give the path of a file to write"
        )


def write_digest_file(path: Path | None, digests: Sequence[str], done: str) -> None:
    if path is None:
        return
    try:
        path.write_text("".join(d + "\n" for d in digests))
    except OSError as exc:
        raise DigestFileError(
            f"{done}, but the digest could not be written to {path}: {exc.strerror}",
            hint="the registry has the image; inspecting it shows the digest again",
        ) from None


def _pushed(result: Any, args: argparse.Namespace, console: Console) -> Output:
    write_digest_file(args.digest_file, [result.digest], f"Pushed {result.reference}")
    if not args.quiet:
        note = (
            "unchanged, nothing uploaded"
            if result.unchanged
            else (
                f"{result.uploaded} blob(s) uploaded, {result.mounted} mounted, "
                f"{result.existing} already present"
            )
        )
        console.stderr.write(f"Pushed {result.reference} ({note})\n")
    return Output(result.to_dict(), result.reference)


def cmd_build(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    from .images.spec import BuildSpec

    spec = with_options(BuildSpec.load(args.spec), args)
    result = _with_progress(
        console, args, lambda p: service.build_push(spec, args.reference, progress=p)
    )
    return _pushed(result, args, console)


def with_options(spec: BuildSpec, args: argparse.Namespace) -> BuildSpec:
    """``spec`` with what the command line gives of its fields: they win over the spec's."""
    from .images.manifest import Platform

    if args.compression:
        spec = replace(spec, compression=args.compression)
    if args.platform:
        spec = replace(spec, platform=Platform.parse(args.platform))
    return spec


def cmd_push(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    result = _with_progress(
        console,
        args,
        lambda p: service.push_directory(
            args.directory,
            args.reference,
            base=args.base,
            dest=args.dest,
            platform=args.platform,
            compression=args.compression,
            exclude=args.exclude,
            progress=p,
        ),
    )
    return _pushed(result, args, console)


def cmd_push_artifact(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    annotations = {}
    for item in args.annotation:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad annotation {item!r}", hint="write it as KEY=VALUE")
        if key in annotations:  # as oras refuses it, not the last one silently winning
            raise ConfigError(f"duplicate annotation key {key!r}", hint="give each KEY once")
        annotations[key] = value
    result = _with_progress(
        console,
        args,
        lambda p: service.push_artifact(
            args.reference,
            args.paths,
            artifact_type=args.artifact_type,
            annotations=annotations,
            progress=p,
        ),
    )
    return _pushed(result, args, console)


def _copied(results: list[Any], args: argparse.Namespace) -> Output:
    write_digest_file(args.digest_file, [r.digest for r in results], "Copied")
    return Output(
        [r.to_dict() for r in results], "\n".join(f"{r.source} -> {r.reference}" for r in results)
    )


def cmd_copy(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    result = _with_progress(
        console,
        args,
        lambda p: service.copy(
            args.source,
            args.destination,
            all_platforms=args.platform is None,
            platform=args.platform,
            progress=p,
        ),
    )
    output = _copied([result], args)
    return Output(output.data[0], output.text)


def cmd_mirror(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    listing = _read_file(args.file, "mirror list")
    assert listing is not None
    results = _with_progress(
        console, args, lambda p: service.mirror(listing.decode(), args.host, progress=p)
    )
    return _copied(results, args)


def cmd_pull(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    directory = args.oci_layout or args.directory
    result = _with_progress(
        console,
        args,
        lambda p: service.pull(
            args.reference, directory, oci_layout=args.oci_layout is not None, progress=p
        ),
    )
    write_digest_file(args.digest_file, [result["digest"]], f"Pulled {result['reference']}")
    if args.oci_layout is not None:
        return Output(result, f"{result['source']} -> {result['reference']}")
    files = [f["path"] for f in result["files"]]
    return Output(result, "\n".join([*files, result["reference"]]))


def cmd_kube(service: RegAuth, args: argparse.Namespace, console: Console) -> Output:
    from .kube.cli import run

    data, text = run(service, args, console.prog)
    # A rollout's report is printed whatever failed; the exit code tells a script it did.
    failed = args.kube_action == "rollout" and bool(data["errors"])
    return Output(data, text, exit_code=1 if failed else 0)


Command = Callable[[RegAuth, argparse.Namespace, Console], Output]
COMMANDS: dict[str, Command] = {
    "login": cmd_login,
    "logout": cmd_logout,
    "ls": cmd_status,
    "status": cmd_status,
    "trust": cmd_trust,
    "catalog": cmd_catalog,
    "tags": cmd_tags,
    "inspect": cmd_inspect,
    "build": cmd_build,
    "push": cmd_push,
    "push-artifact": cmd_push_artifact,
    "copy": cmd_copy,
    "mirror": cmd_mirror,
    "pull": cmd_pull,
    "kube": cmd_kube,
}


def run_command(args: argparse.Namespace, console: Console) -> Output:
    """Run a parsed verb, as the command line and the magics both do. A ``--digest-file`` that
    could not be written is refused before anything is pushed."""
    if getattr(args, "digest_file", None) is not None:
        check_digest_file(args.digest_file)
    return COMMANDS[args.verb](make_service(args), args, console)


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    console = console or Console(sys.stdin, sys.stdout, sys.stderr, sys.stdin.isatty())
    args = build_parser(console.prog).parse_args(argv)
    try:
        result = run_command(args, console)
    except RegAuthError as exc:
        if args.json:
            console.stderr.write(json.dumps({"error": exc.to_dict()}) + "\n")
        else:
            console.stderr.write(f"Error: {exc.message}\n")
            hint = command_hint(exc.to_dict(), console.prog)
            if hint:
                console.stderr.write(f"Hint: {hint}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        console.stderr.write("interrupted\n")
        return 130
    text = json.dumps(result.data, indent=2, default=str) if args.json else result.text
    if text:
        console.stdout.write(text + "\n")
    return result.exit_code


if __name__ == "__main__":
    from .__main__ import console_main

    sys.exit(console_main())
