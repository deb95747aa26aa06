"""Deleting a customer and everything it owns (seed 002), with an audit record that outlives it.

Every table a customer owns hangs off ``customers.id`` through ``ON DELETE
CASCADE`` foreign keys (directly, or through its tasks, runs and projects),
so one ``DELETE`` of the customer row removes it all in one transaction.
What the database cannot do is remove blob files: blob rows that no remaining
artifact refers to are deleted here, and their files are returned for
removal after the commit, never before, so a rollback cannot leave a row
pointing at a missing file.

The audit record cannot be a row the customer owns, or the cascade would
delete it with everything else. It is an ``AUDIT`` event with no customer
(``customer_id`` NULL), ``entity_type = 'Customer'`` and the customer's id as
``entity_id``: no tenant's Store or key can read it, and operators read it
with :func:`list_customer_deletions`. It keeps the id, name, plan, status,
who deleted it and why, and how many rows went, but not the email address:
deleting a customer is how its personal data leaves the system.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from flightlog import models as m
from flightlog.enums import EventType
from flightlog.errors import NotFound
from flightlog.services import events
from flightlog.services._common import require
from flightlog.services.artifacts import orphaned_blobs

#: ``events.entity_type`` of a customer's deletion record.
CUSTOMER_ENTITY = "Customer"
DELETED = "deleted"
MAX_DELETIONS_PAGE = 500


def _owned_counts(customer_id: uuid.UUID) -> dict[str, Select[Any]]:
    """One count per table the customer's deletion empties, by table name."""
    tasks = select(m.Task.id).where(m.Task.customer_id == customer_id)
    projects = select(m.Project.id).where(m.Project.customer_id == customer_id)

    def owned(model: Any) -> Select[Any]:
        return select(func.count()).select_from(model).where(model.customer_id == customer_id)

    def of_tasks(model: Any) -> Select[Any]:
        return select(func.count()).select_from(model).where(model.task_id.in_(tasks))

    def of_projects(model: Any) -> Select[Any]:
        return select(func.count()).select_from(model).where(model.project_id.in_(projects))

    pull_requests = select(m.PullRequest.id).where(m.PullRequest.project_id.in_(projects))
    return {
        "projects": owned(m.Project),
        "project_contexts": of_projects(m.ProjectContext),
        "modifications": of_projects(m.Modification),
        "pull_requests": of_projects(m.PullRequest),
        "pull_request_checks": select(func.count())
        .select_from(m.PullRequestCheck)
        .where(m.PullRequestCheck.pull_request_id.in_(pull_requests)),
        "tasks": owned(m.Task),
        "task_runs": of_tasks(m.TaskRun),
        "agent_runs": of_tasks(m.AgentRun),
        "events": owned(m.Event),
        "metric_points": of_tasks(m.MetricPoint),
        "artifacts": of_tasks(m.Artifact),
        "agents": owned(m.Agent),
        "sessions": owned(m.AgentSession),
        "recommendations": owned(m.Recommendation),
        "approvals": owned(m.Approval),
        "optimizations": owned(m.Optimization),
        "templates": owned(m.Template),
        "api_keys": owned(m.ApiKey),
        "local_sign_ins": owned(m.LocalSignIn),
        "otlp_spans": owned(m.OtlpSpan),
    }


def customer_footprint(session: Session, customer_id: uuid.UUID, /) -> dict[str, int]:
    """How many rows of each table deleting the customer would remove (a read only).

    Events count every event of the customer (task events and customer-level
    ones); metric points, artifacts, runs and agent runs count those of its
    tasks. What an operator is shown before confirming a deletion.
    """
    if session.get(m.Customer, customer_id) is None:
        raise NotFound(f"Customer {customer_id} not found", entity="Customer", id=str(customer_id))
    return {
        table: int(session.scalar(query) or 0)
        for table, query in _owned_counts(customer_id).items()
    }


@dataclass
class CustomerDeletionResult:
    """What went, the audit event that records it, and the blob files to remove after commit."""

    customer_id: uuid.UUID
    name: str
    deleted: dict[str, int]
    audit_event_id: int
    blobs_deleted: int = 0
    files_to_remove: list[str] = field(default_factory=list)


