"""What ``benchmarks.replicas`` measures with besides the Store: the writer, CPU, server counters.

``python -m benchmarks._replica_load --url URL --customer ID --task ID``: the
writer process. It opens a Store on the primary (no replicas: it only writes),
prints ``{"ready": true}``, waits for a line on standard input, then appends
batches of events to the task as fast as it can until standard input closes,
and prints ``{"events": N, "seconds": S}``. A process of its own, so that its
CPU is not taken from the readers' event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

#: Events per batch: an agent framework flushing a step's worth of log lines.
BATCH = 20
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def cluster_cpu_seconds(data_dir: Path) -> float:
    """User + system CPU of a cluster's postmaster and every process it started, so far."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    total = 0.0
    for entry in Path("/proc").iterdir():
        found = _cpu(int(entry.name)) if entry.name.isdigit() else None
        if found is not None and (int(entry.name) == postmaster or found[0] == postmaster):
            total += found[1]
    return total


def backends_cpu_seconds(conninfo: str, application_name: str) -> dict[int, float]:
    """CPU so far of each backend of a server serving ``application_name``, by pid."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    found = {int(pid): _cpu(int(pid)) for (pid,) in rows}
    return {pid: cpu[1] for pid, cpu in found.items() if cpu is not None}


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two samples by the backends of either (a new one from 0)."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


async def _write(url: str, customer: uuid.UUID, task: uuid.UUID) -> dict[str, Any]:
    from flightlog.settings import Settings
    from flightlog.store import open_store

    settings = Settings(database_url=url, pool_size=2)
    async with open_store(url, settings=settings, customer_id=customer, upgrade=False) as store:
        batch = [{"task_id": task, "event_type": "LOG", "content": "step done"}] * BATCH
        await store.events.append_batch(batch)  # warm: the pool and the statement cache
        print(json.dumps({"ready": True}), flush=True)
        loop = asyncio.get_running_loop()
        go = loop.run_in_executor(None, sys.stdin.readline)
        await go
        stop = loop.run_in_executor(None, sys.stdin.readline)  # returns when stdin closes
        written, started = 0, time.perf_counter()
        while not stop.done():
            written += len(await store.events.append_batch(batch))
        return {"events": written, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._replica_load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--customer", type=uuid.UUID, required=True)
    parser.add_argument("--task", type=uuid.UUID, required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_write(args.url, args.customer, args.task))), flush=True)


if __name__ == "__main__":
    main()
