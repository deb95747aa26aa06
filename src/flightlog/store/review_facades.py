"""Facades for human review and reporting: recommendations, optimizations,
pull requests, search and the reporting views.

Like :mod:`flightlog.store.facades`, each method is one transaction bound to
the Store's customer (writes via ``transaction()``, reads via ``reader()``),
passing arguments through to the service functions that document them.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from flightlog.enums import PullRequestStatus
from flightlog.models import Approval, Optimization, PullRequest, PullRequestCheck, Recommendation
from flightlog.models import Task as TaskRow
from flightlog.services import (
    optimizations,
    pull_requests,
    recommendations,
    search,
    views,
)
from flightlog.services import overview as overview_service
from flightlog.store.facades import _Facade


class Recommendations(_Facade):
    """``store.recommendations``: create, decide (approve/reject), get, list, approval queue."""

    async def create(self, **fields: Any) -> Recommendation:
        async with self._store.transaction() as s:
            return await recommendations.create_recommendation(
                s, customer_id=self._customer, **fields
            )

    async def get(self, recommendation_id: uuid.UUID) -> Recommendation:
        async with self._store.reader() as s:
            return await recommendations.get_recommendation(
                s, recommendation_id, customer_id=self._customer
            )

    async def decide(
        self,
        recommendation_id: uuid.UUID,
        *,
        approve: bool,
        decided_by: str,
        comment: str | None = None,
    ) -> Approval:
        """Record a person's approval or rejection (who, when, why) in one transaction."""
        async with self._store.transaction() as s:
            return await recommendations.decide(
                s,
                recommendation_id,
                customer_id=self._customer,
                approve=approve,
                decided_by=decided_by,
                comment=comment,
            )

    async def approve(
        self, recommendation_id: uuid.UUID, *, decided_by: str, comment: str | None = None
    ) -> Approval:
        return await self.decide(
            recommendation_id, approve=True, decided_by=decided_by, comment=comment
        )

    async def reject(
        self, recommendation_id: uuid.UUID, *, decided_by: str, comment: str | None = None
    ) -> Approval:
        return await self.decide(
            recommendation_id, approve=False, decided_by=decided_by, comment=comment
        )

    async def list(self, **filters: Any) -> builtins.list[Recommendation]:
        async with self._store.reader() as s:
            return await recommendations.list_recommendations(
                s, customer_id=self._customer, **filters
            )

    async def pending_approvals(self, limit: int = 100) -> builtins.list[Approval]:
        async with self._store.reader() as s:
            return await recommendations.pending_approvals(
                s, customer_id=self._customer, limit=limit
            )

    async def approvals(self, recommendation_id: uuid.UUID) -> builtins.list[Approval]:
        async with self._store.reader() as s:
            return await recommendations.approvals_for(
                s, recommendation_id, customer_id=self._customer
            )


class Optimizations(_Facade):
    """``store.optimizations``: start from an approved recommendation, begin, progress,
    complete, fail, roll back, get, list."""

    async def start(self, recommendation_id: uuid.UUID, **kw: Any) -> Optimization:
        async with self._store.transaction() as s:
            return await optimizations.start_optimization(
                s, recommendation_id, customer_id=self._customer, **kw
            )

    async def begin(self, optimization_id: uuid.UUID, **kw: Any) -> Optimization:
        async with self._store.transaction() as s:
            return await optimizations.begin(s, optimization_id, customer_id=self._customer, **kw)

    async def report_progress(
        self, optimization_id: uuid.UUID, progress: int, **kw: Any
    ) -> Optimization:
        async with self._store.transaction() as s:
            return await optimizations.report_progress(
                s, optimization_id, progress, customer_id=self._customer, **kw
            )

    async def complete(self, optimization_id: uuid.UUID, **kw: Any) -> Optimization:
        async with self._store.transaction() as s:
            return await optimizations.complete(
                s, optimization_id, customer_id=self._customer, **kw
            )

    async def fail(
        self, optimization_id: uuid.UUID, *, error_message: str, **kw: Any
    ) -> Optimization:
        async with self._store.transaction() as s:
            return await optimizations.fail(
                s, optimization_id, customer_id=self._customer, error_message=error_message, **kw
            )

    async def rollback(self, optimization_id: uuid.UUID, *, reason: str, **kw: Any) -> Optimization:
        async with self._store.transaction() as s:
            return await optimizations.rollback(
                s, optimization_id, customer_id=self._customer, reason=reason, **kw
            )

    async def get(self, optimization_id: uuid.UUID) -> Optimization:
        async with self._store.reader() as s:
            return await optimizations.get_optimization(
                s, optimization_id, customer_id=self._customer
            )

    async def list(self, **filters: Any) -> builtins.list[Optimization]:
        async with self._store.reader() as s:
            return await optimizations.list_optimizations(s, customer_id=self._customer, **filters)


