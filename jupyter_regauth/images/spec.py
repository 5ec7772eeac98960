"""The declarative build spec: a base, layers to append, and config changes."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import YAML_HINT, yaml_problem
from .compression import COMPRESSIONS, GZIP, ZSTD_RUNTIMES
from .errors import BuildSpecError, ImageError
from .expansion import parse
from .ignore import Excludes
from .layer import LayerSource
from .manifest import Platform
from .source import layout_base

if TYPE_CHECKING:
    import yaml


@dataclass(frozen=True)
class LayerSpec:
    """A layer of a build spec: ``src`` placed at ``dest``, without what ``exclude`` matches."""

    src: str
    dest: str = "/"
    exclude: tuple[str, ...] = ()  # held as an Excludes: compiled here, once

    def __post_init__(self) -> None:
        object.__setattr__(self, "exclude", Excludes(self.exclude))

    def source(self) -> LayerSource:
        return LayerSource(self.src, self.dest, self.exclude)


DEFAULT_PYTHON_DEST = "/opt/regauth/python"
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def mask_url(text: str) -> str:
    """``text`` with the ``user:password@`` part of every URL in it replaced by ``***@``."""
    return _URL_USERINFO.sub(r"\1***@", text)


def major_minor(version: str) -> str | None:
    """``"3.11"`` from ``"3.11"`` or ``"3.11.9"``; None when it is not such a version."""
    match = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+\S*)?\s*", version)
    return f"{match[1]}.{match[2]}" if match else None


@dataclass(frozen=True, repr=False)
class PythonSpec:
    """Python packages installed for the image's platform into ``dest`` (put on PYTHONPATH)."""

    requirements: tuple[str, ...] = ()  # requirement strings, or else
    requirements_file: str | None = None  # a requirements file
    version: str | None = None  # major.minor; None: the base image's PYTHON_VERSION
    dest: str = DEFAULT_PYTHON_DEST
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def __repr__(self) -> str:  # an index URL may hold credentials
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return mask_url(f"PythonSpec({args})")


