"""One function per measured tool: the commands a user would run to build and push a model.

Every push goes to ``127.0.0.1:PORT/<repository>:bench`` over TLS with Basic auth; each tool gets
the CA and credentials where it looks for them (see :mod:`.env`).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from jupyter_regauth.images.build import build
from jupyter_regauth.images.spec import BuildSpec, LayerSpec

from .env import Bench, Peers
from .measure import Run, run, shell

TAG = "bench"
DEST = "/model"


def layout_of(layers: list[tuple[Path, str]], target: Path) -> Path:
    """An OCI layout of ``layers`` (source, destination) built with our image API, not timed.
    Built afresh by each run, so skopeo copies the very blobs our push makes of the same files."""
    spec = BuildSpec(tag=TAG, layers=tuple(LayerSpec(str(src), dest) for src, dest in layers))
    build(spec, target)
    return target


def ours_push(bench: Bench, model: Path, repository: str) -> Run:
    """``regauth push DIR REFERENCE``: build the layer and push it, one command."""
    return run(bench.ours("push", model, f"{bench.host}/{repository}:{TAG}"), env=bench.ours_env())


# A running kernel's re-push (what `%regauth push`, the widget and the server do): one push to
# pay for imports as a kernel has already, then the timed ones, each asserted unchanged.
_IN_PROCESS = """
import json, sys, time
from jupyter_regauth.service import RegAuth
service = RegAuth()
directory, reference, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
service.push_directory(directory, reference)
seconds = []
for _ in range(runs):
    start = time.perf_counter()
    assert service.push_directory(directory, reference).unchanged
    seconds.append(time.perf_counter() - start)
print(json.dumps(seconds))
"""


def ours_repush_in_process(bench: Bench, model: Path, repository: str, runs: int) -> list[Run]:
    """Re-pushes of the unchanged image through the Python API, in one process; each run has
    the whole process's peak memory."""
    whole = run(
        [sys.executable, "-c", _IN_PROCESS, model, f"{bench.host}/{repository}:{TAG}", str(runs)],
        env=bench.ours_env(),
    )
    return [Run(s, whole.peak_rss_mib, "") for s in json.loads(whole.stdout)]


def ours_build(bench: Bench, spec: Path, repository: str) -> Run:
    """``regauth build SPEC REFERENCE``: build several layers and push them, one command."""
    return run(bench.ours("build", spec, f"{bench.host}/{repository}:{TAG}"), env=bench.ours_env())


def skopeo_copy(bench: Bench, peers: Peers, layout: Path, repository: str) -> Run:
    return run(
        [
            peers.skopeo,
            "copy",
            "--quiet",
            "--dest-cert-dir",
            bench.cert_dir,
            "--dest-authfile",
            bench.authfile,
            f"oci:{layout}:{TAG}",
            f"docker://{bench.host}/{repository}:{TAG}",
        ]
    )


def crane_append(bench: Bench, peers: Peers, model: Path, repository: str, scratch: Path) -> Run:
    """crane takes a tarball: time making it (files under model/) plus ``crane append``."""
    scratch.mkdir(parents=True, exist_ok=True)
    tarball = scratch / "layer.tar"
    q = shlex.quote
    script = (
        f"tar -C {q(str(model))} --sort=name --transform 's,^\\.,model,' -cf {q(str(tarball))} .\n"
        f"{q(peers.crane)} append -f {q(str(tarball))} "
        f"-t {q(f'{bench.host}/{repository}:{TAG}')}\n"
    )
    try:
        return shell(script, env=bench.crane_env())
    finally:
        tarball.unlink(missing_ok=True)


def buildah_build_push(
    bench: Bench, peers: Peers, model: Path, repository: str, scratch: Path
) -> Run:
    """The daemonless build people use: from scratch, copy, commit, push (vfs storage)."""
    root = scratch / "buildah"
    q = shlex.quote
    buildah = (
        f"{q(peers.buildah)} --root {q(str(root / 'root'))} --runroot {q(str(root / 'run'))} "
        "--storage-driver vfs"
    )
    script = (
        f"ctr=$({buildah} from scratch)\n"
        f"{buildah} copy --quiet $ctr {q(str(model))} {DEST} >/dev/null\n"
        f"{buildah} commit --quiet $ctr {repository}:{TAG} >/dev/null\n"
        f"{buildah} push --quiet --cert-dir {q(str(bench.cert_dir))} "
        f"--authfile {q(str(bench.authfile))} {repository}:{TAG} "
        f"docker://{q(bench.host)}/{repository}:{TAG}\n"
    )
    try:
        return shell(script)
    finally:
        shutil.rmtree(root, ignore_errors=True)
