"""The next page of a live reader of the event log, up to the watermark, wherever it is read.

A follower (the API's ``/events/stream``, the dashboard's live updates) polls
:meth:`EventPages.next` with its cursor. On SQLite that is one read. On
PostgreSQL the watermark of :mod:`flightlog.services.event_feed` first samples
in a short primary transaction of its own, then releases ids in the next.

Without replicas the release and the page share that second transaction.
With replicas the release stays on the primary (a standby has no transaction
ids to hand out) and names the WAL position every released event committed
before; the page is read on a replica that has replayed that position.

A replica learns of a release a few milliseconds after it is made, so when it
has not replayed the newest release yet the page goes only up to the previous
release, which it has; the rest comes with the next poll. The primary is left
alone, and the cursor never passes an event that is not yet visible where the
page is read: a follower neither misses nor repeats an event. When no replica
has even the previous release, the page is read on the primary.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.db.replicas import REPLAYED
from flightlog.services._common import UNIT_SERVICE
from flightlog.services.event_feed import Watermark
from flightlog.services.events import MAX_PAGE_SIZE, EventPage, event_page
from flightlog.store.core import Store

#: One release of the watermark: (the highest final id or None for "all", WAL position).
Release = tuple[int | None, int]


class EventPages:
    """One follower's pages of ``store``'s events (of a task or run)."""

    def __init__(
        self, store: Store, *, task_id: uuid.UUID | None = None, run_id: uuid.UUID | None = None
    ) -> None:
        self.store = store
        self.task_id, self.run_id = task_id, run_id
        self.watermark = Watermark()
        self._postgres = store.engine.dialect.name == "postgresql"
        #: The release before the newest, once there is one.
        self._earlier: Release | None = None

    async def next(self, cursor: int) -> EventPage:
        """Events after ``cursor`` that can no longer be joined by an earlier id, oldest first."""
        store = self.store
        if self._postgres:
            async with store.reader() as session:
                await session.run_sync(self.watermark.sample)
        if store.replica_reads is None:
            async with store.reader() as session:
                up_to_id = await session.run_sync(self.watermark.safe_id)
                return await self._read(session, cursor, up_to_id)
        async with store.reader() as session:
            newest = await session.run_sync(self.watermark.release)
        earlier, self._earlier = self._earlier or newest, newest
        async with store.reading(at_least=min(earlier[1], newest[1])) as session:
            replayed = session.info.get(REPLAYED)  # None: the primary, which has everything
            up_to_id = newest[0] if replayed is None or replayed >= newest[1] else earlier[0]
            return await self._read(session, cursor, up_to_id)

    async def _read(self, session: AsyncSession, cursor: int, up_to_id: int | None) -> EventPage:
        session.info[UNIT_SERVICE] = event_page
        return await session.run_sync(
            event_page,
            self.store.customer_id,
            task_id=self.task_id,
            run_id=self.run_id,
            after_id=cursor,
            limit=MAX_PAGE_SIZE,
            up_to_id=up_to_id,
        )
