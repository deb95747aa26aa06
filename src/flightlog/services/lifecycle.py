"""Every lifecycle in one place: the transition tables, and :func:`move`, the one way to use them.

Each lifecycle lists, for every status, the statuses it may move to. A
change not in the table raises :class:`InvalidTransition` naming both ends,
before anything is written. Terminal statuses map to an empty set.

A lifecycle may also say which timestamps entering a status sets (a run's
``started_at``, a pull request's ``merged_at``). :func:`move` checks the
table, assigns the status and those timestamps, and writes the audit
``STATUS_CHANGE`` event, in the caller's transaction; services change a
status through it and nowhere else. A service that must refuse before it
writes anything else (both tables of a pair, a merge's checks) calls
:meth:`Lifecycle.check` first; that check is cheap to repeat.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from flightlog.enums import (
    AgentRunStatus,
    AgentStatus,
    ApprovalStatus,
    CustomerStatus,
    ModificationStatus,
    OptimizationStatus,
    PullRequestStatus,
    RecommendationStatus,
    RunStatus,
    TaskStatus,
)
from flightlog.errors import InvalidTransition
from flightlog.services._common import utc_now
from flightlog.services.events import record_transition

if TYPE_CHECKING:
    from flightlog.models import AgentRun, Modification, Optimization, PullRequest, Task, TaskRun

S = TypeVar("S", bound=StrEnum)


class Stateful(Protocol[S]):
    """A row with an id and a status of one lifecycle."""

    @property
    def id(self) -> uuid.UUID: ...

    status: S


#: Sets the timestamps that entering ``status`` implies, at ``now``.
Stamp = Callable[[Any, S, datetime], None]


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """A named transition table over one status enum (``entity`` names it in errors and events)."""

    entity: str
    transitions: Mapping[S, frozenset[S]]
    stamp: Stamp[S] | None = None

    def allowed(self, current: S, target: S) -> bool:
        return target in self.transitions.get(current, frozenset())

    def check(self, current: S, target: S) -> None:
        """Raise :class:`InvalidTransition` unless ``current -> target`` is in the table."""
        if not self.allowed(current, target):
            raise InvalidTransition(self.entity, current.value, target.value)

    def terminal(self, status: S) -> bool:
        return not self.transitions.get(status)

    def assign(self, row: Stateful[S], target: S, *, at: datetime | None = None) -> S:
        """Check, then set the status and its timestamps; no event. Returns the old status.

        :func:`move` is this plus the audit event; only a change recorded
        by another kind of event (an agent run's ``AGENT_COMPLETE``) uses
        it alone. ``at`` is when it happened, if the caller measured it (else now).
        """
        current = row.status
        self.check(current, target)
        row.status = target
        if self.stamp is not None:
            self.stamp(row, target, at or utc_now())
        return current


def move(
    session: Session,
    lifecycle: Lifecycle[S],
    row: Stateful[S],
    target: S,
    *,
    customer_id: uuid.UUID | None,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    agent_run_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> S:
    """Change ``row``'s status along ``lifecycle``: check, assign (with timestamps), audit.

    Raises :class:`InvalidTransition` before touching anything. The
    ``STATUS_CHANGE`` event names the lifecycle's entity and the row, and
    carries ``data`` and the ids given. Does not flush. Returns the old status.
    """
    current = lifecycle.assign(row, target, at=at)
    record_transition(
        session,
        entity=lifecycle.entity,
        entity_id=row.id,
        from_status=current,
        to_status=target,
        customer_id=customer_id,
        task_id=task_id,
        run_id=run_id,
        agent_run_id=agent_run_id,
        agent_id=agent_id,
        actor=actor,
        data=data,
        at=at,
    )
    return current


def _table(entries: dict[S, set[S]]) -> dict[S, frozenset[S]]:
    return {status: frozenset(targets) for status, targets in entries.items()}


# --- Tasks, runs and agent runs -----------------------------------------------------------------

_T = TaskStatus
#: The statuses that end a task's current attempt (CANCELLED also ends the task).
_TASK_FINISHED = frozenset({_T.COMPLETED, _T.FAILED, _T.TIMEOUT, _T.CANCELLED})


def _stamp_task(task: Task, target: TaskStatus, now: datetime) -> None:
    if target is _T.RUNNING and task.started_at is None:
        task.started_at = now
    if target in _TASK_FINISHED:
        task.completed_at = now
    elif target in (_T.PENDING, _T.RUNNING):
        task.completed_at = None


#: A task may be re-run after it finished (seed 000 runs tasks repeatedly), but a
#: cancelled task stays cancelled. RUNNING -> PENDING is a released or expired claim.
TASK_LIFECYCLE: Lifecycle[TaskStatus] = Lifecycle(
    "Task",
    _table(
        {
            _T.PENDING: {_T.RUNNING, _T.CANCELLED},
            _T.RUNNING: {_T.PENDING, _T.COMPLETED, _T.FAILED, _T.TIMEOUT, _T.CANCELLED},
            _T.COMPLETED: {_T.RUNNING, _T.PENDING},
            _T.FAILED: {_T.RUNNING, _T.PENDING, _T.CANCELLED},
            _T.TIMEOUT: {_T.RUNNING, _T.PENDING, _T.CANCELLED},
            _T.CANCELLED: set(),
        }
    ),
    _stamp_task,
)

_R = RunStatus


def _stamp_run(run: TaskRun, target: RunStatus, now: datetime) -> None:
    if target is _R.RUNNING and run.started_at is None:
        run.started_at = now
    if RUN_LIFECYCLE.terminal(target):
        if run.started_at is not None:
            now = max(now, run.started_at)  # a start given by the caller may be a little ahead
            run.duration_seconds = (now - run.started_at).total_seconds()
        run.completed_at = now


#: A run may pause for plan approval before or while running; a rejected plan
#: cancels the run. COMPLETED, FAILED, TIMEOUT and CANCELLED are final.
RUN_LIFECYCLE: Lifecycle[RunStatus] = Lifecycle(
    "TaskRun",
    _table(
        {
            _R.PENDING: {_R.RUNNING, _R.WAITING_APPROVAL, _R.FAILED, _R.CANCELLED},
            _R.WAITING_APPROVAL: {_R.RUNNING, _R.CANCELLED, _R.TIMEOUT},
            _R.RUNNING: {
                _R.WAITING_APPROVAL,
                _R.COMPLETED,
                _R.FAILED,
                _R.TIMEOUT,
                _R.CANCELLED,
            },
            _R.COMPLETED: set(),
            _R.FAILED: set(),
            _R.TIMEOUT: set(),
            _R.CANCELLED: set(),
        }
    ),
    _stamp_run,
)

_AR = AgentRunStatus


def _stamp_agent_run(agent_run: AgentRun, target: AgentRunStatus, now: datetime) -> None:
    if AGENT_RUN_LIFECYCLE.terminal(target):
        now = max(now, agent_run.started_at)  # a start given by the caller may be a little ahead
        agent_run.finished_at = now
        agent_run.duration_seconds = (now - agent_run.started_at).total_seconds()


AGENT_RUN_LIFECYCLE: Lifecycle[AgentRunStatus] = Lifecycle(
    "AgentRun",
    _table(
        {
            _AR.STARTED: {_AR.RUNNING, _AR.COMPLETED, _AR.FAILED, _AR.CANCELLED},
            _AR.RUNNING: {_AR.COMPLETED, _AR.FAILED, _AR.CANCELLED},
            _AR.COMPLETED: set(),
            _AR.FAILED: set(),
            _AR.CANCELLED: set(),
        }
    ),
    _stamp_agent_run,
)

ACTIVE_RUN_STATUSES = frozenset({_R.PENDING, _R.WAITING_APPROVAL, _R.RUNNING})
ACTIVE_AGENT_RUN_STATUSES = frozenset({_AR.STARTED, _AR.RUNNING})

# --- Agents and customers -----------------------------------------------------------------------

_A = AgentStatus
#: Stored transitions. Heartbeats move an agent to HEALTHY; deregistering stops it;
#: only a new registration brings a STOPPED agent back (to STARTING). DEGRADED and
#: FAILED are normally derived (see :func:`flightlog.services.agents.effective_status`),
#: but are in the table so that a stored value of either can still be left.
AGENT_LIFECYCLE: Lifecycle[AgentStatus] = Lifecycle(
    "Agent",
    _table(
        {
            _A.STARTING: {_A.HEALTHY, _A.DEGRADED, _A.FAILED, _A.STOPPED},
            _A.HEALTHY: {_A.DEGRADED, _A.FAILED, _A.STOPPED},
            _A.DEGRADED: {_A.HEALTHY, _A.FAILED, _A.STOPPED},
            _A.FAILED: {_A.HEALTHY, _A.STOPPED},
            _A.STOPPED: {_A.STARTING},
        }
    ),
)

_C = CustomerStatus
#: Suspension is reversible; churn is the end of the relationship, so nothing leaves CHURNED
#: (a returning tenant signs up again as a new customer, with a clean audit trail).
CUSTOMER_LIFECYCLE: Lifecycle[CustomerStatus] = Lifecycle(
    "Customer",
    _table(
        {
            _C.ACTIVE: {_C.SUSPENDED, _C.CHURNED},
            _C.SUSPENDED: {_C.ACTIVE, _C.CHURNED},
            _C.CHURNED: set(),
        }
    ),
)

# --- Governance: recommendations, approvals, optimizations (seed 002) ---------------------------

_RE = RecommendationStatus
#: REJECTED, FAILED and ROLLED_BACK are final: a new attempt is a new recommendation,
#: so the history of the old one (and of its approval) is never rewritten.
RECOMMENDATION_LIFECYCLE: Lifecycle[RecommendationStatus] = Lifecycle(
    "Recommendation",
    _table(
        {
            _RE.PENDING: {_RE.APPROVED, _RE.REJECTED},
            _RE.APPROVED: {_RE.EXECUTING},
            _RE.EXECUTING: {_RE.COMPLETED, _RE.FAILED},
            _RE.COMPLETED: {_RE.ROLLED_BACK},
            _RE.REJECTED: set(),
            _RE.FAILED: set(),
            _RE.ROLLED_BACK: set(),
        }
    ),
)

_AP = ApprovalStatus
#: A decision is taken once; changing one's mind means a new recommendation.
APPROVAL_LIFECYCLE: Lifecycle[ApprovalStatus] = Lifecycle(
    "Approval",
    _table(
        {
            _AP.PENDING: {_AP.APPROVED, _AP.REJECTED},
            _AP.APPROVED: set(),
            _AP.REJECTED: set(),
        }
    ),
)

_O = OptimizationStatus


def _stamp_optimization(
    optimization: Optimization, target: OptimizationStatus, now: datetime
) -> None:
    if target is _O.EXECUTING:
        optimization.started_at = now
    elif target in (_O.COMPLETED, _O.FAILED):
        optimization.completed_at = now
    elif target is _O.ROLLED_BACK:
        optimization.rolled_back_at = now


#: A queued optimization may fail before it starts (the executor refused it);
#: FAILED and ROLLED_BACK are final, a retry is a new recommendation.
OPTIMIZATION_LIFECYCLE: Lifecycle[OptimizationStatus] = Lifecycle(
    "Optimization",
    _table(
        {
            _O.QUEUED: {_O.EXECUTING, _O.FAILED},
            _O.EXECUTING: {_O.COMPLETED, _O.FAILED},
            _O.COMPLETED: {_O.ROLLED_BACK},
            _O.FAILED: set(),
            _O.ROLLED_BACK: set(),
        }
    ),
    _stamp_optimization,
)

#: What the recommendation becomes when its optimization reaches a status.
RECOMMENDATION_FOLLOWS = {
    _O.COMPLETED: _RE.COMPLETED,
    _O.FAILED: _RE.FAILED,
    _O.ROLLED_BACK: _RE.ROLLED_BACK,
}

# --- Modifications (seed 003) and pull requests (seed 004) --------------------------------------

_M = ModificationStatus


def _stamp_modification(
    modification: Modification, target: ModificationStatus, now: datetime
) -> None:
    if target is _M.APPLIED:
        modification.applied_at = now


#: A request is approved or rejected; an approved one is applied or fails.
#: APPLIED, FAILED and REJECTED are final: a retry is a new request.
MODIFICATION_LIFECYCLE: Lifecycle[ModificationStatus] = Lifecycle(
    "Modification",
    _table(
        {
            _M.PENDING: {_M.APPROVED, _M.REJECTED},
            _M.APPROVED: {_M.APPLIED, _M.FAILED},
            _M.APPLIED: set(),
            _M.FAILED: set(),
            _M.REJECTED: set(),
        }
    ),
    _stamp_modification,
)

_P = PullRequestStatus


def _stamp_pull_request(pr: PullRequest, target: PullRequestStatus, now: datetime) -> None:
    if target is _P.MERGED:
        pr.merged_at = now
    elif target is _P.CLOSED:
        pr.closed_at = now


PULL_REQUEST_LIFECYCLE: Lifecycle[PullRequestStatus] = Lifecycle(
    "PullRequest",
    _table(
        {
            _P.DRAFT: {_P.OPEN, _P.CLOSED},
            _P.OPEN: {_P.CHANGES_REQUESTED, _P.APPROVED, _P.CLOSED},
            _P.CHANGES_REQUESTED: {_P.OPEN, _P.APPROVED, _P.CLOSED},
            _P.APPROVED: {_P.MERGED, _P.CHANGES_REQUESTED, _P.CLOSED},
            _P.MERGED: set(),
            _P.CLOSED: set(),
        }
    ),
    _stamp_pull_request,
)

__all__ = [
    "ACTIVE_AGENT_RUN_STATUSES",
    "ACTIVE_RUN_STATUSES",
    "AGENT_LIFECYCLE",
    "AGENT_RUN_LIFECYCLE",
    "APPROVAL_LIFECYCLE",
    "CUSTOMER_LIFECYCLE",
    "MODIFICATION_LIFECYCLE",
    "OPTIMIZATION_LIFECYCLE",
    "PULL_REQUEST_LIFECYCLE",
    "RECOMMENDATION_FOLLOWS",
    "RECOMMENDATION_LIFECYCLE",
    "RUN_LIFECYCLE",
    "TASK_LIFECYCLE",
    "Lifecycle",
    "Stateful",
    "move",
]
