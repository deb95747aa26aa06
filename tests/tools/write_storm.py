"""Many concurrent writers on one database, for the SQLite write-queue tests.

Run as a script so that several processes can write to one SQLite file at once:

    python write_storm.py URL CUSTOMER_ID WRITERS WRITES TAG

It runs WRITERS coroutines in one event loop, each creating a task and making
WRITES writes to it (an event append, and every fifth write a run started and
finished), and prints
one JSON line: {"acknowledged": [event contents], "errors": ["Type: message", ...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from flightlog import Store, open_store


async def _writer(store: Store, name: str, writes: int) -> list[str]:
    task_id = (await store.tasks.create(title=name)).id
    acknowledged = []
    for i in range(writes):
        content = f"{name}-{i}"
        await store.events.append({"event_type": "LOG", "task_id": task_id, "content": content})
        acknowledged.append(content)
        if i % 5 == 0:
            run = await store.runs.start(task_id)
            await store.runs.finish(run.id)
    return acknowledged


async def _storm(url: str, customer: str, writers: int, writes: int, tag: str) -> None:
    acknowledged: list[str] = []
    errors: list[str] = []
    async with open_store(url, customer_id=uuid.UUID(customer), upgrade=False) as store:
        outcomes = await asyncio.gather(
            *(_writer(store, f"{tag}-{w}", writes) for w in range(writers)),
            return_exceptions=True,
        )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            errors.append(f"{type(outcome).__name__}: {outcome}")
        else:
            acknowledged.extend(outcome)
    print(json.dumps({"acknowledged": acknowledged, "errors": errors}))


if __name__ == "__main__":
    url, customer, writers, writes, tag = sys.argv[1:6]
    asyncio.run(_storm(url, customer, int(writers), int(writes), tag))
