"""Rows of benchmark figures, printed as one table and written to BENCHMARKS.md.

Every figure is a median over repeated runs; a speed comes with the baseline measured
in the same run on the same machine, and their ratio.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Row:
    scenario: str           # e.g. "throughput, 1 s latency"
    metric: str             # e.g. "jobs/s"
    value: float
    unit: str = ""
    baseline: float | None = None   # the same metric for the baseline, same run
    target: str = ""                # the target, as text ("≥ 0.80 × baseline")
    met: bool | None = None         # None: no target
    note: str = ""                  # what limits it, when a target is missed (a profile, not a guess)
    runs: int = 1

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def markdown(rows: Sequence[Row], command: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# promptq benchmarks", "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- commit: {commit or 'unknown'}",
        f"- command: `{command}`", "",
        "Each figure is the median of the runs shown; a ratio is promptq's figure over the "
        "baseline measured in the same run.", "",
        "| scenario | metric | promptq | baseline | ratio | target | met | runs | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.scenario} | {r.metric} | {_fmt(r.value)} {r.unit} | {_fmt(r.baseline)} | "
                     f"{_fmt(r.ratio)} | {r.target} | {met} | {r.runs} | {r.note} |")
    return "\n".join(lines) + "\n"


def print_table(rows: Sequence[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="promptq benchmarks")
    for col in ("scenario", "metric", "promptq", "baseline", "ratio", "target", "met"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.scenario, r.metric, f"{_fmt(r.value)} {r.unit}", _fmt(r.baseline), _fmt(r.ratio),
                      r.target, "" if r.met is None else ("yes" if r.met else "NO"))
    Console(width=160).print(table)
