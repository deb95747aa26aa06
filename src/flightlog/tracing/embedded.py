"""The embedded backend: an async Store opened in the worker's own event loop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flightlog.settings import Settings
from flightlog.store import open_store
from flightlog.tracing.backend import Backend, BackendOpener


def embedded_backend(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    customer_id: uuid.UUID | None = None,
) -> BackendOpener:
    """Open ``open_store(url, …)`` when the worker starts (upgrading the schema like it).

    The Store lives in the worker's loop and thread only: an async engine
    cannot be shared between event loops, which is why a tracer never takes
    an already open Store.
    """

    @asynccontextmanager
    async def open_backend() -> AsyncIterator[Backend]:
        async with open_store(url, settings=settings, customer_id=customer_id) as store:
            # The Store satisfies the Backend protocol as it is; mypy checks it here.
            yield store

    return open_backend
