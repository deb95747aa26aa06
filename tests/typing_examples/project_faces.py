"""Checked by mypy in tests/test_store_typing.py, never run: the project and template facades."""

from __future__ import annotations

import uuid

from flightlog import Store


async def use(store: Store, some_id: uuid.UUID) -> None:
    reveal_type(store.projects.update)  # noqa: F821
    reveal_type(store.project_contexts.get)  # noqa: F821
    reveal_type(store.templates.create_project)  # noqa: F821
    reveal_type(store.modifications.approve)  # noqa: F821
    await store.projects.update(some_id, created_at=None)  # error: not a parameter
    await store.templates.create(name="t", setup_time_minutes="15")  # error: an int
    await store.modifications.fail(some_id)  # error: error_message is required
