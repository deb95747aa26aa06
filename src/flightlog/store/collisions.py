"""A bound write that PostgreSQL rolled back to break a deadlock runs again.

PostgreSQL resolves a deadlock (or a serialisation failure) by rolling back
one of the transactions involved; its documentation's advice is to run that
transaction again. Flightlog's writes can meet one where DDL meets row locks:
a write into a month with no partition yet makes it in its own transaction,
and attaching a partition locks the tables its foreign keys point at, which
other writers of those months hold row locks in (decision 0016). Two
back-fills into one new month deadlock; the one rolled back finds the
partition made when it runs again.

Run again only what can be run again as it was: a call that owns its
transaction (not a Store on an embedder's connection, whose transaction the
deadlock aborted), on PostgreSQL, whose arguments hold no iterator the first
attempt may have consumed. What still collides after :data:`ATTEMPTS` is the
caller's :class:`~flightlog.errors.WriteCollision` (503 over HTTP).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from flightlog.errors import WriteCollision

R = TypeVar("R")

#: Attempts in all, the first included.
ATTEMPTS = 4
#: The first pause's upper bound; each next one doubles it (with jitter, so the
#: transactions that collided do not meet again in step).
FIRST_PAUSE_SECONDS = 0.02


def can_run_again(
    dialect: str,
    on_connection: bool,
    unit: str,
    args: Sequence[object],
    kwargs: Mapping[str, object],
) -> bool:
    """Whether a collision of a call of ``unit`` may be answered by running it again
    (``on_connection``: the Store's units are savepoints on an embedder's connection)."""
    return (
        unit in ("write", "operator")
        and not on_connection
        and dialect == "postgresql"
        and not any(isinstance(value, Iterator) for value in (*args, *kwargs.values()))
    )


def _pause(attempt: int) -> float:
    return random.uniform(0.0, FIRST_PAUSE_SECONDS * 2**attempt)


async def run_async(call: Callable[[], Awaitable[R]]) -> R:
    """``call()``, run again (after a short random pause) while it collides."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return await call()
        except WriteCollision:
            await asyncio.sleep(_pause(attempt))
    return await call()


def run_sync(call: Callable[[], R]) -> R:
    """The synchronous twin of :func:`run_async`."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return call()
        except WriteCollision:
            time.sleep(_pause(attempt))
    return call()


__all__ = ["ATTEMPTS", "can_run_again", "run_async", "run_sync"]
