"""Flightlog's own paths, timed the way an application uses them (through the Store)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import httpx

from flightlog.api import create_app
from flightlog.ingest import EventAppender, ingest_events, ingest_metrics
from flightlog.store import Store


async def batch_events(store: Store, rows: Iterable[dict[str, Any]]) -> float:
    """One ``ingest_events`` call in one Store transaction (what ``append_batch`` does)."""
    start = time.perf_counter()
    async with store.transaction() as s:
        await s.run_sync(
            ingest_events, store.customer_id, store.settings.max_event_payload_bytes, rows
        )
    return time.perf_counter() - start


async def batch_metrics(store: Store, rows: Iterable[dict[str, Any]]) -> float:
    start = time.perf_counter()
    async with store.transaction() as s:
        await s.run_sync(ingest_metrics, store.customer_id, rows)
    return time.perf_counter() - start


async def appended_events(store: Store, rows: Iterable[dict[str, Any]]) -> float:
    """One ``append`` per event through the buffering appender, until ``close`` returns."""
    start = time.perf_counter()
    async with EventAppender(store) as appender:
        for row in rows:
            await appender.append(row)
    return time.perf_counter() - start


async def batched_appends(store: Store, rows: list[dict[str, Any]], batch: int) -> float:
    """``store.events.append_batch`` per ``batch`` rows: what an HTTP request does, in Python."""
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        await store.events.append_batch(rows[i : i + batch])
    return time.perf_counter() - start


def http_bodies(rows: list[dict[str, Any]], batch: int) -> list[bytes]:
    """The rows as ``POST /api/v1/events`` bodies, encoded beforehand (a client's work)."""
    return [
        json.dumps({"events": rows[i : i + batch]}, default=str).encode()
        for i in range(0, len(rows), batch)
    ]


async def http_events(store: Store, bodies: list[bytes]) -> float:
    """Every body through the HTTP API in-process (ASGI, no sockets), until the last 201.

    Times the server's whole path: routing, authentication (one cached key),
    JSON decoding, pydantic validation, the tenant checks and the bulk insert.
    """
    key = await store.api_keys.create("benchmark")
    app = create_app(store.settings, engine=store.engine, dashboard=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key.key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await client.get("/api/v1/health")  # warm the app outside the timing
        start = time.perf_counter()
        for body in bodies:
            response = await client.post("/api/v1/events", content=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/v1/events: {response.status_code} {response.text}")
        return time.perf_counter() - start