def delete_customer(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> CustomerDeletionResult:
    """Operator: delete the customer and everything it owns, audited; :class:`NotFound` if unknown.

    Runs outside the tenant write guard (a suspended or churned customer can be
    deleted). The customer row is locked first, so a concurrent writer for it
    either finishes before the deletion or fails after it. The audit event
    (``AUDIT``, no customer, ``entity_type='Customer'``) is written in the same
    transaction: the deletion and its record commit together or not at all.
    """
    require(actor is None or len(actor) <= 255, "actor must be at most 255 characters")
    require(reason is None or len(reason) <= 1000, "reason must be at most 1000 characters")
    customer = session.get(m.Customer, customer_id, with_for_update=True, populate_existing=True)
    if customer is None:
        raise NotFound(f"Customer {customer_id} not found", entity="Customer", id=str(customer_id))
    counts = customer_footprint(session, customer_id)
    its_tasks = select(m.Task.id).where(m.Task.customer_id == customer_id)
    stmt = select(m.Artifact.sha256).where(m.Artifact.task_id.in_(its_tasks)).distinct()
    hashes = set(session.scalars(stmt).all())
    name, plan, status = customer.name, customer.plan.value, customer.status.value
    session.execute(delete(m.Customer).where(m.Customer.id == customer_id))
    files: list[str] = []
    blobs = orphaned_blobs(session, hashes)
    for blob in blobs:
        if blob.storage_path is not None:
            files.append(blob.storage_path)
        session.delete(blob)
    audit = events.record_audit(
        session,
        entity=CUSTOMER_ENTITY,
        entity_id=customer_id,
        action=DELETED,
        content=f"Customer {name!r} deleted with everything it owned",
        customer_id=None,
        actor=actor,
        data={
            "name": name,
            "plan": plan,
            "status": status,
            "reason": reason,
            "deleted": counts,
            "blobs_deleted": len(blobs),
        },
    )
    session.flush()
    result = CustomerDeletionResult(
        customer_id=customer_id,
        name=name,
        deleted=counts,
        audit_event_id=audit.id,
        blobs_deleted=len(blobs),
        files_to_remove=files,
    )
    # Rows the database cascaded away are still in the identity map; drop them.
    session.expunge_all()
    return result


@dataclass(frozen=True)
class CustomerDeletion:
    """The audit record of one deleted customer, read back from its event."""

    event_id: int
    customer_id: uuid.UUID
    name: str
    plan: str | None
    status: str | None
    deleted_at: datetime
    actor: str | None
    reason: str | None
    deleted: dict[str, int]
    blobs_deleted: int


def _deletion(row: m.Event) -> CustomerDeletion:
    data: dict[str, Any] = dict(row.data or {})
    return CustomerDeletion(
        event_id=row.id,
        customer_id=uuid.UUID(str(row.entity_id)),
        name=str(data.get("name", "")),
        plan=data.get("plan"),
        status=data.get("status"),
        deleted_at=row.created_at,
        actor=row.actor,
        reason=data.get("reason"),
        deleted={str(k): int(v) for k, v in dict(data.get("deleted") or {}).items()},
        blobs_deleted=int(data.get("blobs_deleted") or 0),
    )


def list_customer_deletions(
    session: Session,
    *,
    customer_id: uuid.UUID | None = None,
    limit: int = 50,
) -> list[CustomerDeletion]:
    """Operator: the deleted customers' audit records, newest first (one customer's, if given).

    Not a tenant's view: the records belong to no customer, so a tenant-bound
    Store offers it only as an operator read, like the model prices.
    """
    require(1 <= limit <= MAX_DELETIONS_PAGE, f"limit must be between 1 and {MAX_DELETIONS_PAGE}")
    stmt = select(m.Event).where(
        m.Event.customer_id.is_(None),
        m.Event.event_type == EventType.AUDIT,
        m.Event.entity_type == CUSTOMER_ENTITY,
        m.Event.data["action"].as_string() == DELETED,
    )
    if customer_id is not None:
        stmt = stmt.where(m.Event.entity_id == str(customer_id))
    rows = session.scalars(stmt.order_by(m.Event.id.desc()).limit(limit)).all()
    return [_deletion(row) for row in rows]


__all__ = [
    "CUSTOMER_ENTITY",
    "CustomerDeletion",
    "CustomerDeletionResult",
    "customer_footprint",
    "delete_customer",
    "list_customer_deletions",
]
