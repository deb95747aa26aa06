"""Results as JSON (one file per dialect and day) and as the table in benchmarks/README.md."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass
class Case:
    """One measurement: a write path with its ceiling, a growth sample, RSS, or a read."""

    name: str
    rows: int
    seconds: float | None = None
    rate: float | None = None
    ceiling_rate: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def case(
    name: str,
    rows: int,
    seconds: float,
    *,
    ceiling: float | None = None,
    target_ratio: float | None = None,
    **extra: Any,
) -> Case:
    """A write case; its ratio is its rate over ``ceiling`` (a rate on the same table)."""
    rate = rows / seconds if seconds > 0 else 0.0
    ratio = rate / ceiling if ceiling else None
    met = None if target_ratio is None or ratio is None else ratio >= target_ratio
    target = f">= {target_ratio}x" if target_ratio is not None else None
    return Case(
        name,
        rows,
        round(seconds, 3),
        round(rate, 1),
        ceiling and round(ceiling, 1),
        ratio and round(ratio, 3),
        target,
        met,
        extra,
    )


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("\n", 1)[0].split()[1])
        memory_gib = round(total_kib / 1024 / 1024, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def versions(server: str) -> dict[str, str]:
    found = {"database": server}
    for package in ("flightlog", "sqlalchemy", "asyncpg", "psycopg", "aiosqlite", "pydantic"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def write_json(report: dict[str, Any], *, quick: bool) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    path = RESULTS / f"{report['date']}-{report['dialect']}{suffix}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def as_dict(cases: list[Case]) -> list[dict[str, Any]]:
    return [asdict(c) for c in cases]


def _fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: ""}[met]


def readme_table(reports: list[dict[str, Any]]) -> str:
    """The results table: one row per case per dialect."""
    lines = [
        "| dialect | case | rows | rate | ceiling (same table) | ratio / latency | target | |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for report in reports:
        dialect = report["dialect"]
        for c in report["cases"]:
            extra = c.get("extra") or {}
            if "p95_ms" in extra:
                measured = f"p50 {extra['p50_ms']:.1f} ms, p95 {extra['p95_ms']:.1f} ms"
            elif "peak_rss_mb" in extra:
                measured = f"peak RSS {extra['peak_rss_mb']:.0f} MB"
            elif c.get("ratio") is not None:
                measured = f"{c['ratio']:.2f}x"
            else:
                measured = ""
            lines.append(
                f"| {dialect} | {c['name']} | {c['rows']:,} | {_fmt_rate(c.get('rate'))} | "
                f"{_fmt_rate(c.get('ceiling_rate'))} | {measured} | {c.get('target') or ''} | "
                f"{_verdict(c.get('met'))} |"
            )
    return "\n".join(lines)


def update_readme(reports: list[dict[str, Any]], command: str) -> None:
    """Replace the generated block of the README with these reports' table."""
    header = ", ".join(f"{r['dialect']} {r['date']} ({r['versions']['database']})" for r in reports)
    block = (
        f"{START}\nMeasured {header} on {reports[0]['machine']['cpu']}, "
        f"{reports[0]['machine']['cores']} cores, {reports[0]['machine']['memory_gib']} GiB "
        f"with `{command}`.\n\n{readme_table(reports)}\n{END}"
    )
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1] if END in rest else ""
    README.write_text(before + block + after)


def replace_readme_block(
    name: str, reports: list[dict[str, Any]], command: str, lines: list[str], *, note: str = ""
) -> None:
    """Put ``lines`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in the README.

    The block opens with when, on which databases and machine, and with which
    command the figures were measured; ``note`` follows the command. The block
    is appended at the end the first time.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    header = ", ".join(f"{r['dialect']} ({r['versions']['database']})" for r in reports)
    m = reports[0]["machine"]
    block = (
        f"{start}\nMeasured {reports[0]['date']}, {header}, on {m['cpu']}, {m['cores']} cores, "
        f"with `{command}`{note}.\n\n" + "\n".join(lines) + f"\n{end}"
    )
    text = README.read_text()
    if start not in text:
        text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    README.write_text(before + block + rest.split(end, 1)[1])
