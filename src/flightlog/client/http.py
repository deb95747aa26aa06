"""``Client``: the HTTP API's endpoints as methods, its error bodies as exceptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError as PydanticValidationError

from flightlog.errors import (
    Conflict,
    FlightlogError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from flightlog.schemas.errors import ErrorBody

#: The error body's ``code`` -> the exception it becomes on this side.
_ERRORS: dict[str, type[FlightlogError]] = {
    "validation_error": ValidationError,
    "not_found": NotFound,
    "conflict": Conflict,
    "permission_denied": PermissionDenied,
    "unauthenticated": PermissionDenied,
    "payload_too_large": ValidationError,
}

Json = dict[str, Any]


@dataclass(frozen=True)
class RemoteClaim:
    """A leased task and its run, as the server granted it; hand it back to finish."""

    task_id: str
    run_id: str
    worker: str
    lease_expires_at: str

    def as_json(self) -> Json:
        return {
            "task_id": self.task_id,
            "run_id": self.run_id,
            "worker": self.worker,
            "lease_expires_at": self.lease_expires_at,
        }


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = ErrorBody.model_validate_json(response.content).error
    except PydanticValidationError:
        raise FlightlogError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:200]}",
            http_status=response.status_code,
        ) from None
    code, message, details = error.code, error.message, error.details
    if code == "invalid_transition":
        raise InvalidTransition(
            str(details.get("entity", "")),
            str(details.get("from_status", "")),
            str(details.get("to_status", "")),
        )
    kind = _ERRORS.get(code, FlightlogError)
    extra = {key: value for key, value in details.items() if key not in ("message", "http_status")}
    raise kind(message, http_status=response.status_code, **extra)


def _ids(value: uuid.UUID | str) -> str:
    return str(value)


class Client:
    """One server and one API key; use as ``async with Client(url, key) as fl:``.

    ``transport`` lets a caller (or a test) route the requests elsewhere, e.g.
    ``httpx.ASGITransport(app)`` to talk to an app in the same process.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: Json | None = None
    ) -> Any:
        response = await self._http.request(method, path, json=json, params=params)
        _raise_for(response)
        return response.json() if response.content else None

    # Tasks and runs.
    async def create_task(self, **fields: Any) -> Json:
        result: Json = await self._call("POST", "/tasks", json=_jsonable(fields))
        return result

    async def get_task(self, task_id: uuid.UUID | str) -> Json:
        result: Json = await self._call("GET", f"/tasks/{_ids(task_id)}")
        return result

    async def list_tasks(self, **filters: Any) -> Json:
        result: Json = await self._call("GET", "/tasks", params=_jsonable(filters))
        return result

    async def start_run(self, task_id: uuid.UUID | str, **options: Any) -> Json:
        path = f"/tasks/{_ids(task_id)}/runs"
        result: Json = await self._call("POST", path, json=_jsonable(options))
        return result

    async def enqueue_run(self, task_id: uuid.UUID | str, **options: Any) -> Json:
        path = f"/tasks/{_ids(task_id)}/queued-runs"
        result: Json = await self._call("POST", path, json=_jsonable(options))
        return result

    async def finish_run(self, run_id: uuid.UUID | str, **outcome: Any) -> Json:
        path = f"/runs/{_ids(run_id)}/finish"
        result: Json = await self._call("POST", path, json=_jsonable(outcome))
        return result

    # Events and metrics.
    async def append_events(self, events: Iterable[Json]) -> list[int]:
        body = {"events": [_jsonable(e) for e in events]}
        result: Json = await self._call("POST", "/events", json=body)
        ids: list[int] = result["ids"]
        return ids

    async def list_events(self, **filters: Any) -> Json:
        result: Json = await self._call("GET", "/events", params=_jsonable(filters))
        return result

    async def record_metrics(self, points: Iterable[Json]) -> int:
        body = {"metrics": [_jsonable(p) for p in points]}
        result: Json = await self._call("POST", "/metrics", json=body)
        recorded: int = result["recorded"]
        return recorded

    # Claiming work.
    async def claim(
        self, worker: str, *, lease_seconds: float = 300, limit: int = 1
    ) -> list[RemoteClaim]:
        body = {"worker": worker, "lease_seconds": lease_seconds, "limit": limit}
        granted: list[Json] = await self._call("POST", "/claims", json=body)
        return [RemoteClaim(**claim) for claim in granted]

    async def heartbeat(self, claim: RemoteClaim, *, lease_seconds: float = 300) -> str:
        body = {"task_id": claim.task_id, "worker": claim.worker, "lease_seconds": lease_seconds}
        result: Json = await self._call("POST", "/claims/heartbeat", json=body)
        until: str = result["lease_expires_at"]
        return until

    async def complete(self, claim: RemoteClaim, **outcome: Any) -> Json:
        body = {"claim": claim.as_json(), **_jsonable(outcome)}
        result: Json = await self._call("POST", "/claims/complete", json=body)
        return result

    async def release(self, claim: RemoteClaim, *, reason: str | None = None) -> None:
        await self._call(
            "POST", "/claims/release", json={"claim": claim.as_json(), "reason": reason}
        )


def _value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_value(item) for item in value]
    return value


def _jsonable(values: Json) -> Json:
    """UUIDs and datetimes as the API reads them (lists too); ``None`` options left out."""
    return {key: _value(value) for key, value in values.items() if value is not None}