@dataclass(frozen=True)
class BuildSpec:
    """What to build: the base, the layers to add and the config changes (see ``from_dict``)."""

    base: str | None = None  # None/"scratch", "oci:PATH[:REF]", or a registry reference
    platform: Platform = field(default_factory=Platform)
    tag: str = "latest"  # the ref name in the output layout
    layers: tuple[LayerSpec, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    workdir: str | None = None
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    source: str | None = None  # e.g. the git repository URL
    revision: str | None = None  # e.g. the git commit
    python: PythonSpec | None = None  # resolved into a layer and PYTHONPATH by the build
    compression: str = GZIP  # of the layers made: gzip or zstd (see images.compression)

    def __post_init__(self) -> None:
        _check_process_strings(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None) -> BuildSpec:
        """Validate a parsed spec; relative layer sources resolve against ``base_dir``."""
        if not isinstance(data, Mapping):
            raise BuildSpecError("A build spec must be a mapping", hint="see the documented keys")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise BuildSpecError(
                f"Unknown build spec key(s): {', '.join(map(str, unknown))}",
                hint=f"known keys: {', '.join(sorted(_KEYS))}",
            )
        platform = data.get("platform")
        return cls(
            base=_base(_opt_str(data, "base"), base_dir),
            platform=Platform.parse(_str(platform, "platform")) if platform else Platform(),
            tag=_opt_str(data, "tag") or "latest",
            layers=tuple(_layer(i, item, base_dir) for i, item in enumerate(_layers(data))),
            env=_named_values(data, "env"),
            entrypoint=_opt_argv(data, "entrypoint"),
            cmd=_opt_argv(data, "cmd"),
            workdir=_expandable(_opt_str(data, "workdir"), "workdir"),
            user=_expandable(_user(data.get("user")), "user"),
            labels=_named_values(data, "labels"),
            title=_opt_str(data, "title"),
            source=_opt_str(data, "source"),
            revision=_opt_str(data, "revision"),
            python=_python(data.get("python"), base_dir),
            compression=check_compression(data.get("compression")),
        )

    @classmethod
    def load(cls, path: str | Path) -> BuildSpec:
        """Read a YAML (or JSON) spec file; layer sources are relative to its directory."""
        import yaml  # only spec files need it

        path = Path(path)
        try:
            data = load_yaml(path.read_text())
        except OSError as exc:
            raise BuildSpecError(
                f"Cannot read build spec {path}: {exc.strerror}", hint="check the path"
            ) from None
        except UnicodeDecodeError as exc:
            raise BuildSpecError(
                f"Build spec {path} is not UTF-8 text (byte {exc.start})",
                hint="save it as UTF-8",
            ) from None
        except yaml.YAMLError as exc:
            raise BuildSpecError(
                f"Build spec {path} is not valid YAML: {yaml_problem(exc)}", hint=YAML_HINT
            ) from None
        return cls.from_dict(data or {}, path.parent)

    def config_fields(self) -> dict[str, Any]:
        """The parts of the spec that end up in the image (for the content digest)."""
        # gzip, the default, is left out: images built before there was a choice keep their
        # content digest, so their re-push stays a no-op.
        compression = {} if self.compression == GZIP else {"compression": self.compression}
        revised = self.revised()
        return {
            **compression,
            **({"revised": revised} if revised else {}),
            "env": dict(self.env),
            "entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "cmd": list(self.cmd) if self.cmd is not None else None,
            "workdir": self.workdir,
            "user": self.user,
            "labels": dict(self.labels),
            "title": self.title,
            "source": self.source,
            "revision": self.revision,
            "layers": [[lay.dest, list(lay.exclude)] for lay in self.layers],
        }

    def revised(self) -> list[str]:
        """The fields this spec uses in a way whose meaning was corrected. They are digested,
        so that an image built by the old meaning is rebuilt rather than found unchanged;
        a spec that no correction touches keeps its digest."""
        revised = []
        if self.workdir is not None and not self.workdir.startswith("/"):
            revised.append("workdir")  # relative: was written as given
        if any("$" in value for value in self.env.values()):
            revised.append("env")  # was not expanded
        if not all(_EXPANDED_AS_BEFORE.fullmatch(value) for value in self.env.values()):
            revised.append("env-syntax")  # e.g. $LANG in ${A:-$LANG}, ${A-b}, $1: were literal
        if "$" in (self.workdir or ""):
            revised.append("workdir-vars")  # was not expanded, as user and label values
        if "$" in (self.user or ""):
            revised.append("user-vars")
        if any("$" in value for value in self.labels.values()):
            revised.append("labels-vars")
        if any("$" in name for name in self.labels):
            revised.append("labels-names-vars")  # were written as given
        if any("$" in name for name in self.env):
            revised.append("env-names-vars")  # were written as given
        return revised


# The env values that expanded as they do now already when "env" was revised: text, \$, $NAME,
# ${NAME}, and ${NAME:-word} or ${NAME:+word} with no variable or escape in the word.
_LONE_DOLLAR = r"\$(?![\w{@*#?$!-])"  # a $ that starts no variable
_EXPANDED_AS_BEFORE = re.compile(
    r"(?:[^$\\]|\\\$|\\(?!\$)|" + _LONE_DOLLAR + r"|\$[A-Za-z_][A-Za-z0-9_]*(?!\w)"
    r"|\$\{[A-Za-z_][A-Za-z0-9_]*(?::[-+](?:[^$\\}]|\\(?![$}])|" + _LONE_DOLLAR + r")*)?\})*"
)


def load_yaml(text: str) -> Any:
    """``text`` as ``yaml.safe_load`` reads it, but for numbers and dates, which are the text
    written: every value of a spec that takes one is text (an env value, a label, a UID), and
    YAML 1.1 would change it. ``VERSION: 1.10`` stays 1.10 (not 1.1), ``ZIP: 01234`` stays
    01234 (not the octal 668), ``user: 1001:0`` is UID 1001 and GID 0 (not the base-60 60060),
    ``created: 2024-01-01`` a date as written. Booleans and null are read as before."""
    import yaml  # only spec files need it

    return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader)


class Written(str):
    """A number or a date of a spec file, as the text written; ``kind`` says which, for an
    error about a value that should have been something else."""

    kind: str


# The YAML types whose text a spec keeps, and what each is called in an error.
_AS_WRITTEN = {"int": "a number", "float": "a number", "timestamp": "a date"}


