"""What importing Flightlog costs, next to the libraries it cannot do without (issue 13).

Every figure is the median of ``--runs`` fresh interpreters, the cases of one
round run one after another so that a busy moment of the machine falls on
all of them alike:

- **the import's own time**: ``time.perf_counter()`` around the statement
  inside the child (no interpreter start-up in it), for ``import flightlog``
  (target <= 0.3 s), ``from flightlog import open_store`` (what an embedded
  user pays before the first call) and ``import flightlog.cli``;
- **floors**: ``import sqlalchemy, pydantic`` (the two libraries as they load
  on their own), and what the Store is built on: SQLAlchemy's ORM and asyncio
  extension, a pydantic ``BaseModel`` and ``pydantic_settings``. The ratio of
  ``open_store`` to the second is Flightlog's own share;
- **whole processes**: ``python -c pass`` and ``flightlog --help`` (wall clock);
- **to the first store**: import and ``async with open_store(url)`` on a
  database already at head, then close (SQLite file; PostgreSQL when reachable).

``--baseline-src DIR`` runs the Flightlog cases a second time against another
checkout's ``src`` (``git archive <commit> src | tar -x -C DIR``), in the same
rounds, for a before/after in one run.

Run: ``.venv/bin/python -m benchmarks.import_time`` (about a minute).
Results: ``benchmarks/results/<date>-import.json`` and the import table in
``benchmarks/README.md`` (``--no-readme`` leaves it alone).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._report import README, RESULTS, machine, versions

START, END = "<!-- import:start -->", "<!-- import:end -->"
TARGET_SECONDS = 0.3
HEAVY = ("alembic", "fastapi", "starlette", "httpx", "opentelemetry", "typer", "rich")

#: The child: time the statement alone, then say what it loaded.
_CHILD = """\
import time
_started = time.perf_counter()
{code}
_seconds = time.perf_counter() - _started
import json, sys
print(json.dumps({{"seconds": _seconds, "modules": len(sys.modules),
    "heavy": sorted(h for h in {heavy!r} if h in sys.modules)}}))
"""
_OPEN = """\
import asyncio
from flightlog import open_store
async def _open() -> None:
    async with open_store({url!r}):
        pass
