"""Peak memory of streaming events through ``ingest_events``, in a process of its own.

Run by the suite as ``python -m benchmarks._rss FIXTURE.json URL START ROWS``;
prints one JSON line. A fresh process makes its ``VmHWM`` (the kernel's peak
resident set of this process image) describe this ingest alone.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._data import Fixture, events
from flightlog.ingest import ingest_events
from flightlog.store import open_store


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's own high-water mark (``VmHWM``).

    ``ru_maxrss`` is not used for the figure: Linux carries the parent's peak
    into a child across fork/exec, so it reports the runner's memory, not ours.
    """
    return _status_mb("VmHWM")


def fixture_to_json(fx: Fixture) -> dict[str, Any]:
    return {
        "customer_id": str(fx.customer_id),
        "tasks": [str(t) for t in fx.tasks],
        "runs": [str(r) for r in fx.runs],
        "agent_runs": [[str(a) for a in group] for group in fx.agent_runs],
        "big_share_percent": fx.big_share_percent,
    }


def fixture_from_json(raw: dict[str, Any]) -> Fixture:
    return Fixture(
        customer_id=uuid.UUID(raw["customer_id"]),
        tasks=[uuid.UUID(t) for t in raw["tasks"]],
        runs=[uuid.UUID(r) for r in raw["runs"]],
        agent_runs=[[uuid.UUID(a) for a in group] for group in raw["agent_runs"]],
        big_share_percent=raw["big_share_percent"],
    )


async def _main(fx: Fixture, url: str, start: int, rows: int) -> dict[str, Any]:
    async with open_store(url, customer_id=fx.customer_id, upgrade=False) as store:
        before = current_rss_mb()
        began = time.perf_counter()
        async with store.transaction() as s:
            written = await s.run_sync(
                ingest_events,
                fx.customer_id,
                store.settings.max_event_payload_bytes,
                events(fx, start, rows),
            )
        seconds = time.perf_counter() - began
    return {
        "rows": written,
        "seconds": seconds,
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ru_maxrss_mb_inherited": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
    }


if __name__ == "__main__":
    fixture_path, database_url, first, count = sys.argv[1:5]
    fixture = fixture_from_json(json.loads(Path(fixture_path).read_text()))
    print(json.dumps(asyncio.run(_main(fixture, database_url, int(first), int(count)))))
