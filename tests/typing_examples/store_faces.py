"""Checked by mypy in tests/test_store_typing.py, never run: what an editor sees."""

from __future__ import annotations

from flightlog import Store


async def use(store: Store) -> None:
    reveal_type(store.tasks.get)  # noqa: F821
    reveal_type(store.tasks.create)  # noqa: F821
    task = await store.tasks.create(title="typed", max_rounds=3)
    reveal_type(task)  # noqa: F821
    page = await store.tasks.list(limit=10)
    reveal_type(page)  # noqa: F821
    await store.tasks.create(title="typed", max_rounds="three")  # error: wrong type
    await store.tasks.update(task.id, status="COMPLETED")  # error: not a parameter
    await store.tasks.get()  # error: the id is missing
