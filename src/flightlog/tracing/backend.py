"""The operations the tracing worker calls, as a typed protocol, and which failures to retry.

:class:`Backend` names only what the worker uses, per aggregate and with the
Store's own parameter names, so the async :class:`flightlog.Store` satisfies it
as it is (mypy checks that in ``embedded.py``) and so does the remote backend.
Ids are positional-only here, so an implementation may call them anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx

from flightlog.enums import AgentRunStatus, ArtifactType, RunStatus
from flightlog.errors import (
    Conflict,
    DatabaseUnavailable,
    FlightlogError,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from flightlog.services.events import NewEvent
from flightlog.services.metrics import NewMetric


class HasId(Protocol):
    """What the worker reads of a created task, run or agent run."""

    @property
    def id(self) -> uuid.UUID: ...


class TasksBackend(Protocol):
    def create(
        self, *, title: str | None = ..., description: str | None = ...
    ) -> Awaitable[HasId]: ...


class RunsBackend(Protocol):
    def start(
        self,
        task_id: uuid.UUID,
        /,
        *,
        input_context: dict[str, Any] | None = ...,
        git_branch: str | None = ...,
        started_at: datetime | None = ...,
    ) -> Awaitable[HasId]: ...

    def finish(
        self,
        run_id: uuid.UUID,
        /,
        *,
        status: RunStatus = ...,
        results: dict[str, Any] | None = ...,
        error_message: str | None = ...,
        error_details: dict[str, Any] | None = ...,
        completed_at: datetime | None = ...,
    ) -> Awaitable[object]: ...


class AgentRunsBackend(Protocol):
    def start(
        self,
        run_id: uuid.UUID,
        /,
        *,
        agent_name: str,
        parent_id: uuid.UUID | None = ...,
        details: dict[str, Any] | None = ...,
        started_at: datetime | None = ...,
    ) -> Awaitable[HasId]: ...

    def record_usage(
        self,
        agent_run_id: uuid.UUID,
        /,
        *,
        tokens_in: int = ...,
        tokens_out: int = ...,
        cost_usd: Decimal = ...,
    ) -> Awaitable[object]: ...

    def finish(
        self,
        agent_run_id: uuid.UUID,
        /,
        *,
        status: AgentRunStatus = ...,
        output_summary: str | None = ...,
        error_message: str | None = ...,
        tokens_in: int = ...,
        tokens_out: int = ...,
        cost_usd: Decimal = ...,
        finished_at: datetime | None = ...,
    ) -> Awaitable[object]: ...


class EventsBackend(Protocol):
    def append_batch(self, events: Sequence[NewEvent], /) -> Awaitable[object]: ...


class MetricsBackend(Protocol):
    def record_batch(self, metrics: Sequence[NewMetric], /) -> Awaitable[object]: ...


class ArtifactsBackend(Protocol):
    def put(
        self,
        task_id: uuid.UUID,
        name: str,
        content: bytes,
        /,
        *,
        content_type: str = ...,
        artifact_type: ArtifactType | str = ...,
        run_id: uuid.UUID | None = ...,
        file_path: str | None = ...,
    ) -> Awaitable[object]: ...


class Backend(Protocol):
    """Where a tracer's records go: the async Store, or a remote server."""

    @property
    def tasks(self) -> TasksBackend: ...
    @property
    def runs(self) -> RunsBackend: ...
    @property
    def agent_runs(self) -> AgentRunsBackend: ...
    @property
    def events(self) -> EventsBackend: ...
    @property
    def metrics(self) -> MetricsBackend: ...
    @property
    def artifacts(self) -> ArtifactsBackend: ...


#: Opens a backend inside the worker's event loop and closes it when the worker stops.
BackendOpener = Callable[[], AbstractAsyncContextManager[Backend]]


def is_transient(error: BaseException) -> bool:
    """Worth retrying: Flightlog (or its database) could not serve, not "this is wrong"."""
    # Not every OSError: a blob directory that cannot be written is no outage to wait out.
    # (httpx errors only reach here from a custom backend: AsyncClient raises ServerUnreachable.)
    if isinstance(
        error, DatabaseUnavailable | httpx.TransportError | ConnectionError | TimeoutError
    ):
        return True
    status = error.details.get("http_status") if isinstance(error, FlightlogError) else None
    return isinstance(status, int) and (status >= 500 or status in (408, 429))


def is_refusal(error: BaseException) -> bool:
    """Flightlog answered, and the answer is no: retrying the same record cannot help."""
    return isinstance(error, FlightlogError) and not is_transient(error)


def is_about_the_data(error: BaseException) -> bool:
    """A refusal caused by some record of a batch (so halving the batch finds it)."""
    return isinstance(error, ValidationError | NotFound)


def maybe_written(error: BaseException) -> bool:
    """The failed attempt may have been written all the same (lost during the commit)."""
    if isinstance(error, httpx.TransportError):
        return not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
    if isinstance(error, FlightlogError):
        return (
            error.details.get("outcome") == "unknown" or error.details.get("request_sent") is True
        )
    return False


def already_done(error: BaseException) -> bool:
    """A finish refused because the thing has already finished (an earlier try got through)."""
    return isinstance(error, InvalidTransition | Conflict)
