"""The live feed's watermark: a reader never passes an event id that can still commit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.db.engine import async_session_factory, create_async_db_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import EventType
from flightlog.models import Event
from flightlog.services.event_feed import TAKE_TRANSACTION_ID, Watermark
from flightlog.settings import Settings


async def _poll(reader: AsyncSession, watermark: Watermark) -> int | None:
    """One poll as the live stream makes it: sample, then the safe id, each in its transaction."""
    async with reader.begin():
        await reader.run_sync(watermark.sample)
    async with reader.begin():
        return await reader.run_sync(watermark.safe_id)


@pytest.mark.postgres_only
async def test_the_newest_open_writer_holds_the_watermark_below_its_id(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings
) -> None:
    """A writer whose transaction id is newer than every completed one is running, yet not in
    a snapshot's running list (``xmin`` is then ``xmax``); a watermark built on ``xmax``
    released its id before it committed, and the live feed skipped the event."""
    engine = create_async_db_engine(test_settings, url=db_url)
    sessions = async_session_factory(engine)
    watermark = Watermark()
    try:
        async with sessions() as writer, sessions() as reader:
            await _poll(reader, watermark)  # a first sample, before the writer starts
            await writer.begin()
            await writer.execute(TAKE_TRANSACTION_ID)
            pending = (
                await writer.execute(
                    insert(Event).values(event_type=EventType.LOG).returning(Event.id)
                )
            ).scalar_one()
            for _ in range(3):
                held = await _poll(reader, watermark)
                assert held is not None
                assert held < pending
            await writer.commit()
            released = 0
            for _ in range(100):
                released = await _poll(reader, watermark) or 0
                if released >= pending:
                    break
                await asyncio.sleep(0.1)
            assert released >= pending
    finally:
        await engine.dispose()


@pytest.mark.postgres_only
async def test_an_open_writer_holds_the_watermark_below_its_ids(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings
) -> None:
    engine = create_async_db_engine(test_settings, url=db_url)
    sessions = async_session_factory(engine)
    watermark = Watermark()
    try:
        async with sessions() as slow, sessions() as fast, sessions() as reader:
            await slow.begin()
            await slow.execute(TAKE_TRANSACTION_ID)
            early = (
                await slow.execute(
                    insert(Event).values(event_type=EventType.LOG).returning(Event.id)
                )
            ).scalar_one()
            async with fast.begin():
                await fast.execute(TAKE_TRANSACTION_ID)
                late = (
                    await fast.execute(
                        insert(Event).values(event_type=EventType.LOG).returning(Event.id)
                    )
                ).scalar_one()
            assert early < late  # the later id is committed, the earlier one is not yet
            held = await _poll(reader, watermark)
            assert held is not None
            assert held < early  # a reader must not pass ``late`` while ``early`` may come
            await slow.commit()
            # Once the slow writer is done, the watermark moves past both ids (other
            # work on the same server may hold it back a moment, never for good).
            released = 0
            for _ in range(100):
                released = await _poll(reader, watermark) or 0
                if released >= late:
                    break
                await asyncio.sleep(0.1)
            assert released >= late
    finally:
        await engine.dispose()


@pytest.mark.sqlite_only
async def test_sqlite_needs_no_watermark(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings
) -> None:
    engine = create_async_db_engine(test_settings, url=db_url)
    try:
        async with async_session_factory(engine)() as session:
            assert await session.run_sync(Watermark().safe_id) is None
    finally:
        await engine.dispose()
