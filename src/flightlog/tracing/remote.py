"""The remote backend: the Backend operations as calls to a Flightlog server's HTTP API.

Written against the HTTP API directly (httpx) because the typed
``flightlog.client.AsyncClient`` with per-aggregate methods does not exist
yet; once it does, it satisfies :class:`~flightlog.tracing.backend.Backend`
and this module shrinks to opening it. Answers 5xx, 408 and 429 become
:class:`DatabaseUnavailable` (retried); other error bodies become the error
class their ``code`` names (refused).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from flightlog.enums import AgentRunStatus, ArtifactType, RunStatus
from flightlog.errors import (
    Conflict,
    DatabaseUnavailable,
    FlightlogError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from flightlog.services.events import NewEvent
from flightlog.services.metrics import NewMetric
from flightlog.tracing.backend import Backend, BackendOpener

_ERRORS: dict[str, type[FlightlogError]] = {
    "validation_error": ValidationError,
    "payload_too_large": ValidationError,
    "not_found": NotFound,
    "conflict": Conflict,
    "invalid_transition": Conflict,
    "permission_denied": PermissionDenied,
    "unauthenticated": PermissionDenied,
}


@dataclass(frozen=True)
class Created:
    """The id the server gave a new task, run or agent run."""

    id: uuid.UUID


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "", response.text[:200], {}
    details.pop("message", None)
    details["http_status"] = status
    if status >= 500 or status in (408, 429):
        raise DatabaseUnavailable(f"the server answered {status}: {message}", **details)
    raise _ERRORS.get(code, FlightlogError)(message, **details)


class _Resource:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = await self._http.post(path, json=body)
        _raise_for(response)
        return response.json()

    async def _created(self, path: str, body: dict[str, Any]) -> Created:
        return Created(uuid.UUID((await self._post(path, body))["id"]))


class _Tasks(_Resource):
    async def create(self, *, title: str | None = None, description: str | None = None) -> Created:
        return await self._created("/tasks", {"title": title, "description": description})


class _Runs(_Resource):
    async def start(
        self,
        task_id: uuid.UUID,
        /,
        *,
        input_context: dict[str, Any] | None = None,
        git_branch: str | None = None,
    ) -> Created:
        body = {"input_context": input_context, "git_branch": git_branch}
        return await self._created(f"/tasks/{task_id}/runs", body)

    async def finish(
        self,
        run_id: uuid.UUID,
        /,
        *,
        status: RunStatus = RunStatus.COMPLETED,
        results: dict[str, Any] | None = None,
        error_message: str | None = None,
        error_details: dict[str, Any] | None = None,
    ) -> None:
        body = {
            "status": RunStatus(status).value,
            "results": results,
            "error_message": error_message,
            "error_details": error_details,
        }
        await self._post(f"/runs/{run_id}/finish", body)


class _AgentRuns(_Resource):
    async def start(
        self,
        run_id: uuid.UUID,
        /,
        *,
        agent_name: str,
        parent_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> Created:
        body = {
            "agent_name": agent_name,
            "parent_id": str(parent_id) if parent_id else None,
            "details": details,
        }
        return await self._created(f"/runs/{run_id}/agent-runs", body)

    async def record_usage(
        self,
        agent_run_id: uuid.UUID,
        /,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: Decimal = Decimal(0),
    ) -> None:
        body = {"tokens_in": tokens_in, "tokens_out": tokens_out, "cost_usd": str(cost_usd)}
        await self._post(f"/agent-runs/{agent_run_id}/usage", body)

    async def finish(
        self,
        agent_run_id: uuid.UUID,
        /,
        *,
        status: AgentRunStatus = AgentRunStatus.COMPLETED,
        output_summary: str | None = None,
        error_message: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: Decimal = Decimal(0),
    ) -> None:
        body = {
            "status": AgentRunStatus(status).value,
            "output_summary": output_summary,
            "error_message": error_message,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": str(cost_usd),
        }
        await self._post(f"/agent-runs/{agent_run_id}/finish", body)


class _Events(_Resource):
    async def append_batch(self, events: Sequence[NewEvent], /) -> None:
        body = [e.model_dump(mode="json", exclude_none=True) for e in events]
        await self._post("/events", {"events": body})


class _Metrics(_Resource):
    async def record_batch(self, metrics: Sequence[NewMetric], /) -> None:
        body = [m.model_dump(mode="json", exclude_none=True) for m in metrics]
        await self._post("/metrics", {"metrics": body})


class _Artifacts(_Resource):
    async def put(
        self,
        task_id: uuid.UUID,
        name: str,
        content: bytes,
        /,
        *,
        content_type: str = "application/octet-stream",
        artifact_type: ArtifactType | str = ArtifactType.OTHER,
        run_id: uuid.UUID | None = None,
        file_path: str | None = None,
    ) -> None:
        params = {"artifact_type": ArtifactType(artifact_type).value}
        if run_id is not None:
            params["run_id"] = str(run_id)
        if file_path is not None:
            params["file_path"] = file_path
        response = await self._http.put(
            f"/tasks/{task_id}/artifacts/{name}",
            content=content,
            params=params,
            headers={"Content-Type": content_type},
        )
        _raise_for(response)


class RemoteBackend:
    """A Flightlog server, one API key; the Backend protocol over its HTTP API."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.tasks = _Tasks(http)
        self.runs = _Runs(http)
        self.agent_runs = _AgentRuns(http)
        self.events = _Events(http)
        self.metrics = _Metrics(http)
        self.artifacts = _Artifacts(http)


def remote_backend(
    base_url: str,
    *,
    api_key: str,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BackendOpener:
    """Open an HTTP connection pool to ``base_url`` (the server's root) when the worker starts."""

    @asynccontextmanager
    async def open_backend() -> AsyncIterator[Backend]:
        async with httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        ) as http:
            yield RemoteBackend(http)

    return open_backend
