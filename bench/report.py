"""The results table: medians, ratios to ``skopeo copy``, targets with PASS/MISS."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

from .measure import Run


@dataclass
class Row:
    label: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    note: str = ""

    @property
    def seconds(self) -> float | None:
        return statistics.median(r.seconds for r in self.runs) if self.runs else None

    @property
    def peak_rss_mib(self) -> float | None:
        return max(r.peak_rss_mib for r in self.runs) if self.runs else None


@dataclass
class Section:
    title: str
    rows: list[Row]
    baseline: Row | None = None  # ratios are relative to this row (skopeo copy)

    def ratio(self, row: Row) -> float | None:
        base = self.baseline.seconds if self.baseline else None
        return row.seconds / base if row.seconds is not None and base else None


def paired_ratios(row: Row, base: Row | None) -> list[float]:
    """``row``'s time over ``base``'s, round by round: the tools take turns, so each pair ran
    seconds apart. Their spread shows how much the host's speed moved."""
    if base is None or not base.runs or len(row.runs) != len(base.runs):
        return []
    return [r.seconds / b.seconds for r, b in zip(row.runs, base.runs, strict=True)]


@dataclass(frozen=True)
class Target:
    text: str
    value: str
    met: bool | None  # None: not measured
    detail: str = ""


def machine() -> str:
    mem_kib = 0
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        with open("/proc/cpuinfo") as f:
            model = next(line for line in f if line.startswith("model name")).split(":", 1)[1]
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({model.strip()}), {mem_kib / (1 << 20):.1f} GiB RAM, "
        f"Linux {platform.release()}, Python {sys.version.split()[0]}"
    )


def registry_version() -> str:
    for binary in ("docker-registry", "registry"):
        try:
            out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        except OSError:
            continue
        return out.stdout.strip() or out.stderr.strip()
    return "distribution registry"


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def render(header: list[str], sections: list[Section], targets: list[Target]) -> str:
    width = max(len(r.label) for s in sections for r in s.rows) + 2
    lines = [*header, ""]
    lines.append(f"{'':{width}}{'time':>10}{'vs skopeo':>11}{'peak RSS':>11}")
    for section in sections:
        lines.append(section.title)
        for row in section.rows:
            ratio = section.ratio(row)
            rss = row.peak_rss_mib
            cells = (
                f"  {row.label:{width - 2}}{_fmt_seconds(row.seconds):>10}"
                f"{f'{ratio:.2f}x' if ratio is not None else '-':>11}"
                f"{f'{rss:.0f} MiB' if rss is not None else '-':>11}"
            )
            note = f"FAILED: {row.error.splitlines()[0]}" if row.error else row.note
            lines.append(f"{cells}  {note}".rstrip())
    lines += ["", "targets"]
    twidth = max(len(t.text) for t in targets) + 2
    for t in targets:
        verdict = "n/a" if t.met is None else "PASS" if t.met else "MISS"
        lines.append(f"  {t.text:{twidth - 2}}{t.value:>12}  {verdict}  {t.detail}".rstrip())
    return "\n".join(lines)
