"""Checked by mypy in tests/test_client_typing.py, never run: the clients' two faces."""

from __future__ import annotations

import uuid

from flightlog.client import AsyncClient, Client


async def use_async(fl: AsyncClient, task_id: uuid.UUID) -> None:
    reveal_type(fl.tasks.get)  # noqa: F821
    reveal_type(fl.tasks.create)  # noqa: F821
    reveal_type(await fl.tasks.list(limit=10))  # noqa: F821
    reveal_type(fl.events.stream)  # noqa: F821
    reveal_type(await fl.claims.heartbeat(task_id, "w1"))  # noqa: F821
    await fl.tasks.create(title="t", max_rounds="many")  # error: wrong type
    await fl.runs.finish(task_id, status="DONE")  # error: not a RunStatus


def use_sync(fl: Client, task_id: uuid.UUID) -> None:
    reveal_type(fl.tasks.get)  # noqa: F821
    reveal_type(fl.tasks.get(task_id))  # noqa: F821
    reveal_type(fl.events.append_batch)  # noqa: F821
    reveal_type(fl.views.overview())  # noqa: F821
    fl.tasks.update(task_id, status="RUNNING")  # error: not a parameter
    fl.runs.fail(task_id)  # error: the error message is required
