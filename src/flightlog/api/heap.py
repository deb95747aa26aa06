"""Keep the garbage collector off what a server process built in order to start.

A ``flightlog serve`` process holds its app, engine, models, pydantic schemas
and routes for its whole life: ~160,000 objects that never become garbage.
Python's cyclic collector still walks all of them in every full collection,
~75 ms on this project's 2-core machines, during which no request is
answered: with 16 clients a pause holds every request in flight. Frozen, the
p99 of one-event requests on PostgreSQL with 16 clients went from 90-100 ms
to 50 ms (benchmarks/http_writes.py).
:func:`gc.freeze` moves what exists after startup into a permanent
generation the collector skips; what requests allocate is collected as before.

Only for a process that serves one app until it exits: a process that
creates and drops apps (tests, embedding) would keep every frozen app's
cycles alive.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect startup's garbage once, then exempt everything left from later collections."""
    gc.collect()
    gc.freeze()
