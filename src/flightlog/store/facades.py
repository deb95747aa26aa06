"""One small facade per aggregate: each method is one committed transaction.

They bind the Store's customer and blob settings, and otherwise pass
arguments straight to the service functions, whose docstrings describe them.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightlog.enums import RunStatus
from flightlog.errors import ValidationError
from flightlog.ingest.events import ingest_events, ingest_events_returning_ids
from flightlog.ingest.metrics import ingest_metrics
from flightlog.models import AgentRun, Artifact, Event, MetricPoint, Task, TaskRun
from flightlog.services import (
    agent_runs,
    artifacts,
    blobs,
    claims,
    deletion,
    events,
    metrics,
    run_queue,
    runs,
    tasks,
    timeline,
)
from flightlog.services.scope import assert_owned
from flightlog.store.binding import Facade, reads, writes

if TYPE_CHECKING:
    pass


class _Facade(Facade):
    """A facade whose methods are still written out (being moved to bindings)."""


class Tasks(Facade):
    """``store.tasks``: create, get, update, list, dependencies, ready, cancel, delete."""

    create = writes(tasks.create_task)
    get = reads(tasks.get_task)
    update = writes(tasks.update_task)
    list = reads(tasks.list_tasks)
    subtasks = reads(tasks.subtasks)
    add_dependency = writes(tasks.add_dependency)
    remove_dependency = writes(tasks.remove_dependency)
    dependencies = reads(tasks.dependencies)
    ready = reads(tasks.ready_tasks)

    async def cancel(self, task_id: uuid.UUID, **kw: Any) -> Task:
        async with self._store.transaction() as s:
            return await runs.cancel_task(s, task_id, customer_id=self._customer, **kw)

    async def delete(self, task_id: uuid.UUID) -> deletion.DeletionResult:
        """Delete the task and what it owns; unreferenced blob files go after commit."""
        async with self._store.transaction() as s:
            result = await deletion.delete_task(s, task_id, customer_id=self._customer)
        blobs.remove_files(self._store.blob_policy.blob_dir, result.files_to_remove)
        return result


class Runs(_Facade):
    """``store.runs``: start (or enqueue, then begin), get, list, plan approval, finish."""

    async def start(self, task_id: uuid.UUID, **kw: Any) -> TaskRun:
        async with self._store.transaction() as s:
            return await runs.start_run(s, task_id, customer_id=self._customer, **kw)

    async def enqueue(self, task_id: uuid.UUID, **kw: Any) -> TaskRun:
        """Queue the task's next run (PENDING) for a worker to begin; see ``run_queue``."""
        async with self._store.transaction() as s:
            return await run_queue.enqueue_run(s, task_id, customer_id=self._customer, **kw)

    async def begin(self, run_id: uuid.UUID, **kw: Any) -> TaskRun:
        """Start a queued run."""
        async with self._store.transaction() as s:
            return await run_queue.begin_run(s, run_id, customer_id=self._customer, **kw)

    async def get(self, run_id: uuid.UUID) -> TaskRun:
        async with self._store.reader() as s:
            return await runs.get_run(s, run_id, customer_id=self._customer)

    async def list(self, task_id: uuid.UUID) -> builtins.list[TaskRun]:
        async with self._store.reader() as s:
            return await runs.list_runs(s, task_id, customer_id=self._customer)

    async def timeline(self, run_id: uuid.UUID, **kw: Any) -> timeline.Timeline:
        """Agent runs and events of the run in time order, a page at a time."""
        async with self._store.reader() as s:
            return await timeline.run_timeline(s, run_id, customer_id=self._customer, **kw)

    async def submit_plan(self, run_id: uuid.UUID, plan: dict[str, Any], **kw: Any) -> TaskRun:
        async with self._store.transaction() as s:
            return await runs.submit_plan(s, run_id, plan, customer_id=self._customer, **kw)

    async def approve_plan(
        self, run_id: uuid.UUID, *, decided_by: str, comment: str | None = None
    ) -> TaskRun:
        async with self._store.transaction() as s:
            return await runs.decide_plan(
                s,
                run_id,
                customer_id=self._customer,
                approve=True,
                decided_by=decided_by,
                comment=comment,
            )

    async def reject_plan(
        self, run_id: uuid.UUID, *, decided_by: str, comment: str | None = None
    ) -> TaskRun:
        async with self._store.transaction() as s:
            return await runs.decide_plan(
                s,
                run_id,
                customer_id=self._customer,
                approve=False,
                decided_by=decided_by,
                comment=comment,
            )

    async def finish(self, run_id: uuid.UUID, **kw: Any) -> TaskRun:
        async with self._store.transaction() as s:
            return await runs.finish_run(s, run_id, customer_id=self._customer, **kw)

    async def fail(self, run_id: uuid.UUID, *, error_message: str, **kw: Any) -> TaskRun:
        return await self.finish(run_id, status=RunStatus.FAILED, error_message=error_message, **kw)

    async def timeout(self, run_id: uuid.UUID, **kw: Any) -> TaskRun:
        return await self.finish(run_id, status=RunStatus.TIMEOUT, **kw)

    async def cancel(self, run_id: uuid.UUID, **kw: Any) -> TaskRun:
        return await self.finish(run_id, status=RunStatus.CANCELLED, **kw)