@functools.cache
def _yaml_loader() -> type[yaml.SafeLoader]:
    import yaml

    class Loader(yaml.SafeLoader):
        """The SafeLoader, with numbers and dates read as the text written, and a key given
        twice in one mapping refused (PyYAML keeps the last: a second ``env:`` would drop the
        first without a word), as docker compose and kubectl refuse it."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, Hashable) and key in lines:
                    raise yaml.constructor.ConstructorError(
                        problem=f"{key!r} is given twice (first on line {lines[key] + 1})",
                        problem_mark=key_node.start_mark,
                    )
                if isinstance(key, Hashable):
                    lines[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep)

    for tag, kind in _AS_WRITTEN.items():

        def as_written(loader: yaml.SafeLoader, node: yaml.ScalarNode, kind: str = kind) -> Written:
            text = Written(loader.construct_scalar(node))
            text.kind = kind
            return text

        Loader.add_constructor(f"tag:yaml.org,2002:{tag}", as_written)
    return Loader


_KEYS = frozenset(
    {
        *("base", "platform", "tag", "layers", "env", "entrypoint", "cmd"),
        *("workdir", "user", "labels", "title", "source", "revision", "python"),
        "compression",
    }
)
_PYTHON_KEYS = frozenset(
    {
        *("requirements", "version", "dest", "index_url", "extra_index_urls"),
        *("find_links", "no_index"),
    }
)


def _str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise BuildSpecError(f"{key} must be a string, not {type(value).__name__}", hint="quote it")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _str(value, key)


def _str_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise BuildSpecError(f"{key} must be a mapping of names to strings", hint="NAME: value")
    return {
        _str(k, f"{key} name"): _expandable(_scalar(v, f"{key}.{k}"), f"{key}.{k}")
        for k, v in value.items()
    }


def _named_values(data: Mapping[str, Any], key: str) -> dict[str, str]:
    """``env`` or ``labels``: a name is expanded as its value is, as BuildKit's ENV and LABEL
    do (``ENV ${PREFIX}_HOME=/opt``)."""
    values = _str_map(data, key)
    for name in values:
        _expandable(name, f"{key} name")
    return values


_Text = TypeVar("_Text", str, str | None)


def _expandable(value: _Text, where: str) -> _Text:
    """``value``, once a malformed variable in it has failed now rather than in the build."""
    if value is not None:
        parse(value, where)
    return value


def _check_process_strings(spec: BuildSpec) -> None:
    """What a container's process is given: env names a process environment can hold
    (``A=B: a`` was written as ``A=B=a``, which is the variable A), and no NUL in an env
    value, an argument, the working directory or the user, as execve refuses a NUL and C
    reads a string only up to one. A value is named by where it is, never shown: an env
    value may be a secret."""
    for name, value in spec.env.items():
        if not name or any(c == "=" or c == "\0" or c.isspace() for c in name):
            raise BuildSpecError(
                f"env name {name!r} is empty or has =, whitespace or NUL in it",
                hint="e.g. env: {MODEL_DIR: /model}",
            )
        if "\0" in value:
            raise BuildSpecError(
                f"env.{name} has a NUL character in its value",
                hint="a process environment cannot hold one: remove it",
            )
    for key in ("entrypoint", "cmd"):
        for i, arg in enumerate(getattr(spec, key) or ()):
            if "\0" in arg:
                raise BuildSpecError(
                    f"{key}[{i}] has a NUL character in it",
                    hint="a process's arguments cannot hold one: remove it",
                )
    for key, what in (("workdir", "a path"), ("user", "a user name")):
        if "\0" in (getattr(spec, key) or ""):
            raise BuildSpecError(
                f"{key} has a NUL character in it", hint=f"{what} cannot hold one: remove it"
            )


def _user(value: object) -> str | None:
    """``user``: a name or UID[:GID]. YAML reads ``user: 1000`` as a number: its digits."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    what = json.dumps(value) if isinstance(value, bool | float) else _kind(value)
    raise BuildSpecError(
        f"user must be a name or a UID, not {what}", hint='e.g. user: 1000, or user: "1000:1000"'
    )


def _scalar(value: object, key: str) -> str:
    # YAML turns 1 or true into numbers and booleans; the value is their text, as written in
    # JSON. Anything else (a list, a mapping, null) is a mistake, not something to stringify.
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise BuildSpecError(
        f"{key} must be a string (or a number), not {_kind(value)}", hint=f'e.g. {key}: "value"'
    )


def _kind(value: object) -> str:
    """What a parsed YAML/JSON value is, in the words of those formats."""
    if value is None:
        return "null"
    if isinstance(value, Written):
        return value.kind
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "true or false"),
        ((int, float), "a number"),
        (str, "a string"),
        (list, "a list"),
        (Mapping, "a mapping"),
    ]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _layers(data: Mapping[str, Any]) -> list[object]:
    value = data.get("layers")
    if value is None:
        return []
    if not isinstance(value, list):
        raise BuildSpecError(
            f"layers must be a list of layers, not {_kind(value)}",
            hint="write it as layers: [{src: DIR, dest: /model}]",
        )
    return value


