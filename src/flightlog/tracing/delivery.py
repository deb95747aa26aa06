"""What the worker sends for each record, in the order agent code made them.

Lifecycle records (run and step starts and finishes, usage) are barriers:
every event, metric point and artifact queued before one is written before
it, so ids and database times follow the program's order. Between two
barriers the data records are grouped by kind and written in batches of at
most ``max_batch`` rows, one transaction or request per batch (see
:mod:`flightlog.tracing.batches`).

A record whose run Flightlog refused to start is refused with it; an event
or point of a step that was refused is kept on the run; a child of a refused
step starts at the top of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flightlog.enums import AgentRunStatus
from flightlog.tracing.backend import Backend, already_done
from flightlog.tracing.batches import DataSender
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
        self._data = DataSender(buffer, backend, retrier, config)

    async def deliver(self, items: Sequence[Queued]) -> bool:
        """Send ``items`` in order, settling each; False when given up at the stop deadline."""
        data: list[Queued] = []
        for item in items:
            if isinstance(item[1], EventRecord | MetricRecord | ArtifactRecord):
                data.append(item)
                continue
            if data:
                if not await self._data.send(data):
                    return False
                self._buffer.advance(data[-1][0])
                data = []
            if not await self._lifecycle(item):
                return False
            self._buffer.advance(item[0])
        if data:
            if not await self._data.send(data):
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
                task_id,
                input_context=record.input_context,
                git_branch=record.git_branch,
                started_at=record.at,
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
                completed_at=record.at,
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
                run_id,
                agent_name=step.name,
                parent_id=parent_id,
                details=record.details,
                started_at=record.at,
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
                finished_at=record.at,
            ),
            "finish an agent run",
        )
        return self._finished(item, finished, f"agent run {step.name!r}")
