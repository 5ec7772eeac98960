"""Build-and-push of a model directory: ``regauth`` against skopeo, crane and buildah.

Usage: ``python -m bench [--quick] [--runs N]``. Installs or builds the peers (scripts/build-peers),
generates the model directories once (cached), starts a loopback TLS registry with Basic auth, and
prints one table. Every measured push goes to an emptied registry; times are medians of the runs.
Exit status 0 whatever the targets say, 1 if a tool failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import yaml

from jupyter_regauth.__main__ import UNUSED_IN_CLI
from jupyter_regauth.images.layout import OCILayout

from . import data, tools
from .env import ROOT, Bench, Peers
from .measure import Run, ToolFailed, run
from .report import (
    Row,
    Section,
    Target,
    machine,
    paired_ratios,
    registry_version,
    render,
)

DIGEST_REF = re.compile(r"^\S+@sha256:[0-9a-f]{64}$")
RESULTS = ROOT / "bench" / "RESULTS.md"
FLOOR = "python -c 'import httpx, httpcore'"
# What any command line client on httpx pays before its own work: the interpreter starting and
# importing httpx and httpcore (which httpx imports on making its first transport), less the
# modules our CLI keeps out too.
IMPORT_HTTPX = (
    f"import sys; sys.modules.update(dict.fromkeys({UNUSED_IN_CLI!r})); import httpx, httpcore"
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def default_cache() -> Path:
    base = os.environ.get("JUPYTER_REGAUTH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jupyter-regauth"
    )
    return Path(base) / "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB, one run")
    parser.add_argument(
        "--runs", type=int, help="runs per measurement (default 7, quick 1; crane and buildah 3)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated model data")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="generated data")
    parser.add_argument(
        "--results", type=Path, help=f"write the table here (default {RESULTS.name}, not --quick)"
    )
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 7)
    args.size = 256 if args.quick else 1024
    args.series = [100, 256] if args.quick else [100, 512, 1024, 2048]
    if args.results is None and not args.quick:
        args.results = RESULTS
    return args


class Runner:
    def __init__(self, bench: Bench, runs: int) -> None:
        self.bench = bench
        self.runs = runs
        self.failed = False

    def measure(
        self,
        rows: list[tuple[Row, Callable[[str], Run]]],
        prefix: str,
        runs: int | None = None,
        warmup: bool = True,
    ) -> None:
        """Each tool ``runs`` times, interleaved (so a slow spell of a shared machine hits all
        tools alike) and starting each round with the next tool (so none always follows the
        same one), each run into an emptied registry and a fresh repository. A first round,
        not counted, warms what a first run alone would pay for (the machine settling after
        the layouts were written: such runs took up to a third longer)."""
        numbered = list(enumerate(rows))
        if warmup:
            for n, (row, push) in numbered:
                self.bench.reset()
                log(f"{prefix}: {row.label} (warm-up, not counted)")
                self.record(row, partial(push, f"{prefix}-{n}-warmup"))
                row.runs.clear()
        runs = runs or self.runs
        for i in range(runs):
            shift = i % len(numbered)
            for n, (row, push) in numbered[shift:] + numbered[:shift]:
                if row.error:
                    continue
                self.bench.reset()
                log(f"{prefix}: {row.label} (run {i + 1}/{runs})")
                self.record(row, partial(push, f"{prefix}-{n}-{i}"))

    def record(self, row: Row, action: Callable[[], Run | list[Run]]) -> None:
        try:
            result = action()
            row.runs.extend(result if isinstance(result, list) else [result])
        except ToolFailed as exc:
            row.error = str(exc)
            self.failed = True
            log(f"{row.label} failed: {exc}")


def push_checked(bench: Bench, directory: Path, repository: str) -> Run:
    return checked(tools.ours_push(bench, directory, repository))


def repush_checked(bench: Bench, directory: Path, repository: str) -> Run:
    """A re-push that found the image unchanged (else it would measure another path)."""
    result = push_checked(bench, directory, repository)
    if "unchanged, nothing uploaded" not in result.stderr:
        raise ToolFailed(f"the re-push was not of an unchanged image: {result.stderr[-300:]}")
    return result


def checked(result: Run) -> Run:
    """Our push prints the digest reference as its last line: make sure it did push."""
    lines = result.stdout.strip().splitlines()
    if not lines or not DIGEST_REF.match(lines[-1]):
        raise ToolFailed(f"no digest reference on the last line of stdout: {result.stdout[-300:]}")
    return result


def same_image(row: Row, layout: Path) -> None:
    """Our push must have made the very image skopeo copies (same manifest digest), or the two
    would not be compared on the same bytes."""
    expected = OCILayout.open(layout).resolve(tools.TAG).digest
    for result in row.runs:
        pushed = result.stdout.strip().splitlines()[-1].rpartition("@")[2]
        if pushed != expected:
            row.error = f"pushed {pushed}, but skopeo copies {expected}: not the same image"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log("installing or finding the peers (scripts/build-peers)")
    try:
        peers = Peers.install()
    except subprocess.CalledProcessError:
        log("scripts/build-peers failed (its messages are above)")
        return 1
    versions = peers.versions()
    log(f"generating or reusing the {args.size} MiB model directory under {args.cache}")
    model = data.model_dir(args.cache, args.size, args.seed)
    parts = data.parts(model)
    series = {size: data.model_dir(args.cache, size, args.seed) for size in args.series}
    layers4 = [(p, f"{tools.DEST}/{p.name}") for p in parts]

    with tempfile.TemporaryDirectory(prefix="regauth-bench-") as tmp:
        work = Path(tmp)
        log("building the OCI layouts skopeo copies (our image API, not timed)")
        layout1 = tools.layout_of([(model, tools.DEST)], work / "layout-1")
        layout4 = tools.layout_of(layers4, work / "layout-4")
        load_before = os.getloadavg()[0]
        bench = Bench(work).start()
        try:
            sections, targets, failed = measure_all(
                bench, peers, args, model, layout1, layout4, layers4, series, work
            )
        finally:
            bench.stop()

    header = [
        f"jupyter-regauth bench, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {machine()}",
        f"registry: {registry_version()} on 127.0.0.1, TLS (fresh CA), htpasswd Basic auth,"
        " emptied before every push",
        f"peers: {versions['skopeo']}; {versions['crane']}; {versions['buildah']}; skopeo"
        " copies the image our push makes, built beforehand into an OCI layout (same manifest"
        " digest, checked)",
        f"data: generated, seed {args.seed}: half random bytes, half compressible (npy-like"
        " floats, text shards); 4 parts of 2 large + 1 npy + many small files",
        f"times: median of {args.runs} run(s) (crane, buildah: {min(args.runs, 3)}) after one"
        " not counted, wall clock of the whole command(s), written-out page cache before each;"
        " 1-minute load"
        f" average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (shared CPUs)",
    ]
    table = render(header, sections, targets)
    print(table, flush=True)
    if args.results:
        args.results.write_text(
            "# Benchmark results\n\nThe last run of "
            f"`python -m bench{' --quick' if args.quick else ''}`:\n\n```text\n{table}\n```\n"
        )
        log(f"table saved to {args.results}")
    return 1 if failed else 0


def measure_all(
    bench: Bench,
    peers: Peers,
    args: argparse.Namespace,
    model: Path,
    layout1: Path,
    layout4: Path,
    layers4: list[tuple[Path, str]],
    series: dict[int, Path],
    work: Path,
) -> tuple[list[Section], list[Target], bool]:
    runner = Runner(bench, args.runs)
    scratch = work / "scratch"
    size = f"{args.size} MiB"

    skopeo1 = Row("skopeo copy (prebuilt OCI layout)")
    ours1 = Row("regauth push DIR REF")
    crane1 = Row("crane append (tar + append)")
    buildah1 = Row("buildah from/copy/commit/push (vfs)")
    runner.measure(
        [
            (ours1, partial(push_checked, bench, model)),
            (skopeo1, lambda repo: tools.skopeo_copy(bench, peers, layout1, repo)),
        ],
        "single",
    )
    # The slow peers are several times off: three runs tell their ratio, and save minutes.
    runner.measure(
        [
            (crane1, lambda repo: tools.crane_append(bench, peers, model, repo, scratch)),
            (buildah1, lambda repo: tools.buildah_build_push(bench, peers, model, repo, scratch)),
        ],
        "single",
        runs=min(args.runs, 3),
        warmup=False,
    )
    same_image(ours1, layout1)

    spec = work / "model-4-layers.yaml"
    spec.write_text(
        yaml.safe_dump({"layers": [{"src": str(src), "dest": dest} for src, dest in layers4]})
    )
    skopeo4 = Row("skopeo copy (prebuilt OCI layout)")
    ours4 = Row("regauth build SPEC REF (4 layers)")
    runner.measure(
        [
            (ours4, lambda repo: checked(tools.ours_build(bench, spec, repo))),
            (skopeo4, lambda repo: tools.skopeo_copy(bench, peers, layout4, repo)),
        ],
        "multi",
    )
    same_image(ours4, layout4)

    # Re-push of an unchanged image: one untimed push, then the measured ones, same repository.
    log("re-push of an unchanged image")
    bench.reset()
    ours_again = Row("regauth push DIR REF, unchanged")
    skopeo_again = Row("skopeo copy again")
    runner.record(ours_again, partial(push_checked, bench, model, "again-ours"))
    runner.record(skopeo_again, lambda: tools.skopeo_copy(bench, peers, layout1, "again-skopeo"))
    ours_again.runs.clear()
    skopeo_again.runs.clear()
    env = bench.ours_env()
    startup = Row("python -m jupyter_regauth --version")
    floor = Row(FLOOR)
    # In turns, so that the re-push and the floor row, compared in its target, meet the same
    # spells of the host.
    for _ in range(max(args.runs, 3)):
        if not ours_again.error:
            runner.record(ours_again, partial(repush_checked, bench, model, "again-ours"))
        if not skopeo_again.error:
            runner.record(
                skopeo_again, lambda: tools.skopeo_copy(bench, peers, layout1, "again-skopeo")
            )
        runner.record(startup, lambda: run(bench.ours("--version"), env=env))
        runner.record(floor, lambda: run([sys.executable, "-c", IMPORT_HTTPX], env=env))
    startup.note = "(interpreter start, for scale)"
    floor.note = "(the interpreter and httpx alone: a floor)"
    in_kernel = Row("RegAuth.push_directory, unchanged")
    runs = max(args.runs, 3)
    runner.record(
        in_kernel, partial(tools.ours_repush_in_process, bench, model, "again-ours", runs)
    )
    in_kernel.note = "(in a running kernel: %regauth push, the widget, the server)"

    rss_rows = []
    for mib, directory in series.items():
        log(f"peak memory: regauth push of {mib} MiB")
        bench.reset()
        row = Row(f"regauth push, {mib} MiB")
        runner.record(row, partial(push_checked, bench, directory, "rss"))
        if row.runs:
            row.note = f"{mib / row.runs[0].seconds:.0f} MiB/s"
        rss_rows.append(row)

    for row in (ours1, skopeo1, crane1, buildah1, ours4, skopeo4):
        if row.seconds:
            each = " ".join(f"{r.seconds:.1f}" for r in row.runs)
            row.note = f"{args.size / row.seconds:.0f} MiB/s (runs: {each})"
    sections = [
        Section(
            f"build-and-push, {size} model directory, one layer",
            [ours1, skopeo1, crane1, buildah1],
            skopeo1,
        ),
        Section(f"multi-layer, {size} in 4 layers", [ours4, skopeo4], skopeo4),
        Section(
            f"re-push of the unchanged {size} image",
            [ours_again, skopeo_again, startup, floor, in_kernel],
            skopeo_again,
        ),
        Section("peak memory of regauth push as the image grows", rss_rows),
    ]
    targets = make_targets(sections)
    return sections, targets, runner.failed or bool(ours1.error or ours4.error)


def make_targets(sections: list[Section]) -> list[Target]:
    single, multi, again, memory = sections

    def ratio_target(text: str, section: Section, limit: float, strict: bool) -> Target:
        ratio = section.ratio(section.rows[0])
        if ratio is None:
            return Target(text, "-", None)
        rounds = paired_ratios(section.rows[0], section.baseline)
        detail = f"(rounds: {min(rounds):.2f}-{max(rounds):.2f}x)" if rounds else ""
        met = ratio < limit if strict else ratio <= limit
        return Target(text, f"{ratio:.2f}x", met, detail)

    repush = again.rows[0].seconds
    floor_row = next((r for r in again.rows if r.label == FLOOR), None)
    floor = floor_row.seconds if floor_row else None
    multiples = paired_ratios(again.rows[0], floor_row)
    peaks = [r.peak_rss_mib for r in memory.rows if r.peak_rss_mib is not None]
    return [
        ratio_target("build-and-push <= 1.1x skopeo copy", single, 1.1, strict=False),
        ratio_target("multi-layer build-and-push faster than skopeo copy", multi, 1.0, True),
        Target(
            "re-push of an unchanged image < 0.3 s",
            f"{repush:.2f} s" if repush is not None else "-",
            repush < 0.3 if repush is not None else None,
            # The target is absolute: how far the host's own start-up sets it off.
            f"(floor row {floor:.2f} s: {repush / floor:.2f}x it; rounds:"
            f" {min(multiples):.2f}-{max(multiples):.2f}x)"
            if repush and floor and multiples
            else "",
        ),
        Target(
            f"peak RSS < 120 MiB, {memory.rows[0].label.split(', ')[-1]} .. "
            f"{memory.rows[-1].label.split(', ')[-1]} image",
            f"{max(peaks):.0f} MiB" if peaks else "-",
            max(peaks) < 120 if peaks else None,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
