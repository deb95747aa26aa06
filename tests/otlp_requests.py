"""OTLP export requests for the wire tests, built with the official protobuf classes.

JSON requests are written the way the OTLP specification spells them (hex ids, integer enums,
64-bit integers as strings), not as protobuf's canonical JSON.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mpb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2 as tpb

PB = "application/x-protobuf"
JSON = "application/json"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("0102030405060708")
T0 = 1_700_000_000_000_000_000  # 2023-11-14


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def pb_span(**overrides: Any) -> tpb.Span:
    fields: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": SPAN,
        "name": "chat gpt-4o",
        "kind": tpb.Span.SPAN_KIND_CLIENT,
        "start_time_unix_nano": T0,
        "end_time_unix_nano": T0 + 1_000_000,
    }
    fields.update(overrides)
    return tpb.Span(**fields)


def trace_request(*spans: tpb.Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            tpb.ResourceSpans(
                resource=Resource(
                    attributes=[kv("service.name", AnyValue(string_value="billing-agent"))]
                ),
                scope_spans=[
                    tpb.ScopeSpans(scope=InstrumentationScope(name="pydantic-ai"), spans=spans)
                ],
            )
        ]
    )


def traces_pb(*spans: tpb.Span) -> bytes:
    return bytes(trace_request(*spans).SerializeToString())


def metrics_request(*metrics: mpb.Metric) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest(
        resource_metrics=[
            mpb.ResourceMetrics(
                resource=Resource(attributes=[kv("service.name", AnyValue(string_value="svc"))]),
                scope_metrics=[
                    mpb.ScopeMetrics(scope=InstrumentationScope(name="genai"), metrics=metrics)
                ],
            )
        ]
    )


def nested(depth: int) -> AnyValue:
    """An attribute value with ``depth`` levels of arrays around a string."""
    value = AnyValue(string_value="bottom")
    for _ in range(depth):
        value = AnyValue(array_value=ArrayValue(values=[value]))
    return value


def json_span(**overrides: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",  # case-insensitive hex, per the spec
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "0102030405060708",
        "name": "execute_tool get_weather",
        "kind": 1,
        "startTimeUnixNano": str(T0),  # 64-bit integers may be strings...
        "endTimeUnixNano": T0 + 5,  # ... or numbers
        "attributes": [
            {"key": "n", "value": {"intValue": "9007199254740993"}},
            {"key": "raw", "value": {"bytesValue": "AP8="}},  # bytes stay base64
            {"key": "spanId", "value": {"stringValue": "not hex, an attribute"}},
        ],
        "events": [{"name": "exception", "timeUnixNano": str(T0 + 1)}],
        "links": [{"traceId": "00" * 15 + "01", "spanId": "00" * 7 + "01"}],
        "status": {"code": 2, "message": "boom"},
        "someFieldFromTheFuture": {"traceId": "zz"},
    }
    span.update(overrides)
    return span


def json_traces(*spans: dict[str, Any]) -> bytes:
    """An OTLP JSON trace request, UTF-8 encoded (non-ASCII written as such, not escaped)."""
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "k", "value": {"boolValue": True}}]},
                "scopeSpans": [{"scope": {"name": "openinference"}, "spans": list(spans)}],
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
            }
        ]
    }
    return json.dumps(request, ensure_ascii=False).encode()


def number(value: float | int, **fields: Any) -> mpb.NumberDataPoint:
    key = "as_int" if isinstance(value, int) else "as_double"
    return mpb.NumberDataPoint(**{"time_unix_nano": T0, key: value, **fields})
