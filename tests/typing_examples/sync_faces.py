"""Checked by mypy in tests/test_store_typing.py, never run: the synchronous Store's faces."""

from __future__ import annotations

from flightlog import SyncStore


def use(store: SyncStore) -> None:
    reveal_type(store.tasks.get)  # noqa: F821
    task = store.tasks.create(title="typed", max_rounds=3)
    reveal_type(task)  # noqa: F821
    reveal_type(store.events.append_batch)  # noqa: F821
    reveal_type(store.customers.create)  # noqa: F821
    store.tasks.create(title="typed", max_rounds="three")  # error: wrong type
    store.tasks.update(task.id, status="COMPLETED")  # error: not a parameter
    store.runs.start()  # error: the task id is missing
