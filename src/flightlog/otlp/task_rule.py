"""Which task a trace's run (or a service's metrics) belongs to, for many at once.

The rule (docs/otlp.md): an explicit ``flightlog.task_id`` must be one of the
customer's tasks, not cancelled; otherwise the customer's oldest task with the
title that is not cancelled, created (tagged ``opentelemetry``) when there is
none. Tasks found are locked (PostgreSQL ``FOR UPDATE``) until the transaction
ends, so run numbers and statistics written for them stay exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import TaskStatus
from flightlog.models import Task
from flightlog.otlp import mapping
from flightlog.otlp.ledger import clean_text
from flightlog.otlp.records import SOURCE
from flightlog.services import tasks
from flightlog.services._common import chunks

#: (explicit task id text or None, title, service name or None).
TaskRef = tuple[str | None, str, str | None]


def _title(text: str) -> str:
    return clean_text(text).strip()[:500] or "OpenTelemetry trace"


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
    query = select(Task.id, Task.title, Task.status).where(Task.customer_id == customer_id)
    rows = [
        row
        for ids, names in _pairs(sorted(explicit), titles)
        for row in session.execute(
            query.where(Task.id.in_(ids) | Task.title.in_(names))
            .order_by(Task.id)
            .with_for_update()
        ).all()
    ]
    by_id = {row.id: row for row in rows}
    by_title: dict[str, uuid.UUID] = {}
    for row in sorted(rows, key=lambda r: r.id):  # ids grow with time: the oldest first
        if row.status is not TaskStatus.CANCELLED:  # a cancelled task takes no new runs
            by_title.setdefault(row.title, row.id)
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


def _pairs(ids: list[uuid.UUID], titles: list[str]) -> list[tuple[list[uuid.UUID], list[str]]]:
    """Both lists cut into chunks that keep each statement's IN lists short."""
    id_parts, title_parts = list(chunks(ids)) or [[]], list(chunks(titles)) or [[]]
    width = max(len(id_parts), len(title_parts))
    id_parts += [[]] * (width - len(id_parts))
    title_parts += [[]] * (width - len(title_parts))
    return list(zip(id_parts, title_parts, strict=True))
