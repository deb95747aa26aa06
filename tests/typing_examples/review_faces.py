"""Checked by mypy in tests/test_store_typing.py, never run: the review and report facades."""

from __future__ import annotations

import uuid

from flightlog import Store


async def use(store: Store, some_id: uuid.UUID) -> None:
    reveal_type(store.pull_requests.transition)  # noqa: F821
    reveal_type(store.recommendations.approve)  # noqa: F821
    reveal_type(store.optimizations.report_progress)  # noqa: F821
    reveal_type(store.search.tasks)  # noqa: F821
    reveal_type(store.views.overview)  # noqa: F821
    await store.pull_requests.merge(some_id, status="OPEN")  # error: merge names the status
    await store.optimizations.report_progress(some_id, "60")  # error: progress is an int