class PullRequests(_Facade):
    """``store.pull_requests``: create, review transitions, merge, close, checks, list."""

    async def create(self, **fields: Any) -> PullRequest:
        async with self._store.transaction() as s:
            return await pull_requests.create_pull_request(s, customer_id=self._customer, **fields)

    async def get(self, pull_request_id: uuid.UUID) -> PullRequest:
        async with self._store.reader() as s:
            return await pull_requests.get_pull_request(
                s, pull_request_id, customer_id=self._customer
            )

    async def transition(
        self, pull_request_id: uuid.UUID, status: PullRequestStatus | str, **kw: Any
    ) -> PullRequest:
        async with self._store.transaction() as s:
            return await pull_requests.transition_pull_request(
                s, pull_request_id, status, customer_id=self._customer, **kw
            )

    async def open(self, pull_request_id: uuid.UUID, **kw: Any) -> PullRequest:
        """Ready for review: from DRAFT, or back after changes were requested."""
        return await self.transition(pull_request_id, PullRequestStatus.OPEN, **kw)

    async def request_changes(self, pull_request_id: uuid.UUID, **kw: Any) -> PullRequest:
        return await self.transition(pull_request_id, PullRequestStatus.CHANGES_REQUESTED, **kw)

    async def approve(self, pull_request_id: uuid.UUID, **kw: Any) -> PullRequest:
        return await self.transition(pull_request_id, PullRequestStatus.APPROVED, **kw)

    async def merge(self, pull_request_id: uuid.UUID, **kw: Any) -> PullRequest:
        return await self.transition(pull_request_id, PullRequestStatus.MERGED, **kw)

    async def close(self, pull_request_id: uuid.UUID, **kw: Any) -> PullRequest:
        return await self.transition(pull_request_id, PullRequestStatus.CLOSED, **kw)

    async def record_check(self, pull_request_id: uuid.UUID, **kw: Any) -> PullRequestCheck:
        async with self._store.transaction() as s:
            return await pull_requests.record_check(
                s, pull_request_id, customer_id=self._customer, **kw
            )

    async def checks(self, pull_request_id: uuid.UUID) -> builtins.list[PullRequestCheck]:
        async with self._store.reader() as s:
            return await pull_requests.list_checks(s, pull_request_id, customer_id=self._customer)

    async def list(self, **filters: Any) -> builtins.list[PullRequest]:
        async with self._store.reader() as s:
            return await pull_requests.list_pull_requests(s, customer_id=self._customer, **filters)


class Search(_Facade):
    """``store.search``: full-text search over the customer's tasks."""

    async def tasks(self, query: str, limit: int = 20) -> builtins.list[tuple[TaskRow, float]]:
        async with self._store.reader() as s:
            return await search.search_tasks(s, query, customer_id=self._customer, limit=limit)


class Views(_Facade):
    """``store.views``: the reporting views (active tasks, execution summary, PR validation)."""

    async def overview(self) -> overview_service.Overview:
        """Counts, success rate, busiest agents, what waits for a person, recent failures."""
        async with self._store.reader() as s:
            return await overview_service.customer_overview(s, customer_id=self._customer)

    async def plans_waiting(self, limit: int = 100) -> builtins.list[overview_service.WaitingPlan]:
        """Runs whose plan waits for a person's decision, oldest first."""
        async with self._store.reader() as s:
            return await overview_service.plans_waiting(s, customer_id=self._customer, limit=limit)

    async def modifications_waiting(
        self, limit: int = 100
    ) -> builtins.list[overview_service.WaitingModification]:
        """Modification requests waiting for a decision, across the customer's projects."""
        async with self._store.reader() as s:
            return await overview_service.modifications_waiting(
                s, customer_id=self._customer, limit=limit
            )

    async def active_tasks(self, **filters: Any) -> builtins.list[views.ActiveTask]:
        async with self._store.reader() as s:
            return await views.active_tasks(s, customer_id=self._customer, **filters)

    async def task_execution_summary(self, task_id: uuid.UUID) -> views.TaskExecutionSummary:
        async with self._store.reader() as s:
            return await views.task_execution_summary(s, task_id, customer_id=self._customer)

    async def task_execution_summaries(
        self, **filters: Any
    ) -> builtins.list[views.TaskExecutionSummary]:
        async with self._store.reader() as s:
            return await views.task_execution_summaries(s, customer_id=self._customer, **filters)

    async def pr_validation_status(self, pull_request_id: uuid.UUID) -> views.PrValidationStatus:
        async with self._store.reader() as s:
            return await views.pr_validation_status(s, pull_request_id, customer_id=self._customer)

    async def pr_validation_statuses(
        self, **filters: Any
    ) -> builtins.list[views.PrValidationStatus]:
        async with self._store.reader() as s:
            return await views.pr_validation_statuses(s, customer_id=self._customer, **filters)
