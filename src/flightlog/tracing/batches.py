"""Events, metric points and artifacts between two lifecycle records: batched by kind.

Events go to ``events.append_batch`` and points to ``metrics.record_batch`` in
batches of at most ``max_batch`` records and ``max_batch_bytes`` of payload,
one transaction or request each; artifacts go one by one. Each record is
validated here, on the worker's thread, so agent code pays nothing for it:
an invalid one is refused alone. A batch Flightlog refuses for its content
is halved until the refused record is found, so one bad event does not take
its batch down with it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from flightlog.services.events import NewEvent
from flightlog.services.metrics import NewMetric
from flightlog.tracing.backend import Backend, is_about_the_data
from flightlog.tracing.buffer import Buffer, Queued
from flightlog.tracing.config import TracerConfig
from flightlog.tracing.records import (
    ArtifactRecord,
    EventRecord,
    MetricRecord,
    RunRecord,
)
from flightlog.tracing.retry import Failed, Retrier

log = logging.getLogger("flightlog.tracing")

M = TypeVar("M", bound=BaseModel)
Row = tuple[Queued, M, int]


def ids_of(run: RunRecord) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The run's task and run ids, or None when the run was not recorded."""
    task_id, run_id = run.task_id.value, run.id.value
    return None if task_id is None or run_id is None else (task_id, run_id)


class DataSender:
    """Sends the data records of one stretch between barriers; False means "given up"."""

    def __init__(
        self, buffer: Buffer, backend: Backend, retrier: Retrier, config: TracerConfig
    ) -> None:
        self._buffer = buffer
        self._backend = backend
        self._retrier = retrier
        self._config = config

    async def send(self, items: list[Queued]) -> bool:
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
            except Exception as exc:  # a value whose methods raise (a dict's items(), say)
                refused.append(item)
                log.warning(
                    "Flightlog tracing: a record refused: preparing it raised %s: %s",
                    type(exc).__name__,
                    exc,
                )
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
            owners = ids_of(record.run)
            if owners is None:
                self._buffer.settle([item], refused=1)
                continue
            outcome = await self._retrier.attempt(self._put(record, *owners), "put an artifact")
            if isinstance(outcome, Failed):
                if outcome.gave_up:
                    return False
                log.warning(
                    "Flightlog tracing: Flightlog refused artifact %r (%s)",
                    record.name,
                    outcome.error,
                )
                self._buffer.settle([item], refused=1)
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
    owners = ids_of(record.run)
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
                "created_at": record.at,
                "task_id": owners[0],
                "run_id": owners[1],
                "agent_run_id": step_id,
            }
        )
    except PydanticValidationError as exc:
        raise _Refused("an event", _first_problem(exc)) from None
    return item, event, _payload_size(record.content, record.data)


def _metric_row(item: Queued, record: MetricRecord) -> Row[NewMetric]:
    owners = ids_of(record.run)
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
                "recorded_at": record.at,
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
