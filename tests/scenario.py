"""Run an async scenario against a Store inside a transaction that is rolled back.

For property-based tests: hypothesis drives sync test functions, so each
example opens its own engine and event loop, and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.db.engine import create_async_db_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Customer
from flightlog.settings import Settings
from flightlog.store import Store

T = TypeVar("T")


def run_in_rolled_back_store(
    url: DatabaseUrl, settings: Settings, scenario: Callable[[Store], Awaitable[T]]
) -> T:
    async def main() -> T:
        engine = create_async_db_engine(settings, url=url)
        try:
            async with engine.connect() as connection:
                transaction = await connection.begin()
                try:
                    async with AsyncSession(
                        bind=connection,
                        join_transaction_mode="create_savepoint",
                        expire_on_commit=False,
                    ) as s:
                        customer = Customer(name="P", email=f"{uuid.uuid4().hex}@prop.test")
                        s.add(customer)
                        await s.commit()
                    store = Store(engine, settings, customer.id, connection=connection)
                    return await scenario(store)
                finally:
                    await transaction.rollback()
        finally:
            await engine.dispose()

    return asyncio.run(main())
