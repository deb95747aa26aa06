"""Batched writers for the append-only streams: events and metric points.

``ingest_events`` / ``ingest_metrics`` stream any iterable into the database
in chunks, inside the caller's transaction: binary COPY on the session's own
asyncpg connection on PostgreSQL, one prepared ``executemany`` on SQLite.
:class:`EventAppender` and :class:`MetricAppender` buffer single appends and
write them through the same path in batches. ``benchmarks/`` measures both
against the raw drivers on the same tables.
"""

from flightlog.ingest._pipeline import DEFAULT_CHUNK_SIZE
from flightlog.ingest.appender import EventAppender, FlushFailed, MetricAppender
from flightlog.ingest.events import ingest_events, ingest_events_returning_ids
from flightlog.ingest.metrics import ingest_metrics

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EventAppender",
    "FlushFailed",
    "MetricAppender",
    "ingest_events",
    "ingest_events_returning_ids",
    "ingest_metrics",
]