asyncio.run(_open())
"""
_STORE_FLOOR = (
    "import sqlalchemy.orm, sqlalchemy.ext.asyncio, pydantic_settings\n"
    "from pydantic import BaseModel"
)


@dataclass(frozen=True)
class Case:
    """One statement (``code``) or one whole command (``argv``), in this tree or the baseline."""

    key: str
    name: str
    code: str | None = None
    argv: tuple[str, ...] | None = None
    baseline: bool = False


def _cases(urls: dict[str, str], baseline: bool) -> list[Case]:
    cases = [
        Case("python", "python -c pass (process, wall)", argv=("-c", "pass")),
        Case(
            "floor_libs", "floor: import sqlalchemy, pydantic", code="import sqlalchemy, pydantic"
        ),
        Case("floor_store", "floor: SQLAlchemy ORM + asyncio, BaseModel, settings", _STORE_FLOOR),
    ]
    mine = [
        Case("import", "import flightlog", code="import flightlog"),
        Case("open_store", "from flightlog import open_store", "from flightlog import open_store"),
        Case("cli", "import flightlog.cli", code="import flightlog.cli"),
        Case("cli_help", "flightlog --help (process, wall)", argv=("-m", "flightlog", "--help")),
    ]
    cases += mine
    for dialect, url in urls.items():
        name = f"import + open_store at head + close, {dialect}"
        cases.append(Case(f"open_{dialect}", name, code=_OPEN.format(url=url)))
    if baseline:
        cases += [
            Case(f"{c.key}_before", f"{c.name} [baseline]", c.code, c.argv, True) for c in mine
        ]
    return cases


def _run(case: Case, baseline_src: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if case.baseline and baseline_src:
        env["PYTHONPATH"] = baseline_src
    if case.argv is not None:
        argv = [sys.executable, *case.argv]
    else:
        argv = [sys.executable, "-c", _CHILD.format(code=case.code, heavy=HEAVY)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=120)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{case.name} failed:\n{done.stderr}")
    if case.argv is not None:
        return {"seconds": wall}
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@contextmanager
def _databases(dialects: list[str]) -> Iterator[dict[str, str]]:
    """Throwaway databases at head (migrated untimed, by the parent)."""
    from flightlog import open_store_sync

    urls: dict[str, str] = {}
    dropped: list[str] = []
    server = os.environ.get(
        "FLIGHTLOG_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    with tempfile.TemporaryDirectory() as directory:
        if "sqlite" in dialects:
            urls["sqlite"] = f"sqlite:///{Path(directory) / 'import.db'}"
        if "postgresql" in dialects:
            import psycopg

            name = f"bench_import_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            dropped.append(name)
            urls["postgresql"] = server.rsplit("/", 1)[0] + f"/{name}"
        try:
            for url in urls.values():
                with open_store_sync(url):
                    pass
            yield urls
        finally:
            if dropped:
                import psycopg

                with psycopg.connect(server, autocommit=True) as admin:
                    for name in dropped:
                        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def measure(runs: int, dialects: list[str], baseline_src: str | None) -> list[dict[str, Any]]:
    """Median, min and max of each case over ``runs`` rounds."""
    with _databases(dialects) as urls:
        cases = _cases(urls, baseline_src is not None)
        samples: dict[str, list[dict[str, Any]]] = {c.key: [] for c in cases}
        for _ in range(runs):
            for c in cases:
                samples[c.key].append(_run(c, baseline_src))
    medians = {k: statistics.median(s["seconds"] for s in v) for k, v in samples.items()}
    out = []
    for c in cases:
        seconds = [s["seconds"] for s in samples[c.key]]
        row: dict[str, Any] = {
            "key": c.key,
            "name": c.name,
            "median_s": round(medians[c.key], 4),
            "min_s": round(min(seconds), 4),
            "max_s": round(max(seconds), 4),
            "runs": runs,
        }
        if c.code is not None:
            row["modules"] = samples[c.key][-1]["modules"]
            row["heavy_loaded"] = samples[c.key][-1]["heavy"]
        if c.key in ("import", "open_store", "open_sqlite", "open_postgresql"):
            row["vs_floor_libs"] = round(medians[c.key] / medians["floor_libs"], 2)
            row["vs_floor_store"] = round(medians[c.key] / medians["floor_store"], 2)
        if c.key == "import":
            row["target"] = f"<= {TARGET_SECONDS} s"
            row["met"] = medians[c.key] <= TARGET_SECONDS
        if c.baseline:
            row["after_over_before"] = round(
                medians[c.key.removesuffix("_before")] / medians[c.key], 3
            )
        out.append(row)
    return out


def table(cases: list[dict[str, Any]]) -> str:
    lines = [
        "| case | median | min-max | modules | vs `import sqlalchemy, pydantic` "
        "| vs the Store's libraries | target | |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for c in cases:
        met = "" if c.get("met") is None else ("met" if c["met"] else "**missed**")
        before = f" (after/before {c['after_over_before']:.2f})" if "after_over_before" in c else ""
        lines.append(
            f"| {c['name']}{before} | {c['median_s'] * 1000:.0f} ms | "
            f"{c['min_s'] * 1000:.0f}-{c['max_s'] * 1000:.0f} ms | {c.get('modules', '')} | "
            f"{_ratio(c.get('vs_floor_libs'))} | {_ratio(c.get('vs_floor_store'))} | "
            f"{c.get('target', '')} | {met} |"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def update_readme(report: dict[str, Any]) -> None:
    m = report["machine"]
    block = (
        f"{START}\nMeasured {report['date']} on {m['cpu']}, {m['cores']} cores "
        f"(load average at start {m['load_average_at_start'][0]:.2f}), median of "
        f"{report['runs']} fresh interpreters, with `{report['command']}`.\n\n"
        f"{table(report['cases'])}\n{END}"
    )
    text = README.read_text()
    if START not in text:
        text += f"\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    README.write_text(before + block + rest.split(END, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per case")
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--baseline-src", help="another checkout's src/, measured alongside")
    parser.add_argument("--no-readme", action="store_true", help="leave the README table alone")
    args = parser.parse_args()
    dialects = ["sqlite", "postgresql"] if args.dialect == "both" else [args.dialect]
    host = machine()  # before the run: its load average is the one at the start
    cases = measure(args.runs, dialects, args.baseline_src)
    command = " ".join(["python -m benchmarks.import_time", *sys.argv[1:]])
    report = {
        "date": datetime.date.today().isoformat(),
        "command": command,
        "runs": args.runs,
        "machine": host,
        "versions": versions("n/a"),
        "cases": cases,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report['date']}-import.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(cases))
    print(f"wrote {path}")
    if not args.no_readme:
        update_readme(report)


if __name__ == "__main__":
    main()
