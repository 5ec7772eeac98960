"""``regauth kube ...``: the parser and renderers; the work is in :mod:`.facade`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..command_hints import command_hint
from ..errors import ConfigError
from ..fileio import atomic_write

if TYPE_CHECKING:
    from ..service import RegAuth

ACTIONS = ("apply", "status", "remove")


def add_parser(verbs: Any, common: argparse.ArgumentParser) -> None:
    kube = verbs.add_parser(
        "kube", parents=[common], help="configure Kubernetes for a registry (Secrets, PodDefault)"
    )
    actions = kube.add_subparsers(dest="kube_action", metavar="ACTION", required=True)
    cluster = argparse.ArgumentParser(add_help=False, parents=[common])
    cluster.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster or $KUBECONFIG)"
    )
    cluster.add_argument("--context", help="kubeconfig context")
    shape = argparse.ArgumentParser(add_help=False)
    shape.add_argument("--home", default="/home/jovyan", help="the notebook user's home")
    shape.add_argument(
        "--service-account",
        action="append",
        dest="service_accounts",
        metavar="NAME",
        help="ServiceAccount to get the pull Secret (repeatable; default: default, default-editor)",
    )
    shape.add_argument(
        "--kaptain-names",
        action="store_true",
        help="name the combined Secrets docker-secret and docker-registry-certificate",
    )
    helps = {
        "apply": "write the registry's Secrets, PodDefault and pull-secret entries",
        "status": "show each object: exists, matches, drift",
        "remove": "delete what apply wrote for the registry",
    }
    for action, text in helps.items():
        sub = actions.add_parser(action, parents=[cluster, shape], help=text)
        sub.add_argument("host", metavar="HOST")
        sub.add_argument("-n", "--namespace", help="default: the notebook's own namespace")
    rollout = actions.add_parser(
        "rollout", parents=[cluster, shape], help="apply in every namespace matching a selector"
    )
    rollout.add_argument("host", metavar="HOST")
    rollout.add_argument("-l", "--selector", required=True, help="namespace label selector")
    rollout.add_argument("--remove", action="store_true", help="remove instead of apply")
    rollout.add_argument("--workers", type=int, default=8, help="namespaces at a time")
    rbac = actions.add_parser("rbac", parents=[common], help="print the Role jupyter-regauth needs")
    rbac.add_argument("-n", "--namespace")
    rbac.add_argument("--cluster", action="store_true", help="a ClusterRole (needed by rollout)")
    nodes = actions.add_parser(
        "hosts-toml", parents=[common], help="containerd hosts.toml (or a DaemonSet) for nodes"
    )
    nodes.add_argument("host", metavar="HOST")
    nodes.add_argument("--header-auth", action="store_true", help="put credentials in hosts.toml")
    nodes.add_argument("--override-path", action="store_true", help="the mirror serves /v2 as is")
    nodes.add_argument("--daemonset", action="store_true", help="print a Secret + DaemonSet")
    nodes.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help="write the files here (needed with header auth)",
    )
    nodes.add_argument("--node-namespace", default="kube-system", help="for the DaemonSet")
    hub = actions.add_parser(
        "spawner-profile", parents=[common], help="a KubeSpawner profile_list entry"
    )
    hub.add_argument("host", metavar="HOST")
    hub.add_argument("--home", default="/home/jovyan")
    job = actions.add_parser(
        "build-job", parents=[cluster, shape], help="build a Dockerfile context in the cluster"
    )
    # Not dest "context": --context (the kubeconfig's) has it.
    job.add_argument("directory", metavar="DIR", help="the build context (holds the Dockerfile)")
    job.add_argument("image", metavar="IMAGE", help="where to push, e.g. registry/team/model:1")
    job.add_argument("-n", "--namespace")
    job.add_argument(
        "-f",
        "--file",
        dest="dockerfile",
        help="the Dockerfile, relative to the working directory as docker build's "
        "(default: DIR/Dockerfile); it must lie inside DIR",
    )
    job.add_argument("--builder", choices=("buildkit", "kaniko"), default="buildkit")
    job.add_argument("--dry-run", action="store_true", help="push the context, print the Job")


def _dockerfile(directory: str, given: str | None) -> str:
    """``-f`` as docker build reads it, from the working directory (``DIR/Dockerfile`` when
    not given), as an absolute path; a path that is only there relative to DIR is named."""
    if not given:
        return "Dockerfile"
    path = Path(given)
    if not path.is_absolute() and not path.exists() and (Path(directory) / path).is_file():
        raise ConfigError(
            f"there is no {given} in the working directory",
            hint=f"-f is read from the working directory, as docker build reads it: "
            f"give -f {Path(directory) / path}",
        )
    return str(path.absolute())


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "kubeconfig": args.kubeconfig,
        "context": args.context,
        "home": args.home,
        "kaptain_names": args.kaptain_names,
    }
    if args.service_accounts:
        options["service_accounts"] = tuple(args.service_accounts)
    return options


def _note(note: Any, prog: str) -> str:
    """A report's note with the fix in ``prog``'s own commands, as an error's hint is."""
    return f"{note.message} ({command_hint(note.to_dict(), prog)})"


