"""What the worker sends for each record, in the order agent code made them.

Lifecycle records (run and step starts and finishes, usage) are barriers:
every event, metric point and artifact queued before one is written before
it, so ids and database times follow the program's order. Between two
barriers the data records are grouped by kind and written in batches of at
most ``max_batch`` rows (``events.append_batch``, ``metrics.record_batch``),
one transaction or request per batch.

A record whose run Flightlog refused to start is refused with it; an event
or point of a step that was refused is kept on the run. A batch refused for
its content is halved until the refused record is found, so one bad event
does not take its batch down with it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from flightlog.enums import AgentRunStatus
from flightlog.services.events import NewEvent
from flightlog.services.metrics import NewMetric
from flightlog.tracing.backend import Backend, already_done, is_about_the_data
from flightlog.tracing.buffer import Buffer, Queued
from flightlog.tracing.config import TracerConfig
from flightlog.tracing.records import (
    ArtifactRecord,
    EventRecord,
    FinishRun,
    FinishStep,
    MetricRecord,
    RunRecord,
    SendUsage,
    StartRun,
    StartStep,
    StepRecord,
)
from flightlog.tracing.retry import Failed, Retrier

log = logging.getLogger("flightlog.tracing")

M = TypeVar("M", bound=BaseModel)
Row = tuple[Queued, M, int]


def _owners(run: RunRecord, step: StepRecord | None) -> tuple[uuid.UUID, uuid.UUID] | None:
    task_id, run_id = run.task_id.value, run.id.value
    return None if task_id is None or run_id is None else (task_id, run_id)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Delivery:
    """Sends taken records through one backend; False from a method means "given up"."""

    def __init__(
        self, buffer: Buffer, backend: Backend, retrier: Retrier, config: TracerConfig
    ) -> None:
        self._buffer = buffer
        self._backend = backend
        self._retrier = retrier
        self._config = config

    async def deliver(self, items: Sequence[Queued]) -> bool:
        """Send ``items`` in order, settling each; False when given up at the stop deadline."""
        data: list[Queued] = []
        for item in items:
            if isinstance(item[1], EventRecord | MetricRecord | ArtifactRecord):
                data.append(item)
                continue
            if data:
                if not await self._data(data):
                    return False
                self._buffer.advance(data[-1][0])
                data = []
            if not await self._lifecycle(item):
                return False
            self._buffer.advance(item[0])
        if data:
            if not await self._data(data):
                return False
            self._buffer.advance(data[-1][0])
        return True

    # --- Lifecycle -----------------------------------------------------------------------------

    async def _lifecycle(self, item: Queued) -> bool:
        record = item[1]
        if isinstance(record, StartRun):
            return await self._start_run(item, record)
        if isinstance(record, StartStep):
            return await self._start_step(item, record)
        if isinstance(record, SendUsage):
            return await self._usage(item, record.step)
        if isinstance(record, FinishStep):
            return await self._finish_step(item, record)
        assert isinstance(record, FinishRun)
        return await self._finish_run(item, record)

    def _refused(self, item: Queued, message: str, *args: object) -> bool:
        log.warning("Flightlog tracing: " + message, *args)
        self._buffer.settle([item], refused=1)
        return True

    async def _start_run(self, item: Queued, record: StartRun) -> bool:
        run = record.run
        if record.task_id is None:
            tasks = self._backend.tasks
            task = await self._retrier.attempt(
                lambda: tasks.create(title=record.title, description=record.description),
                "create a task",
            )
            if isinstance(task, Failed):
                return self._run_refused(item, run, task)
            record.task_id = task.id  # a retry of the run start must not create a second task
        task_id, runs = record.task_id, self._backend.runs
        started = await self._retrier.attempt(
            lambda: runs.start(
                task_id, input_context=record.input_context, git_branch=record.git_branch
            ),
            "start a run",
        )
        if isinstance(started, Failed):
            return self._run_refused(item, run, started)
        run.task_id.resolve(task_id)
        run.id.resolve(started.id)
        self._buffer.settle([item])
        return True

    def _run_refused(self, item: Queued, run: RunRecord, failed: Failed) -> bool:
        if failed.gave_up:
            return False
        reason = _reason(failed.error)
        run.id.refuse(reason)
        run.task_id.refuse(reason)
        return self._refused(
            item, "Flightlog refused to start a run (%s); nothing of it is recorded", reason
        )

    async def _finish_run(self, item: Queued, record: FinishRun) -> bool:
        run_id, runs = record.run.id.value, self._backend.runs
        if run_id is None:
            self._buffer.settle([item], refused=1)  # its start was refused, and said so
            return True
        finished = await self._retrier.attempt(
            lambda: runs.finish(
                run_id,
                status=record.status,
                results=record.results,
                error_message=record.error_message,
                error_details=record.error_details,
            ),
            "finish a run",
        )
        return self._finished(item, finished, f"run {run_id}")

    def _finished(self, item: Queued, outcome: object, what: str) -> bool:
        if not isinstance(outcome, Failed):
            self._buffer.settle([item])
            return True
        if outcome.gave_up:
            return False
        if outcome.maybe_written and already_done(outcome.error):
            self._buffer.settle([item])  # an earlier try got through before the connection broke
            return True
        return self._refused(item, "Flightlog refused to finish %s (%s)", what, outcome.error)

    async def _start_step(self, item: Queued, record: StartStep) -> bool:
        step = record.step
        run_id = step.run.id.value
        if run_id is None:
            step.id.refuse("its run was not recorded")
            self._buffer.settle([item], refused=1)
            return True
        parent_id = step.parent.id.value if step.parent is not None else None
        agent_runs = self._backend.agent_runs
        started = await self._retrier.attempt(
            lambda: agent_runs.start(
                run_id, agent_name=step.name, parent_id=parent_id, details=record.details
            ),
            "start an agent run",
        )
        if isinstance(started, Failed):
            if started.gave_up:
                return False
            step.id.refuse(_reason(started.error))
            return self._refused(
                item, "Flightlog refused to start agent run %r (%s)", step.name, started.error
            )
        step.id.resolve(started.id)
        self._buffer.settle([item])
        return True

    async def _usage(self, item: Queued, step: StepRecord) -> bool:
        tokens_in, tokens_out, cost = self._buffer.take_usage(step)
        step_id, agent_runs = step.id.value, self._backend.agent_runs
        if step_id is None:
            self._buffer.settle([item], refused=1)
            return True
        if not (tokens_in or tokens_out or cost):
            self._buffer.settle([item])
            return True
        sent = await self._retrier.attempt(
            lambda: agent_runs.record_usage(
                step_id, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost
            ),
            "record usage",
        )
        if isinstance(sent, Failed):
            if sent.gave_up:
                return False
            return self._refused(item, "Flightlog refused usage of %r (%s)", step.name, sent.error)
        self._buffer.settle([item])
        return True

    async def _finish_step(self, item: Queued, record: FinishStep) -> bool:
        step = record.step
        tokens_in, tokens_out, cost = self._buffer.take_usage(step)
        step_id, agent_runs = step.id.value, self._backend.agent_runs
        if step_id is None:
            self._buffer.settle([item], refused=1)
            return True
        finished = await self._retrier.attempt(
            lambda: agent_runs.finish(
                step_id,
                status=AgentRunStatus(record.status),
                output_summary=record.output_summary,
                error_message=record.error_message,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
            ),
            "finish an agent run",
        )
        return self._finished(item, finished, f"agent run {step.name!r}")

    # --- Data ----------------------------------------------------------------------------------

    async def _data(self, items: list[Queued]) -> bool:
        events: list[Row[NewEvent]] = []
        metrics: list[Row[NewMetric]] = []
        artifacts: list[Queued] = []
        refused: list[Queued] = []
        for item in items:
            record = item[1]
            try:
                if isinstance(record, EventRecord):
                    events.append(_event_row(item, record))
                elif isinstance(record, MetricRecord):
                    metrics.append(_metric_row(item, record))
                else:
                    artifacts.append(item)
            except _Refused as refusal:
                refused.append(item)
                refusal.report()
        if refused:
            self._buffer.settle(refused, refused=len(refused))
        events_backend, metrics_backend = self._backend.events, self._backend.metrics
        return (
            await self._batches(events, events_backend.append_batch, "append events")
            and await self._batches(metrics, metrics_backend.record_batch, "record metrics")
            and await self._artifacts(artifacts)
        )

    async def _batches(
        self, rows: list[Row[M]], send: Callable[[Sequence[M]], Awaitable[object]], what: str
    ) -> bool:
        batch: list[Row[M]] = []
        size = 0
        for row in rows:
            if batch and (
                len(batch) >= self._config.max_batch or size + row[2] > self._config.max_batch_bytes
            ):
                if not await self._batch(batch, send, what):
                    return False
                batch, size = [], 0
            batch.append(row)
            size += row[2]
        return not batch or await self._batch(batch, send, what)

    async def _batch(
        self, rows: list[Row[M]], send: Callable[[Sequence[M]], Awaitable[object]], what: str
    ) -> bool:
        models = [row[1] for row in rows]
        outcome = await self._retrier.attempt(lambda: send(models), what)
        items = [row[0] for row in rows]
        if not isinstance(outcome, Failed):
            self._buffer.settle(items)
            return True
        if outcome.gave_up:
            return False
        if len(rows) > 1 and is_about_the_data(outcome.error):
            half = len(rows) // 2
            return await self._batch(rows[:half], send, what) and await self._batch(
                rows[half:], send, what
            )
        log.warning(
            "Flightlog tracing: Flightlog refused to %s (%d records): %s",
            what,
            len(rows),
            outcome.error,
        )
        self._buffer.settle(items, refused=len(items))
        return True

    async def _artifacts(self, items: list[Queued]) -> bool:
        for item in items:
            record = item[1]
            assert isinstance(record, ArtifactRecord)
            owners = _owners(record.run, record.step)
            if owners is None:
                self._buffer.settle([item], refused=1)
                continue
            outcome = await self._retrier.attempt(self._put(record, *owners), "put an artifact")
            if isinstance(outcome, Failed):
                if outcome.gave_up:
                    return False
                self._refused(
                    item, "Flightlog refused artifact %r (%s)", record.name, outcome.error
                )
            else:
                self._buffer.settle([item])
        return True

    def _put(
        self, record: ArtifactRecord, task_id: uuid.UUID, run_id: uuid.UUID
    ) -> Callable[[], Awaitable[object]]:
        artifacts = self._backend.artifacts

        def put() -> Awaitable[object]:
            return artifacts.put(
                task_id,
                record.name,
                record.content,
                content_type=record.content_type,
                artifact_type=record.artifact_type,
                run_id=run_id,
                file_path=record.file_path,
            )

        return put


class _Refused(Exception):
    """A record that cannot be sent: its run was not recorded, or it is invalid."""

    def __init__(self, what: str, reason: str | None) -> None:
        self.what, self.reason = what, reason

    def report(self) -> None:
        if self.reason is not None:  # a refused run was reported once, when it was refused
            log.warning("Flightlog tracing: %s refused: %s", self.what, self.reason)


def _payload_size(content: str | None, data: object) -> int:
    size = len(content) if content else 0
    if data:
        try:
            size += len(json.dumps(data, separators=(",", ":")))
        except (TypeError, ValueError, RecursionError) as exc:
            raise _Refused("a record", f"its data is not JSON: {exc}") from None
    return size


def _event_row(item: Queued, record: EventRecord) -> Row[NewEvent]:
    owners = _owners(record.run, record.step)
    if owners is None:
        raise _Refused("an event", None)
    step_id = record.step.id.value if record.step is not None else None
    try:
        event = NewEvent.model_validate(
            {
                "event_type": record.event_type,
                "content": record.content,
                "data": record.data,
                "severity": record.severity,
                "agent_role": record.agent_role,
                "task_id": owners[0],
                "run_id": owners[1],
                "agent_run_id": step_id,
            }
        )
    except PydanticValidationError as exc:
        raise _Refused("an event", _first_problem(exc)) from None
    return item, event, _payload_size(record.content, record.data)


def _metric_row(item: Queued, record: MetricRecord) -> Row[NewMetric]:
    owners = _owners(record.run, record.step)
    if owners is None:
        raise _Refused("a metric point", None)
    step_id = record.step.id.value if record.step is not None else None
    try:
        point = NewMetric.model_validate(
            {
                "name": record.name,
                "value": record.value,
                "metric_type": record.metric_type,
                "unit": record.unit,
                "labels": record.labels or {},
                "task_id": owners[0],
                "run_id": owners[1],
                "agent_run_id": step_id,
            }
        )
    except PydanticValidationError as exc:
        raise _Refused(f"metric point {record.name!r}", _first_problem(exc)) from None
    return item, point, _payload_size(None, record.labels)


def _first_problem(exc: PydanticValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