class AgentRuns(_Facade):
    """``store.agent_runs``: start, mark running, record usage, finish, list."""

    async def start(self, run_id: uuid.UUID, **kw: Any) -> AgentRun:
        async with self._store.transaction() as s:
            return await agent_runs.start_agent_run(s, run_id, customer_id=self._customer, **kw)

    async def running(self, agent_run_id: uuid.UUID) -> AgentRun:
        async with self._store.transaction() as s:
            return await agent_runs.mark_running(s, agent_run_id, customer_id=self._customer)

    async def record_usage(self, agent_run_id: uuid.UUID, **kw: Any) -> AgentRun:
        async with self._store.transaction() as s:
            return await agent_runs.record_usage(s, agent_run_id, customer_id=self._customer, **kw)

    async def finish(self, agent_run_id: uuid.UUID, **kw: Any) -> AgentRun:
        async with self._store.transaction() as s:
            return await agent_runs.finish_agent_run(
                s, agent_run_id, customer_id=self._customer, **kw
            )

    async def list(self, run_id: uuid.UUID) -> builtins.list[AgentRun]:
        async with self._store.reader() as s:
            return await agent_runs.list_agent_runs(s, run_id, customer_id=self._customer)


class Events(_Facade):
    """``store.events``: append one or a batch; read pages after a cursor."""

    def _validated(
        self, batch: Iterable[events.NewEvent | dict[str, Any]], *, single: bool = False
    ) -> builtins.list[events.NewEvent]:
        limit = self._store.settings.max_event_payload_bytes
        return [
            events.validate_event(
                raw, max_payload_bytes=limit, index=None if single else i
            ).model_copy(update={"customer_id": self._customer})
            for i, raw in enumerate(batch)
        ]

    async def append_batch(
        self, batch: Iterable[events.NewEvent | dict[str, Any]]
    ) -> builtins.list[int]:
        """Append atomically through the bulk path (COPY / executemany); ids in input order."""
        async with self._store.transaction() as s:
            return await ingest_events_returning_ids(
                s,
                batch,
                customer_id=self._customer,
                max_payload_bytes=self._store.settings.max_event_payload_bytes,
            )

    async def ingest(self, stream: Iterable[events.NewEvent | dict[str, Any]]) -> int:
        """Stream any number of events in one transaction, in flat memory; returns the count."""
        async with self._store.transaction() as s:
            return await ingest_events(
                s,
                stream,
                customer_id=self._customer,
                max_payload_bytes=self._store.settings.max_event_payload_bytes,
            )

    async def append(self, event: events.NewEvent | dict[str, Any]) -> Event:
        valid = self._validated([event], single=True)
        async with self._store.transaction() as s:
            await assert_owned(
                s,
                self._customer,
                task_ids=[valid[0].task_id],
                run_ids=[valid[0].run_id],
                agent_run_ids=[valid[0].agent_run_id],
                agent_ids=[valid[0].agent_id],
                event_ids=[valid[0].parent_event_id],
            )
            return await events.append(
                s, valid[0], max_payload_bytes=self._store.settings.max_event_payload_bytes
            )

    async def list(self, **filters: Any) -> events.EventPage:
        """A page of the tenant's events; a task or run of another tenant is NotFound.

        The page query is already confined to the tenant, so a page with rows
        proves the task or run is ours; only an empty page pays for the
        ownership check that tells "no events (yet)" from "not yours".
        """
        async with self._store.reader() as s:
            page = await events.list_events(s, customer_id=self._customer, **filters)
            if not page.items:
                await assert_owned(
                    s,
                    self._customer,
                    task_ids=[filters.get("task_id")],
                    run_ids=[filters.get("run_id")],
                )
            return page


