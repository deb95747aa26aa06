"""Checked by mypy in tests/test_store_typing.py, never run: the tenancy facades."""

from __future__ import annotations

import uuid

from flightlog import Store


async def use(store: Store, some_id: uuid.UUID) -> None:
    reveal_type(store.customers.set_status)  # noqa: F821
    reveal_type(store.api_keys.create)  # noqa: F821
    reveal_type(store.agents.list)  # noqa: F821
    reveal_type(await store.agents.status(some_id))  # noqa: F821
    await store.customers.update(email="x@example.test")  # error: not a parameter
    await store.api_keys.revoke(some_id, reason=3)  # error: a reason is text
    await store.agents.status(some_id, degraded_after="1m")  # error: seconds or a timedelta
