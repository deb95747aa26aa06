"""Checked by mypy in tests/test_store_typing.py, never run: runs, events, artifacts, claims."""

from __future__ import annotations

import uuid

from flightlog import Store


async def use(store: Store, task_id: uuid.UUID) -> None:
    reveal_type(store.runs.decide_plan)  # noqa: F821
    reveal_type(store.artifacts.put)  # noqa: F821
    reveal_type(store.events.append)  # noqa: F821
    run = await store.runs.start(task_id, await_plan_approval=True, plan={"steps": ["a"]})
    reveal_type(run)  # noqa: F821
    reveal_type(await store.claims.heartbeat(task_id, "w1"))  # noqa: F821
    await store.runs.finish(run.id, cpu_time_ms="fast")  # error: wrong type
    await store.artifacts.put(task_id, "a.txt", b"x", policy=None)  # error: not a parameter
    await store.runs.fail(run.id)  # error: the error message is required
