"""What the OTLP receiver tests share: posting to an in-process app, reading the answer as an
OTLP client does, and taking stock of what the database holds.

Answers are decoded with the official classes (``opentelemetry-proto``'s export responses and
``googleapis-common-protos``' ``google.rpc.Status``, not the server's own copy of it), so a
body the server built wrongly cannot be read back by the same mistake.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import func, select

from flightlog.models import (
    AgentRun,
    AgentSession,
    Artifact,
    Event,
    MetricPoint,
    OtlpSpan,
    Task,
    TaskRun,
)
from flightlog.store import Store
from otlp_requests import JSON, PB

Kind = Literal["traces", "metrics"]
#: google.rpc.Code for each HTTP status the receivers answer with.
RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 503: 14}


@asynccontextmanager
async def otlp_client(app: FastAPI, key: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """A client at the server's root, where exporters send, holding ``key`` as exporters do."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://flightlog.test", headers=headers
    ) as client:
        yield client


def to_json(request: ExportTraceServiceRequest | ExportMetricsServiceRequest) -> bytes:
    """OTLP/JSON of a request: protobuf JSON with trace and span ids in hex, not base64."""
    document = json_format.MessageToDict(request)
    _ids_to_hex(document)
    return json.dumps(document).encode()


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def encoded(
    request: ExportTraceServiceRequest | ExportMetricsServiceRequest,
    content_type: str,
    *,
    gzipped: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """A request's body in ``content_type`` (and gzip), with the headers that say so."""
    body = to_json(request) if content_type == JSON else bytes(request.SerializeToString())
    headers = {"Content-Type": content_type}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


async def post(
    client: httpx.AsyncClient,
    kind: Kind,
    request: ExportTraceServiceRequest | ExportMetricsServiceRequest,
    content_type: str = PB,
    *,
    gzipped: bool = False,
) -> httpx.Response:
    body, headers = encoded(request, content_type, gzipped=gzipped)
    return await client.post(f"/v1/{kind}", content=body, headers=headers)


def _parse(response: httpx.Response, message: Message) -> Message:
    if response.headers["content-type"] == JSON:
        json_format.Parse(response.content, message)
    else:
        message.ParseFromString(response.content)
    return message


def _same_type(response: httpx.Response, sent: str | None) -> None:
    expected = sent if sent in (PB, JSON, "application/protobuf") else PB
    assert response.headers["content-type"] == expected, (response.headers, response.content)


def export_response(
    response: httpx.Response, kind: Kind = "traces", sent: str | None = PB
) -> Message:
    """The 200 answer, in the request's Content-Type, as an Export*ServiceResponse."""
    assert response.status_code == 200, (response.status_code, response.content)
    _same_type(response, sent)
    empty = ExportTraceServiceResponse() if kind == "traces" else ExportMetricsServiceResponse()
    return _parse(response, empty)


def rejected(response: httpx.Response, sent: str | None = PB) -> tuple[int, str]:
    """(rejected spans, error message) of a trace export's 200 answer."""
    answer = export_response(response, "traces", sent)
    if not answer.HasField("partial_success"):
        return 0, ""
    return int(answer.partial_success.rejected_spans), str(answer.partial_success.error_message)


def status(response: httpx.Response, code: int, sent: str | None = PB) -> str:
    """The message of a ``google.rpc.Status`` answer that must have HTTP status ``code``."""
    assert response.status_code == code, (response.status_code, response.content)
    _same_type(response, sent)
    answer = _parse(response, Status())
    assert answer.code == RPC_CODES[code], answer
    assert answer.message, "a Status says what went wrong"
    message: str = answer.message
    return message


@dataclass(frozen=True)
class Stock:
    """What the database holds that OTLP ingest writes: counts, and the spans in the ledger."""

    counts: dict[str, int]
    spans: frozenset[tuple[str, str]]
    event_spans: frozenset[str]


_COUNTED = {
    "tasks": Task.id,
    "runs": TaskRun.id,
    "agent_runs": AgentRun.id,
    "events": Event.id,
    "sessions": AgentSession.id,
    "artifacts": Artifact.id,
    "metric_points": MetricPoint.id,
}


async def stock(store: Store) -> Stock:
    async with store.reader() as s:
        counts = {
            name: int(await s.scalar(select(func.count(column))) or 0)
            for name, column in _COUNTED.items()
        }
        ledger = (await s.execute(select(OtlpSpan.trace_id, OtlpSpan.span_id))).all()
        events = (await s.scalars(select(Event.span_id).where(Event.span_id.is_not(None)))).all()
    return Stock(counts, frozenset((t, sp) for t, sp in ledger), frozenset(e for e in events if e))