def _table(report: Any, prog: str) -> str:
    lines = [f"{report.host} in namespace {report.namespace}:"]
    for item in report.objects:
        state = item.action or ("ok" if item.matches else "drift" if item.exists else "missing")
        drift = f"  ({', '.join(item.drift)})" if item.drift else ""
        lines.append(f"  {item.kind:<11} {item.name:<60} {state}{drift}")
    for account, has in report.service_accounts.items():
        lines.append(f"  {'SA':<11} {account:<60} {'ok' if has else 'missing pull secret'}")
    lines += [f"  note: {_note(note, prog)}" for note in report.notes]
    label = f"label a pod {report.selector_label}=true to mount it"
    lines.append(("configured; " + label) if report.configured else "not configured")
    return "\n".join(lines)


def write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode(), mode=0o600)
    return path


def _hosts_toml(service: RegAuth, args: argparse.Namespace) -> tuple[Any, str]:
    """The node files or the DaemonSet: printed only where they hold no secret (a password in
    a header, a client key); else written with ``-o DIR``, mode 0600."""
    from . import facade

    options = {"header_auth": args.header_auth, "override_path": args.override_path}
    files = facade.hosts_toml(service, args.host, **options)
    keys = sorted(path for path in files if path.endswith(".key"))
    if args.daemonset:
        manifests = facade.node_daemonset(service, args.host, args.node_namespace, **options)
        import yaml

        text = yaml.safe_dump_all(manifests, sort_keys=False)
        if args.output:
            name = f"{manifests[1]['metadata']['name']}.yaml"
            path = str(write_private(args.output / name, text))
            return {"written": [path]}, path
        if args.header_auth or keys:
            what = "the registry password" if args.header_auth else "the client private key"
            raise ConfigError(
                f"the DaemonSet's Secret holds {what}, so it is not printed",
                hint="add --output DIR to write it (mode 0600)",
            )
        return manifests, text.rstrip()
    if args.output:
        written = [str(write_private(args.output / p, t)) for p, t in sorted(files.items())]
        return {"written": written}, "\n".join(written)
    if args.header_auth:
        raise ConfigError(
            "--header-auth puts the registry password in the files, so they are not printed",
            hint="add --output DIR to write them (mode 0600), or leave out --header-auth",
        )
    # A client key is never printed; -o DIR writes it beside the other files.
    shown = {path: text for path, text in files.items() if path not in keys}
    toml = {path: text for path, text in shown.items() if path.endswith("hosts.toml")}
    text = "\n".join(f"# {path}\n{body}" for path, body in toml.items()).rstrip()
    if keys:
        text += f"\n# not shown: {', '.join(keys)} (write the files with --output DIR)"
    return shown, text


def run(service: RegAuth, args: argparse.Namespace, prog: str) -> tuple[Any, str]:
    """``(data, text)`` for ``regauth kube ACTION`` (``prog``: ``regauth`` or ``%regauth``)."""
    from . import facade, rbac

    action = args.kube_action
    if action in ACTIONS:
        report = getattr(service, f"kube_{action}")(args.host, args.namespace, **_options(args))
        return report.to_dict(), _table(report, prog)
    if action == "rollout":
        result = service.kube_rollout(
            args.host, args.selector, remove=args.remove, workers=args.workers, **_options(args)
        )
        data = result.to_dict()
        text = (
            f"{len(data['namespaces'])} namespaces, {len(data['changed'])} changed, "
            f"{len(data['errors'])} failed"
        )
        errors = [f"  {ns}: {e['message']}" for ns, e in data["errors"].items()]
        return data, "\n".join([text, *errors])
    if action == "rbac":
        document = rbac.role(args.namespace, cluster=args.cluster)
        return document, rbac.role_yaml(args.namespace, cluster=args.cluster).rstrip()
    if action == "hosts-toml":
        return _hosts_toml(service, args)
    if action == "spawner-profile":
        profile = facade.spawner_profile(service, args.host, args.home)
        return profile, profile["jupyterhub_config"].rstrip()
    options = _options(args)
    job = service.kube_build_job(
        args.directory,
        args.image,
        args.namespace,
        dockerfile=_dockerfile(args.directory, args.dockerfile),
        builder=args.builder,
        create=not args.dry_run,
        **options,
    )
    if args.dry_run:
        import yaml

        return job.to_dict(), yaml.safe_dump(job.manifest, sort_keys=False).rstrip()
    return job.to_dict(), f"job {job.job} in namespace {job.namespace} builds {job.image}"
