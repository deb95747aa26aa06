"""What recording through ``flightlog.tracing`` costs, next to the paths it stands on.

Two figures per dialect, each a ratio measured in the same run:

- **a recording call**: ``run.event()`` with nothing due (the worker idle),
  next to appending the same dict to a ``collections.deque`` (the least a
  buffer can cost);
- **delivery**: 10,000 single ``run.event()`` calls until they are committed,
  next to one ``store.events.append_batch`` of the same 10,000 events through
  the synchronous Store (the batch path the tracer sends through).

Run: ``.venv/bin/python -m benchmarks.tracing --dialect both``. PostgreSQL is
reached at ``FLIGHTLOG_BENCH_POSTGRES_URL`` (default: the local server); a
throwaway database is created there and dropped at the end.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

import flightlog.tracing as fl
from flightlog import open_store_sync

EVENTS = 10_000
REPEATS = 3


def _best(measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(REPEATS))


@contextmanager
def _database(dialect: str) -> Iterator[str]:
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    server = os.environ.get(
        "FLIGHTLOG_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"bench_tracing_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _event(i: int) -> dict[str, object]:
    return {"event_type": "log", "content": f"line {i}", "data": {"i": i}}


def recording_call(url: str) -> tuple[float, float]:
    """Seconds per ``run.event()`` and per ``deque.append`` of the same dict."""

    def buffered() -> float:
        queue: collections.deque[dict[str, object]] = collections.deque()
        started = time.perf_counter()
        for i in range(EVENTS):
            queue.append(_event(i))
        return (time.perf_counter() - started) / EVENTS

    tracer = fl.Tracer.embedded(url, config=fl.TracerConfig(flush_interval=3600))
    try:
        with tracer.run(title="recording cost") as run:
            run.id.get(60)

            def traced() -> float:
                started = time.perf_counter()
                for i in range(EVENTS):
                    run.event("log", content=f"line {i}", data={"i": i})
                return (time.perf_counter() - started) / EVENTS

            traced_cost = _best(traced)
        tracer.flush(120)
    finally:
        tracer.close(120)
    return traced_cost, _best(buffered)


def delivery(url: str) -> tuple[float, float]:
    """Seconds for 10,000 traced events to be committed, and for one direct batch."""
    tracer = fl.Tracer.embedded(url)
    try:
        with tracer.run(title="delivery") as run:
            run_id = run.id.get(60)

            def traced() -> float:
                started = time.perf_counter()
                for i in range(EVENTS):
                    run.event("log", content=f"line {i}", data={"i": i})
                assert tracer.flush(120), tracer.stats
                return time.perf_counter() - started

            traced_seconds = _best(traced)
    finally:
        tracer.close(120)
    with open_store_sync(url) as store:

        def direct() -> float:
            started = time.perf_counter()
            store.events.append_batch({**_event(i), "run_id": run_id} for i in range(EVENTS))
            return time.perf_counter() - started

        direct_seconds = _best(direct)
    return traced_seconds, direct_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    chosen = parser.parse_args().dialect
    # Each figure is the best of REPEATS runs.
    for dialect in ["sqlite", "postgresql"] if chosen == "both" else [chosen]:
        with _database(dialect) as url:
            call, append = recording_call(url)
            traced, direct = delivery(url)
        print(
            f"{dialect}: run.event() {call * 1e6:.2f} µs vs deque.append {append * 1e6:.2f} µs "
            f"({call / append:.1f}x); {EVENTS:,} events delivered in {traced:.3f} s vs "
            f"append_batch {direct:.3f} s ({direct / traced:.2f} of the batch path's rate)"
        )


if __name__ == "__main__":
    main()
