"""What user calls leave for the worker: local handles of runs and steps, and the records.

A run or step exists locally the moment its block is entered; Flightlog's id
for it arrives later, when the worker has written it. :class:`PendingId` is
that promise: ``get()`` blocks for it and ``await wait()`` awaits it, each with
a timeout, so nothing else in the SDK ever waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flightlog.enums import (
    AgentRunStatus,
    ArtifactType,
    EventSeverity,
    EventType,
    MetricType,
    RunStatus,
)
from flightlog.errors import FlightlogError


class NotRecorded(FlightlogError):
    """A run or step that Flightlog did not record (refused, dropped, or the tracer closed).

    Raised only by ``PendingId.get()`` / ``wait()``, which a program calls on purpose;
    ``details["reason"]`` says why. Recording calls themselves never raise it.
    """

    code = "not_recorded"


class PendingId:
    """The id Flightlog gives a run or step, once the worker has written it."""

    __slots__ = ("_error", "_lock", "_ready", "_value", "_waiters", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self._value: uuid.UUID | None = None
        self._error: NotRecorded | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        state = self._value or ("not recorded" if self._error else "pending")
        return f"<PendingId of {self.what}: {state}>"

    def done(self) -> bool:
        """True once the id is known or it is certain there will be none."""
        return self._ready.is_set()

    @property
    def value(self) -> uuid.UUID | None:
        """The id if already known, else None; never waits."""
        return self._value

    def get(self, timeout: float | None = 30.0) -> uuid.UUID:
        """Block until the id is known; ``TimeoutError`` after ``timeout`` seconds.

        :class:`NotRecorded` when Flightlog refused the record or it was dropped.
        """
        if not self._ready.wait(timeout):
            raise TimeoutError(
                f"{self.what} has no id yet after {timeout} s: Flightlog is slow or unreachable "
                "(see tracer.stats); wait longer or read it later"
            )
        return self._result()

    async def wait(self) -> uuid.UUID:
        """:meth:`get` for async code; bound it with ``async with asyncio.timeout(…)``."""
        if not self._ready.is_set():
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            with self._lock:
                pending = not self._ready.is_set()
                if pending:
                    self._waiters.append((loop, future))
            if pending:
                await future
        return self._result()

    def _result(self) -> uuid.UUID:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def resolve(self, value: uuid.UUID) -> None:
        """Worker side: the record was written with this id."""
        self._value = value
        self._settle()

    def refuse(self, reason: str) -> None:
        """Worker side (or a full buffer): there will be no id, for ``reason``."""
        self._error = NotRecorded(f"{self.what} was not recorded: {reason}", reason=reason)
        self._settle()

    def _settle(self) -> None:
        with self._lock:
            self._ready.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class RunRecord:
    """A run as the tracer knows it. ``dropped`` until its start is accepted: nothing is sent."""

    id: PendingId
    task_id: PendingId
    dropped: bool = True


@dataclass(eq=False)
class StepRecord:
    """An agent step (agent run); usage reported with ``step.usage`` waits here to be sent."""

    run: RunRecord
    parent: StepRecord | None
    name: str
    id: PendingId
    dropped: bool = False
    finished: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = field(default_factory=Decimal)
    usage_queued: bool = False


# --- Lifecycle records: sent in order, never dropped once their run or step was accepted. ---


def now() -> datetime:
    """When something happened, as the tracer saw it: sent along, so that a record
    written late (batched, or after an outage) still says when it happened."""
    return datetime.now(UTC)


@dataclass(eq=False)
class StartRun:
    run: RunRecord
    task_id: uuid.UUID | None
    title: str | None
    description: str | None
    input_context: dict[str, Any] | None
    git_branch: str | None
    at: datetime = field(default_factory=now)


@dataclass(eq=False)
class FinishRun:
    run: RunRecord
    status: RunStatus
    results: dict[str, Any] | None
    error_message: str | None
    error_details: dict[str, Any] | None
    at: datetime = field(default_factory=now)


@dataclass(eq=False)
class StartStep:
    step: StepRecord
    details: dict[str, Any]
    at: datetime = field(default_factory=now)


@dataclass(eq=False)
class SendUsage:
    """Sends whatever usage the step has gathered by the time the worker gets to it."""

    step: StepRecord


@dataclass(eq=False)
class FinishStep:
    step: StepRecord
    status: AgentRunStatus
    output_summary: str | None
    error_message: str | None
    at: datetime = field(default_factory=now)


# --- Data records: batched, and the ones dropped first when the buffer is full. ---


@dataclass(eq=False, slots=True)
class EventRecord:
    run: RunRecord
    step: StepRecord | None
    event_type: EventType | str
    content: str | None
    data: dict[str, Any] | None
    severity: EventSeverity | str
    agent_role: str | None
    at: datetime = field(default_factory=now)


@dataclass(eq=False, slots=True)
class MetricRecord:
    run: RunRecord
    step: StepRecord | None
    name: str
    value: float
    metric_type: MetricType | str
    unit: str | None
    labels: dict[str, Any] | None
    at: datetime = field(default_factory=now)


@dataclass(eq=False, slots=True)
class ArtifactRecord:
    run: RunRecord
    step: StepRecord | None
    name: str
    content: bytes
    content_type: str
    artifact_type: ArtifactType | str
    file_path: str | None


Lifecycle = StartRun | FinishRun | StartStep | SendUsage | FinishStep
Data = EventRecord | MetricRecord | ArtifactRecord
Record = Lifecycle | Data
