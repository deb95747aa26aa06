"""Which task a trace's run (or a service's metrics) belongs to, for many at once.

The rule (docs/otlp.md): an explicit ``flightlog.task_id`` must be one of the
customer's tasks, not cancelled; otherwise the customer's oldest task with the
title that is not cancelled, created (tagged ``opentelemetry``) when there is
none.

On PostgreSQL the tasks found are held ``FOR KEY SHARE`` until the transaction
ends: none can be deleted under the request, yet other requests for the same
tasks go on beside it. Their run numbers and statistics are written later,
under the tasks' row locks (:mod:`flightlog.otlp.writer`), which also sees a
task cancelled meanwhile. A title with no task is created under an advisory
lock of its own, read again once held, so two requests naming the same new
title make one task.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from flightlog.enums import TaskStatus
from flightlog.models import Task
from flightlog.otlp import mapping
from flightlog.otlp.ledger import clean_text
from flightlog.otlp.records import SOURCE
from flightlog.services import tasks
from flightlog.services._common import chunks, fitted
from flightlog.services._dialect import lock_names_for_customer

#: (explicit task id text or None, title, service name or None).
TaskRef = tuple[str | None, str, str | None]


def _title(text: str) -> str:
    return fitted(clean_text(text).strip(), 500) or "OpenTelemetry trace"


def resolve_tasks(
    session: Session, customer_id: uuid.UUID, refs: Iterable[TaskRef]
) -> dict[TaskRef, uuid.UUID | str]:
    """Each reference's task id, or the reason it cannot take a run (one sentence)."""
    wanted = sorted(set(refs), key=lambda ref: (ref[0] or "", ref[1], ref[2] or ""))
    found: dict[TaskRef, uuid.UUID | str] = {}
    explicit: dict[uuid.UUID, list[TaskRef]] = {}
    for ref in wanted:
        if ref[0] is None:
            continue
        try:
            explicit.setdefault(uuid.UUID(ref[0]), []).append(ref)
        except ValueError:
            found[ref] = f"{mapping.TASK_ID} must be a task's UUID, got {ref[0][:64]!r}"
    titles = sorted({_title(ref[1]) for ref in wanted if ref[0] is None})
    rows = _held(session, customer_id, sorted(explicit), titles)
    by_id = {row.id: row for row in rows}
    by_title = _oldest_by_title(rows)
    missing = [title for title in titles if title not in by_title]
    if missing:
        # Another request may be creating the same title: queue on it, then look again.
        lock_names_for_customer(session, "otlp-task-title", customer_id, missing)
        by_title.update(_oldest_by_title(_held(session, customer_id, [], missing)))
    for task_id, asking in explicit.items():
        match = by_id.get(task_id)
        for ref in asking:
            if match is None:
                found[ref] = f"Task {task_id} not found"
            elif match.status is TaskStatus.CANCELLED:
                found[ref] = f"task {task_id} is CANCELLED and takes no new runs"
            else:
                found[ref] = task_id
    for ref in wanted:
        if ref[0] is not None:
            continue
        title = _title(ref[1])
        if title not in by_title:
            origin = clean_text(ref[2] or "an unnamed service")
            task = tasks.create_task(
                session,
                customer_id,
                title=title,
                description=f"Recorded from the OpenTelemetry telemetry of {origin}.",
                tags=[SOURCE],
                context={"source": SOURCE, "service.name": origin},
            )
            by_title[title] = task.id
        found[ref] = by_title[title]
    return found


def _held(
    session: Session, customer_id: uuid.UUID, ids: list[uuid.UUID], titles: list[str]
) -> list[Row[tuple[uuid.UUID, str, TaskStatus]]]:
    """The customer's tasks with these ids or titles, held against deletion (``FOR KEY SHARE``)."""
    query = select(Task.id, Task.title, Task.status).where(Task.customer_id == customer_id)
    return [
        row
        for id_part, title_part in _pairs(ids, titles)
        for row in session.execute(
            query.where(Task.id.in_(id_part) | Task.title.in_(title_part))
            .order_by(Task.id)
            .with_for_update(read=True, key_share=True)
        ).all()
    ]


def _oldest_by_title(
    rows: Iterable[Row[tuple[uuid.UUID, str, TaskStatus]]],
) -> dict[str, uuid.UUID]:
    """Each title's oldest task that takes runs (ids grow with time; cancelled ones take none)."""
    by_title: dict[str, uuid.UUID] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.status is not TaskStatus.CANCELLED:
            by_title.setdefault(row.title, row.id)
    return by_title


def _pairs(ids: list[uuid.UUID], titles: list[str]) -> list[tuple[list[uuid.UUID], list[str]]]:
    """Both lists cut into chunks that keep each statement's IN lists short."""
    id_parts, title_parts = list(chunks(ids)) or [[]], list(chunks(titles)) or [[]]
    width = max(len(id_parts), len(title_parts))
    id_parts += [[]] * (width - len(id_parts))
    title_parts += [[]] * (width - len(title_parts))
    return list(zip(id_parts, title_parts, strict=True))
