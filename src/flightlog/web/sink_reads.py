"""The dashboard's heavy aggregates: from the columnar sink when one is configured and fresh,
else from the database, with the same numbers either way.

Which answered is kept on the request (``request.state.aggregates_from``) so the
page can say it. The sink is asked in a thread (its clients block) and never
fails a page: :meth:`flightlog.sink.runtime.SinkRuntime.answer` returns None when
the database should answer. Cost and tokens *by project* need the projects
table, which the sink does not copy: those always come from the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from fastapi import FastAPI, Request

from flightlog.services.insights import DurationBin, OutcomeBucket, UsageBucket, UsageBy
from flightlog.services.metrics import MetricName
from flightlog.settings import Settings
from flightlog.store.core import Store

if TYPE_CHECKING:
    from flightlog.sink.backend import SinkBackend
    from flightlog.sink.runtime import SinkRuntime

T = TypeVar("T")
SINK, DATABASE = "sink", "database"


def start_sink(app: FastAPI, settings: Settings) -> SinkRuntime | None:
    """The app's sink (its tail loop started when the store is chdb), or None without one.

    ``flightlog serve`` calls it before serving, so a chdb sink's owner tails from the start;
    otherwise the first dashboard page that needs it does.
    """
    runtime: SinkRuntime | None = getattr(app.state, "sink", None)
    if runtime is None and settings.sink_url:
        from flightlog.sink.runtime import SinkRuntime

        runtime = SinkRuntime(settings)
        runtime.start()
        app.state.sink = runtime
    return runtime


def _runtime(request: Request) -> SinkRuntime | None:
    settings: Settings = request.app.state.flightlog.settings
    return start_sink(request.app, settings)


async def _ask(
    request: Request, question: Callable[[SinkBackend], T], oldest: datetime | None
) -> T | None:
    runtime = _runtime(request)
    found = None if runtime is None else await asyncio.to_thread(runtime.answer, question, oldest)
    request.state.aggregates_from = DATABASE if found is None else SINK
    if found is not None and runtime is not None:
        request.state.sink_lag_seconds = runtime.lag_seconds()
    return found


async def usage(
    request: Request,
    store: Store,
    *,
    since: datetime,
    bucket_seconds: int,
    buckets: int,
    by: UsageBy,
) -> list[UsageBucket]:
    if by == "agent":
        from flightlog.sink import aggregates

        found = await _ask(
            request,
            lambda backend: aggregates.usage(
                backend,
                store.customer_id,
                since=since,
                bucket_seconds=bucket_seconds,
                buckets=buckets,
            ),
            since,
        )
        if found is not None:
            return found
    return await store.views.usage(
        since=since, bucket_seconds=bucket_seconds, buckets=buckets, by=by
    )


async def run_outcomes(
    request: Request, store: Store, *, since: datetime, bucket_seconds: int, buckets: int
) -> list[OutcomeBucket]:
    from flightlog.sink import aggregates

    found = await _ask(
        request,
        lambda backend: aggregates.run_outcomes(
            backend, store.customer_id, since=since, bucket_seconds=bucket_seconds, buckets=buckets
        ),
        since,
    )
    if found is not None:
        return found
    return await store.views.run_outcomes(
        since=since, bucket_seconds=bucket_seconds, buckets=buckets
    )


async def run_durations(request: Request, store: Store, *, since: datetime) -> list[DurationBin]:
    from flightlog.sink import aggregates

    found = await _ask(
        request,
        lambda backend: aggregates.run_durations(backend, store.customer_id, since=since),
        since,
    )
    return found if found is not None else await store.views.run_durations(since=since)


async def metric_names(request: Request, store: Store) -> list[MetricName]:
    from flightlog.sink import aggregates

    found = await _ask(
        request, lambda backend: aggregates.metric_names(backend, store.customer_id), None
    )
    return found if found is not None else await store.metrics.names()
