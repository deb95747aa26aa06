"""Flightlog's own paths, timed the way an application uses them (through the Store)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flightlog.ingest import EventAppender, ingest_events, ingest_metrics
from flightlog.store import Store


async def batch_events(store: Store, rows: Iterable[dict[str, Any]]) -> float:
    """One ``ingest_events`` call in one Store transaction (what ``append_batch`` does)."""
    start = time.perf_counter()
    async with store.transaction() as s:
        await ingest_events(
            s,
            rows,
            customer_id=store.customer_id,
            max_payload_bytes=store.settings.max_event_payload_bytes,
        )
    return time.perf_counter() - start


async def batch_metrics(store: Store, rows: Iterable[dict[str, Any]]) -> float:
    start = time.perf_counter()
    async with store.transaction() as s:
        await ingest_metrics(s, rows, customer_id=store.customer_id)
    return time.perf_counter() - start


async def appended_events(store: Store, rows: Iterable[dict[str, Any]]) -> float:
    """One ``append`` per event through the buffering appender, until ``close`` returns."""
    start = time.perf_counter()
    async with EventAppender(store) as appender:
        for row in rows:
            await appender.append(row)
    return time.perf_counter() - start
