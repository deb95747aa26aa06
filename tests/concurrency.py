"""Real parallelism for concurrency tests: one OS thread, event loop and engine per worker."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from flightlog.store import Store, open_store

T = TypeVar("T")


def run_in_threads(
    url: DatabaseUrl,
    settings: Settings,
    customer_id: uuid.UUID,
    workers: int,
    work: Callable[[Store, int], Awaitable[T]],
) -> list[T]:
    """Run ``work(store, index)`` in ``workers`` threads at once; re-raise the first error."""
    results: list[T | None] = [None] * workers
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def target(index: int) -> None:
        async def main() -> T:
            async with open_store(
                url.url.render_as_string(hide_password=False),
                settings=settings,
                customer_id=customer_id,
                upgrade=False,
            ) as store:
                await asyncio.to_thread(barrier.wait)  # start together
                return await work(store, index)

        try:
            results[index] = asyncio.run(main())
        except BaseException as exc:  # collected, re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]