def _opt_argv(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BuildSpecError(
            f"{key} must be a list of strings", hint=f'write it as {key}: ["python", "serve.py"]'
        )
    return tuple(value)


def check_compression(value: object) -> str:
    """``value`` as a layer compression (None: gzip), or a BuildSpecError."""
    if value is None:
        return GZIP
    if value not in COMPRESSIONS:
        raise BuildSpecError(
            f"compression must be {' or '.join(COMPRESSIONS)}, not {value!r}",
            hint=f"gzip suits every runtime; zstd needs {ZSTD_RUNTIMES}",
        )
    return str(value)


def _base(base: str | None, base_dir: str | Path | None) -> str | None:
    """A local layout base (``oci:PATH[:REF]``) resolves against ``base_dir``, as layer
    sources do; a registry reference stays as it is. (The path is not in the content digest:
    the base's manifest digest is.)"""
    local = layout_base(base, base_dir) if base_dir is not None else None
    if local is None:
        return base
    path, ref = local
    return f"oci:{path.absolute()}" + (f":{ref}" if ref else "")


def _layer(index: int, item: object, base_dir: str | Path | None) -> LayerSpec:
    where = f"layers[{index}]"
    if isinstance(item, str):
        item = {"src": item}
    if not isinstance(item, Mapping) or "src" not in item:
        raise BuildSpecError(f"{where} needs a src", hint="write it as {src: DIR, dest: /model}")
    extra = sorted(set(item) - {"src", "dest", "exclude"})
    if extra:
        raise BuildSpecError(
            f"{where}: unknown key(s) {', '.join(map(str, extra))}", hint="use src, dest, exclude"
        )
    src = Path(_str(item["src"], f"{where}.src"))
    if base_dir is not None and not src.is_absolute():
        src = Path(base_dir) / src
    exclude = item.get("exclude") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list | tuple) or not all(isinstance(p, str) for p in exclude):
        raise BuildSpecError(f"{where}.exclude must be a list of patterns", hint='e.g. ["*.tmp"]')
    try:
        excludes = Excludes(exclude)  # a malformed pattern fails now rather than mid-build
    except ImageError as exc:
        raise BuildSpecError(f"{where}.exclude: {exc.message}", hint=exc.hint) from None
    return LayerSpec(str(src), _str(item.get("dest", "/"), f"{where}.dest"), excludes)


def _str_list(value: object, key: str, example: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BuildSpecError(f"{key} must be a list of strings", hint=f"e.g. {key}: {example}")
    return tuple(value)


def _python(value: object, base_dir: str | Path | None) -> PythonSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BuildSpecError(
            "python must be a mapping", hint="write it as python: {requirements: requirements.txt}"
        )
    extra = sorted(set(value) - _PYTHON_KEYS)
    if extra:
        raise BuildSpecError(
            f"python: unknown key(s) {', '.join(map(str, extra))}",
            hint=f"known keys: {', '.join(sorted(_PYTHON_KEYS))}",
        )

    def local(path: str) -> str:  # absolute, so the install's cache key does not vary
        if "://" in path:
            return path
        return str((Path(base_dir or ".") / path).absolute())

    reqs = value.get("requirements")
    requirements: tuple[str, ...] = ()
    requirements_file = None
    if isinstance(reqs, str) and reqs.strip():
        requirements_file = local(reqs)
    elif isinstance(reqs, list) and reqs and all(isinstance(r, str) and r.strip() for r in reqs):
        requirements = tuple(reqs)
    else:
        raise BuildSpecError(
            "python.requirements must be a requirements file or a non-empty list of requirements",
            hint='e.g. python: {requirements: requirements.txt} or {requirements: ["numpy==2.1"]}',
        )
    version = value.get("version")
    if version is not None and not (isinstance(version, str) and major_minor(version)):
        # YAML reads 3.10 as the number 3.1, so only a string is taken.
        raise BuildSpecError(
            f"python.version must be a quoted major.minor version, not {version!r}",
            hint='write it as version: "3.11"',
        )
    dest = _str(value.get("dest", DEFAULT_PYTHON_DEST), "python.dest")
    if not dest.startswith("/"):
        raise BuildSpecError(
            f"python.dest must be an absolute path, not {dest!r}",
            hint=f"e.g. {DEFAULT_PYTHON_DEST}",
        )
    index_url = value.get("index_url")
    no_index = value.get("no_index", False)
    if not isinstance(no_index, bool):
        raise BuildSpecError("python.no_index must be true or false", hint="no_index: true")
    return PythonSpec(
        requirements=requirements,
        requirements_file=requirements_file,
        version=major_minor(version) if version else None,
        dest=dest,
        index_url=None if index_url is None else _str(index_url, "python.index_url"),
        extra_index_urls=_str_list(
            value.get("extra_index_urls"),
            "python.extra_index_urls",
            '["https://pypi.example/simple"]',
        ),
        find_links=tuple(
            local(p) for p in _str_list(value.get("find_links"), "python.find_links", "[./wheels]")
        ),
        no_index=no_index,
    )
