"""The remote backend: a Flightlog server through the typed ``flightlog.client.AsyncClient``.

The client is organised like the Store (``client.runs.start(...)``,
``client.events.append_batch(...)``) and satisfies
:class:`~flightlog.tracing.backend.Backend` as it is (mypy checks it below).
A server it cannot reach is ``ServerUnreachable``, and a 5xx carries its
``http_status``: both are retried; other errors are the Store's classes and
are refusals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from flightlog.client import AsyncClient
from flightlog.tracing.backend import Backend, BackendOpener


def remote_backend(
    base_url: str,
    *,
    api_key: str,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BackendOpener:
    """Open an ``AsyncClient`` for ``base_url`` (the server's root) when the worker starts."""

    @asynccontextmanager
    async def open_backend() -> AsyncIterator[Backend]:
        async with AsyncClient(base_url, api_key, timeout=timeout, transport=transport) as client:
            yield client

    return open_backend
