"""Plan approval: a run proposes a plan and a person approves (the run resumes) or rejects
it (the run ends CANCELLED)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from flightlog.enums import ApprovalStatus, RunStatus
from flightlog.errors import Conflict
from flightlog.models import TaskRun
from flightlog.services._common import require, utc_now
from flightlog.services.run_endings import end_run
from flightlog.services.run_locks import lock_run, set_run_status


def submit_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    plan: dict[str, Any],
    *,
    actor: str | None = None,
) -> TaskRun:
    """A running run proposes a plan and waits until a person approves it."""
    task, run = lock_run(session, run_id, customer_id)
    set_run_status(session, task, run, RunStatus.WAITING_APPROVAL, actor=actor)
    run.plan = plan
    run.plan_status = ApprovalStatus.PENDING
    run.plan_decided_by = run.plan_decided_at = run.plan_comment = None
    session.flush()
    return run


def decide_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    approve: bool,
    decided_by: str,
    comment: str | None = None,
) -> TaskRun:
    """Record a person's decision on the plan: approval resumes the run, rejection ends it."""
    require(bool(decided_by and decided_by.strip()), "decided_by must name who decided")
    task, run = lock_run(session, run_id, customer_id)
    if run.status is not RunStatus.WAITING_APPROVAL:
        raise Conflict(f"run {run_id} is {run.status}, not waiting for plan approval")
    run.plan_status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    run.plan_decided_by = decided_by
    run.plan_decided_at = utc_now()
    run.plan_comment = comment
    decision = {"plan_decision": run.plan_status.value, "comment": comment}
    if approve:
        set_run_status(session, task, run, RunStatus.RUNNING, actor=decided_by, data=decision)
        session.flush()
    else:
        end_run(session, task, run, RunStatus.CANCELLED, actor=decided_by, data=decision)
    return run


def approve_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> TaskRun:
    """:func:`decide_plan` with ``approve=True``: the run resumes RUNNING."""
    return decide_plan(
        session, customer_id, run_id, approve=True, decided_by=decided_by, comment=comment
    )


def reject_plan(
    session: Session,
    customer_id: uuid.UUID,
    /,
    run_id: uuid.UUID,
    *,
    decided_by: str,
    comment: str | None = None,
) -> TaskRun:
    """:func:`decide_plan` with ``approve=False``: the run ends CANCELLED."""
    return decide_plan(
        session, customer_id, run_id, approve=False, decided_by=decided_by, comment=comment
    )
