"""API-key verification with a short in-process memory that every process keeps honest.

Verifying a key stamps ``last_used_at``, which is a write. On SQLite a write
per request would queue every request behind one lock, so a verified key is
trusted for ``api_key_cache_seconds`` (default 30 s) and ``last_used_at`` is
accurate to that. The memory is keyed by the SHA-256 of the key, so no
secret is held beyond the request that carried it.

A revoked key or a suspended customer must not wait out that time, in this
process or in any other worker of ``flightlog serve --workers N`` (the CLI
revokes from a process of its own). So at most once every
:data:`REVOCATION_CHECK_SECONDS` each process reads a *fingerprint* of what
can withdraw a key: the number of keys and of revoked keys, the latest
revocation and key creation, the number of customers and of customers that
are not active, and the latest change to a customer. When it differs from the
last one read, the process forgets every remembered key and checks each again
as it comes. Why this design (decision 0009):

- It costs one small read per process per second while requests arrive, and
  nothing per request or per key, whatever the number of clients; an idle
  process reads nothing.
- It needs no schema change and no cooperation from the code that revokes:
  whatever changes those tables (a service, the CLI, an operator's SQL,
  another Flightlog version) changes the fingerprint.
- It is the same on both databases. PostgreSQL's LISTEN/NOTIFY would be
  quicker but needs a connection held open per process, a reconnection
  story, and a fallback for SQLite, which has no notifications.

The aggregates scan ``api_keys`` and ``customers``, tables of one row per key
and per tenant, read once a second: cheap at thousands of rows. Counts catch
what the timestamps could miss (two changes in one clock tick, a clock moved
back), timestamps what the counts could miss (a suspension and a
reactivation within a second). A key's scopes changed by hand in SQL are not
in the fingerprint: that waits out ``api_key_cache_seconds``, as before. A key
is never remembered past its own expiry.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.db.engine import SQLITE_BEGIN_MODE
from flightlog.db.failures import database_unreachable
from flightlog.enums import CustomerStatus
from flightlog.errors import DatabaseUnavailable
from flightlog.models import ApiKey, Customer
from flightlog.services._common import utc_now
from flightlog.services.api_keys import VerifiedKey, check_key, stamp_last_used

#: Bound on remembered keys, so a flood of distinct valid keys cannot grow memory without end.
_MAX_REMEMBERED = 10_000
#: How often a process reads the fingerprint, so how soon a revocation made anywhere
#: (another worker, the CLI, SQL) reaches it.
REVOCATION_CHECK_SECONDS = 1.0


def fingerprint_query() -> Select[Any]:
    """One row that changes whenever a key is revoked, created or deleted, or a customer's
    status (or anything else of a customer) changes."""
    keys, customers = ApiKey.__table__, Customer.__table__
    return select(
        select(func.count()).select_from(keys).scalar_subquery(),
        select(func.count(keys.c.revoked_at)).scalar_subquery(),
        select(func.max(keys.c.revoked_at)).scalar_subquery(),
        select(func.max(keys.c.created_at)).scalar_subquery(),
        select(func.count()).select_from(customers).scalar_subquery(),
        select(func.count())
        .select_from(customers)
        .where(customers.c.status != CustomerStatus.ACTIVE)
        .scalar_subquery(),
        select(func.max(customers.c.updated_at)).scalar_subquery(),
    )


@dataclass(frozen=True)
class _Remembered:
    key: VerifiedKey
    until: float


class KeyCache:
    """``verify(key)``: the database's verdict, remembered for a while when it is a yes."""

    def __init__(
        self,
        sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        *,
        ttl_seconds: float,
        recheck_seconds: float = REVOCATION_CHECK_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._recheck = recheck_seconds
        self._known: dict[str, _Remembered] = {}
        self._fingerprint: tuple[Any, ...] | None = None
        self._checked_at = float("-inf")
        #: Bumped whenever the memory is dropped: a verdict read before the drop is not kept.
        self._epoch = 0

    async def verify(self, key: str) -> VerifiedKey:
        digest = hashlib.sha256(key.encode()).hexdigest()
        if self._ttl > 0:
            await self._keep_current()
        now = time.monotonic()
        hit = self._known.get(digest)
        if hit is not None and hit.until > now:
            return hit.key
        epoch = self._epoch
        # Checking is a read (on SQLite: no write lock), so a flood of wrong keys
        # cannot hold up writers; only a key that passed is stamped as used.
        async with self._sessions() as session:
            await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
            verified = await session.run_sync(check_key, key)
        async with self._sessions() as session, session.begin():
            await session.run_sync(stamp_last_used, verified.key_id)
        if self._ttl > 0 and epoch == self._epoch:
            self._remember(digest, verified, now)
        return verified

    def forget(self) -> None:
        """Drop every remembered key now (the fingerprint would within a second anyway)."""
        self._known.clear()
        self._epoch += 1

    async def _keep_current(self) -> None:
        """Read the fingerprint if it is over ``recheck_seconds`` old; forget all on a change.

        The first request to find it stale reads it; requests arriving meanwhile go
        on with the memory as it is, which is at most that read's duration older.
        """
        started = time.monotonic()
        if started - self._checked_at < self._recheck:
            return
        self._checked_at = started
        try:
            async with self._sessions() as session:
                await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
                seen = tuple((await session.execute(fingerprint_query())).one())
        except Exception as exc:
            if not (isinstance(exc, DatabaseUnavailable) or database_unreachable(exc)):
                self._checked_at = float("-inf")
                raise
            # Unreachable: nothing can be verified or written now anyway; the request's
            # own database work will answer 503. Try again in a second.
            return
        if seen != self._fingerprint:
            self._fingerprint = seen
            self.forget()

    def _remember(self, digest: str, verified: VerifiedKey, now: float) -> None:
        until = now + self._ttl
        if verified.expires_at is not None:
            until = min(until, now + (verified.expires_at - utc_now()).total_seconds())
        if len(self._known) >= _MAX_REMEMBERED:
            self._known = {d: r for d, r in self._known.items() if r.until > now}
            if len(self._known) >= _MAX_REMEMBERED:
                self._known.clear()
        self._known[digest] = _Remembered(verified, until)


__all__ = ["REVOCATION_CHECK_SECONDS", "KeyCache", "fingerprint_query"]