class Metrics(_Facade):
    """``store.metrics``: record one or a batch; series, summaries and time buckets.

    Every point belongs to a task or a run of the Store's customer.
    """

    async def _check_writable(
        self, s: AsyncSession, valid: builtins.list[metrics.NewMetric]
    ) -> None:
        for i, point in enumerate(valid):
            if point.task_id is None and point.run_id is None:
                raise ValidationError(f"metric #{i} needs a task_id or a run_id", index=i)
        await assert_owned(
            s,
            self._customer,
            task_ids=(m.task_id for m in valid),
            run_ids=(m.run_id for m in valid),
            agent_run_ids=(m.agent_run_id for m in valid),
        )

    async def record(self, metric: metrics.NewMetric | dict[str, Any]) -> MetricPoint:
        valid = metrics.validate_metric(metric)
        async with self._store.transaction() as s:
            await self._check_writable(s, [valid])
            return await metrics.record(s, valid)

    async def record_batch(self, batch: Iterable[metrics.NewMetric | dict[str, Any]]) -> int:
        """Record atomically through the bulk path (COPY / executemany), in flat memory."""
        async with self._store.transaction() as s:
            return await ingest_metrics(s, batch, customer_id=self._customer)

    async def _check_readable(self, s: AsyncSession, kw: dict[str, Any]) -> None:
        await assert_owned(
            s, self._customer, task_ids=[kw.get("task_id")], run_ids=[kw.get("run_id")]
        )

    async def series(self, name: str, **kw: Any) -> builtins.list[MetricPoint]:
        async with self._store.reader() as s:
            await self._check_readable(s, kw)
            return await metrics.series(s, name, **kw)

    async def summarize(self, **kw: Any) -> dict[str, metrics.MetricSummary]:
        async with self._store.reader() as s:
            await self._check_readable(s, kw)
            return await metrics.summarize(s, **kw)

    async def buckets(self, name: str, **kw: Any) -> builtins.list[metrics.MetricBucket]:
        async with self._store.reader() as s:
            await self._check_readable(s, kw)
            return await metrics.buckets(s, name, **kw)


class Artifacts(_Facade):
    """``store.artifacts``: put a new version, read verified content, list versions."""

    async def put(self, task_id: uuid.UUID, name: str, content: bytes, **kw: Any) -> Artifact:
        async with self._store.transaction() as s:
            return await artifacts.put(
                s,
                task_id,
                name,
                content,
                customer_id=self._customer,
                policy=self._store.blob_policy,
                **kw,
            )

    async def get(self, artifact_id: uuid.UUID) -> Artifact:
        async with self._store.reader() as s:
            return await artifacts.get(s, artifact_id, customer_id=self._customer)

    async def read(self, artifact_id: uuid.UUID) -> bytes:
        async with self._store.reader() as s:
            return await artifacts.read(
                s, artifact_id, customer_id=self._customer, policy=self._store.blob_policy
            )

    async def versions(self, task_id: uuid.UUID, name: str) -> builtins.list[Artifact]:
        async with self._store.reader() as s:
            return await artifacts.versions(s, task_id, name, customer_id=self._customer)

    async def latest(self, task_id: uuid.UUID) -> builtins.list[Artifact]:
        async with self._store.reader() as s:
            return await artifacts.latest(s, task_id, customer_id=self._customer)

    async def sweep(self, *, grace_seconds: float = blobs.SWEEP_GRACE_SECONDS) -> int:
        """Remove old blob files no stored blob refers to (left by rolled-back writes)."""
        async with self._store.reader() as s:
            referenced = await deletion.referenced_blob_names(s)
        return blobs.sweep(
            self._store.blob_policy.blob_dir, referenced, grace_seconds=grace_seconds
        )


class Claims(_Facade):
    """``store.claims``: lease ready tasks, heartbeat, complete or release."""

    async def claim(self, worker: str, **kw: Any) -> builtins.list[claims.Claim]:
        async with self._store.transaction() as s:
            return await claims.claim(s, customer_id=self._customer, worker=worker, **kw)

    async def heartbeat(self, task_id: uuid.UUID, worker: str, **kw: Any) -> Any:
        async with self._store.transaction() as s:
            return await claims.heartbeat(
                s, task_id, customer_id=self._customer, worker=worker, **kw
            )

    async def complete(self, claimed: claims.Claim, **kw: Any) -> TaskRun:
        async with self._store.transaction() as s:
            return await claims.complete(s, claimed, customer_id=self._customer, **kw)

    async def release(self, claimed: claims.Claim, **kw: Any) -> None:
        async with self._store.transaction() as s:
            await claims.release(s, claimed, customer_id=self._customer, **kw)
