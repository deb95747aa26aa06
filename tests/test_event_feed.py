"""The live feed's watermark: a reader never passes an event id that can still commit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert

from flightlog.db.engine import async_session_factory, create_async_db_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import EventType
from flightlog.models import Event
from flightlog.services.event_feed import TAKE_TRANSACTION_ID, Watermark
from flightlog.settings import Settings


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
            async with reader.begin():
                held = await reader.run_sync(watermark.safe_id)
            assert held is not None
            assert held < early  # a reader must not pass ``late`` while ``early`` may come
            await slow.commit()
            # Once the slow writer is done, the watermark moves past both ids (other
            # work on the same server may hold it back a moment, never for good).
            released = 0
            for _ in range(100):
                async with reader.begin():
                    released = await reader.run_sync(watermark.safe_id) or 0
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
