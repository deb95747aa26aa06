"""The OTLP/HTTP wire layer (flightlog.otlp.wire): bodies in, spans and points out, answers back.

No database and no server: requests are built with the official protobuf classes (and, for
JSON, written the way the OTLP specification spells it: hex ids, integer enums, 64-bit
integers as strings), so these tests run wherever the package installs.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import zlib
from typing import Any, cast

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mpb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2 as tpb

from flightlog.otlp import wire
from flightlog.otlp.anyvalue import MAX_ATTRIBUTE_DEPTH
from flightlog.otlp.rpc_status import Status
from flightlog.otlp.spans import SpanKind, StatusCode

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


# --- spans: protobuf -------------------------------------------------------------------------


def test_span_round_trip_with_every_attribute_kind() -> None:
    attributes = [
        kv("s", AnyValue(string_value="héllo")),
        kv("b", AnyValue(bool_value=True)),
        kv("i", AnyValue(int_value=-(2**63))),
        kv("d", AnyValue(double_value=0.25)),
        kv("raw", AnyValue(bytes_value=b"\x00\xff")),
        kv(
            "arr",
            AnyValue(
                array_value=ArrayValue(
                    values=[AnyValue(int_value=1), AnyValue(string_value="two"), AnyValue()]
                )
            ),
        ),
        kv(
            "map",
            AnyValue(
                kvlist_value=KeyValueList(
                    values=[
                        kv("inner", AnyValue(double_value=1.5)),
                        kv("list", AnyValue(array_value=ArrayValue(values=[]))),
                    ]
                )
            ),
        ),
        kv("unset", AnyValue()),
    ]
    event = tpb.Span.Event(
        name="gen_ai.user.message",
        time_unix_nano=T0 + 10,
        attributes=[kv("content", AnyValue(string_value="hi"))],
    )
    span = pb_span(
        parent_span_id=PARENT,
        attributes=attributes,
        events=[event],
        status=tpb.Status(code=tpb.Status.STATUS_CODE_ERROR, message="tool failed"),
    )

    decoded = wire.decode_traces(traces_pb(span), PB, None)

    assert decoded.rejected == []
    [got] = decoded.spans
    assert got.trace_id == TRACE.hex()
    assert got.span_id == SPAN.hex()
    assert got.parent_span_id == PARENT.hex()
    assert got.name == "chat gpt-4o"
    assert got.kind is SpanKind.CLIENT
    assert (got.start_time_unix_nano, got.end_time_unix_nano) == (T0, T0 + 1_000_000)
    assert dict(got.attributes) == {
        "s": "héllo",
        "b": True,
        "i": -(2**63),
        "d": 0.25,
        "raw": b"\x00\xff",
        "arr": (1, "two", None),
        "map": {"inner": 1.5, "list": ()},
        "unset": None,
    }
    [got_event] = got.events
    assert (got_event.name, got_event.time_unix_nano) == ("gen_ai.user.message", T0 + 10)
    assert dict(got_event.attributes) == {"content": "hi"}
    assert (got.status_code, got.status_message) == (StatusCode.ERROR, "tool failed")
    assert dict(got.resource) == {"service.name": "billing-agent"}
    assert got.scope_name == "pydantic-ai"


@pytest.mark.parametrize("parent", [b"", b"\0" * 8])
def test_empty_or_zero_parent_is_a_root(parent: bytes) -> None:
    [got] = wire.decode_traces(traces_pb(pb_span(parent_span_id=parent)), PB, None).spans
    assert got.parent_span_id is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trace_id": b""}, "the trace id is missing"),
        ({"trace_id": b"\0" * 16}, "the trace id is all zeros"),
        ({"trace_id": b"\1" * 8}, "the trace id is 8 bytes long, not 16"),
        ({"span_id": b""}, "the span id is missing"),
        ({"span_id": b"\0" * 8}, "the span id is all zeros"),
        ({"span_id": b"\1" * 16}, "the span id is 16 bytes long, not 8"),
        ({"parent_span_id": b"\1" * 4}, "the parent span id is 4 bytes long, not 8"),
        ({"name": ""}, "the span has no name"),
        ({"start_time_unix_nano": 0}, "the start time is missing"),
        ({"end_time_unix_nano": 0}, "the end time is missing"),
        ({"start_time_unix_nano": T0 // 1000}, "not between the years 2000 and 2100"),
        ({"end_time_unix_nano": 2**64 - 1}, "not between the years 2000 and 2100"),
        ({"end_time_unix_nano": T0 - 1}, "the span ends before it starts"),
        ({"attributes": [kv("deep", nested(MAX_ATTRIBUTE_DEPTH + 1))]}, "'deep' nests"),
        (
            {"events": [tpb.Span.Event(name="e", attributes=[kv("ev", nested(40))])]},
            "'ev' nests",
        ),
    ],
)
def test_bad_spans_are_rejected_one_by_one(overrides: dict[str, Any], reason: str) -> None:
    good = pb_span(span_id=b"\2" * 8)
    bad = pb_span(**overrides)

    decoded = wire.decode_traces(traces_pb(good, bad, good), PB, None)

    assert [s.span_id for s in decoded.spans] == ["02" * 8, "02" * 8]
    [rejected] = decoded.rejected
    assert reason in rejected.reason
    assert rejected.what.startswith("span ")


def test_attribute_at_the_depth_limit_is_kept() -> None:
    span = pb_span(attributes=[kv("deep", nested(MAX_ATTRIBUTE_DEPTH))])
    [got] = wire.decode_traces(traces_pb(span), PB, None).spans
    value: Any = got.attributes["deep"]
    for _ in range(MAX_ATTRIBUTE_DEPTH):
        (value,) = value
    assert value == "bottom"


def test_too_deep_resource_attributes_reject_the_spans_of_that_resource() -> None:
    request = trace_request(pb_span())
    request.resource_spans[0].resource.attributes.append(kv("r", nested(30)))
    request.resource_spans.append(
        tpb.ResourceSpans(scope_spans=[tpb.ScopeSpans(spans=[pb_span()])])
    )

    decoded = wire.decode_traces(request.SerializeToString(), PB, None)

    assert len(decoded.spans) == 1
    assert dict(decoded.spans[0].resource) == {}
    [rejected] = decoded.rejected
    assert "resource" in rejected.reason


def test_unknown_kind_and_status_from_a_newer_otlp_read_as_unspecified() -> None:
    span = pb_span(kind=42, status=tpb.Status(code=cast("tpb.Status.StatusCode.ValueType", 9)))
    [got] = wire.decode_traces(traces_pb(span), PB, None).spans
    assert (got.kind, got.status_code) == (SpanKind.UNSPECIFIED, StatusCode.UNSET)


def test_empty_request_decodes_to_nothing() -> None:
    for content_type in (PB, JSON):
        body = b"" if content_type == PB else b"{}"
        decoded = wire.decode_traces(body, content_type, None)
        assert (decoded.spans, decoded.rejected) == ([], [])


def test_sdk_exporter_encoding_decodes() -> None:
    """What the real Python SDK's OTLP exporter sends (when the SDK is installed)."""
    encoder = pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    memory = in_memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("wire-test")
    with tracer.start_as_current_span("invoke_agent triage") as root:
        root.set_attribute("gen_ai.agent.name", "triage")
        with tracer.start_as_current_span("execute_tool lookup") as child:
            child.set_attribute("gen_ai.tool.call.arguments", '{"q": 1}')
            child.set_attribute("sizes", [1, 2, 3])
    body = encoder.encode_spans(memory.get_finished_spans()).SerializeToString()

    decoded = wire.decode_traces(gzip.compress(body), PB, "gzip")

    assert decoded.rejected == []
    by_name = {span.name: span for span in decoded.spans}
    root_span, child_span = by_name["invoke_agent triage"], by_name["execute_tool lookup"]
    assert root_span.parent_span_id is None
    assert child_span.parent_span_id == root_span.span_id
    assert child_span.trace_id == root_span.trace_id
    assert child_span.attributes["sizes"] == (1, 2, 3)
    assert root_span.scope_name == "wire-test"
    provider.shutdown()


# --- spans: OTLP JSON ------------------------------------------------------------------------


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


def test_json_with_hex_ids_integer_enums_and_string_int64s() -> None:
    decoded = wire.decode_traces(json_traces(json_span()), "application/json; charset=utf-8", None)

    assert decoded.rejected == []
    [got] = decoded.spans
    assert got.trace_id == "5b8efff798038103d269b633813fc60c"
    assert got.span_id == "eee19b7ec3c1b174"
    assert got.parent_span_id == "0102030405060708"
    assert got.kind is SpanKind.INTERNAL
    assert (got.start_time_unix_nano, got.end_time_unix_nano) == (T0, T0 + 5)
    assert got.attributes["n"] == 9007199254740993
    assert got.attributes["raw"] == b"\x00\xff"
    assert got.attributes["spanId"] == "not hex, an attribute"
    assert got.events[0].time_unix_nano == T0 + 1
    assert (got.status_code, got.status_message) == (StatusCode.ERROR, "boom")
    assert dict(got.resource) == {"k": True}
    assert got.scope_name == "openinference"


def test_json_matches_protobuf() -> None:
    """The same request in both encodings decodes to equal spans."""
    request = trace_request(
        pb_span(parent_span_id=PARENT, attributes=[kv("a", nested(3))]), pb_span(span_id=b"\0" * 8)
    )
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:  # protobuf's JSON says base64; OTLP's says hex
                        span[key] = base64.b64decode(span[key]).hex()
                span["kind"] = tpb.Span.SpanKind.Value(span["kind"])

    from_json = wire.decode_traces(json.dumps(document).encode(), JSON, None)
    from_pb = wire.decode_traces(request.SerializeToString(), PB, None)

    assert from_json == from_pb
    assert len(from_pb.spans) == 1
    assert len(from_pb.rejected) == 1


def test_json_snake_case_ids_are_hex_too() -> None:
    span = json_span()
    span["trace_id"] = span.pop("traceId")
    [got] = wire.decode_traces(json_traces(span), JSON, None).spans
    assert got.trace_id == "5b8efff798038103d269b633813fc60c"


def test_json_zero_and_short_ids_rejected_per_span() -> None:
    decoded = wire.decode_traces(
        json_traces(json_span(), json_span(traceId="00" * 16), json_span(spanId="abcd")),
        JSON,
        None,
    )
    assert len(decoded.spans) == 1
    assert [r.reason for r in decoded.rejected] == [
        "the trace id is all zeros, which OTLP defines as invalid",
        "the span id is 2 bytes long, not 8",
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b'"resourceSpans"', "not an object"),
        (b'{"resourceSpans": "x"}', "not a valid OTLP ExportTraceServiceRequest"),
        (b'{"resourceSpans": [1]}', "not a valid OTLP ExportTraceServiceRequest"),
        (json_traces(json_span(traceId="xyz")), "traceId 'xyz' is not a hex string"),
        (json_traces(json_span(spanId="abc")), "spanId 'abc' is not a hex string"),
        (json_traces(json_span(traceId=5)), "not a valid OTLP"),
        (json_traces(json_span(startTimeUnixNano="soon")), "not a valid OTLP"),
        (json_traces(json_span(name=["x"])), "not a valid OTLP"),
        (json_traces(json_span(startTimeUnixNano=[])), "at resourceSpans.scopeSpans.spans."),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (
            json.dumps(
                {"resourceSpans": [{"resource": {"attributes": [{"value": {"intValue": "x"}}]}}]}
            ).encode(),
            "not a valid OTLP",
        ),
    ],
)
def test_malformed_json(body: bytes, fragment: str) -> None:
    with pytest.raises(wire.MalformedRequest, match=fragment) as caught:
        wire.decode_traces(body, JSON, None)
    assert caught.value.http_status == 400
    assert caught.value.message.endswith(".")


@pytest.mark.parametrize("depth", [30, 60, 2000])
def test_deeply_nested_json_attribute_is_refused_without_recursing(depth: int) -> None:
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth
    marker = json.dumps({"key": "deep", "value": "MARK"})
    body = json_traces(json_span(attributes=[json.loads(marker)]))
    body = body.replace(b'"MARK"', value.encode())
    # The schema walk refuses 30 and 60 levels; json.loads itself refuses 2000.
    with pytest.raises(wire.MalformedRequest, match="nests"):
        wire.decode_traces(body, JSON, None)


def test_moderately_nested_json_attribute_rejects_only_its_span() -> None:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(MAX_ATTRIBUTE_DEPTH + 5):
        value = {"arrayValue": {"values": [value]}}
    body = json_traces(json_span(attributes=[{"key": "deep", "value": value}]), json_span())
    decoded = wire.decode_traces(body, JSON, None)
    assert len(decoded.spans) == 1
    assert "'deep' nests" in decoded.rejected[0].reason


# --- transport: content type, encoding, size --------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/grpc", "application/jsonx"]
)
def test_unsupported_content_type(content_type: str | None) -> None:
    with pytest.raises(wire.UnsupportedMediaType) as caught:
        wire.decode_traces(traces_pb(pb_span()), content_type, None)
    assert caught.value.http_status == 415


@pytest.mark.parametrize(
    "content_type",
    ["application/x-protobuf", "application/protobuf", "Application/X-Protobuf; q=1"],
)
def test_protobuf_content_types(content_type: str) -> None:
    assert len(wire.decode_traces(traces_pb(pb_span()), content_type, None).spans) == 1


@pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY"])
def test_identity_encodings(encoding: str | None) -> None:
    assert len(wire.decode_traces(traces_pb(pb_span()), PB, encoding).spans) == 1


@pytest.mark.parametrize("encoding", ["gzip", "GZip", "x-gzip", "gzip, identity"])
def test_gzip(encoding: str) -> None:
    body = gzip.compress(traces_pb(pb_span()))
    assert len(wire.decode_traces(body, PB, encoding).spans) == 1
    json_body = gzip.compress(json_traces(json_span()))
    assert len(wire.decode_traces(json_body, JSON, encoding).spans) == 1


def test_gzip_with_several_members() -> None:
    raw = traces_pb(pb_span())
    body = gzip.compress(raw[:10]) + gzip.compress(raw[10:])
    assert len(wire.decode_traces(body, PB, "gzip").spans) == 1


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, gzip", "compress"])
def test_unknown_encoding(encoding: str) -> None:
    with pytest.raises(wire.UnsupportedEncoding) as caught:
        wire.decode_traces(gzip.compress(traces_pb(pb_span())), PB, encoding)
    assert caught.value.http_status == 415


def test_gzip_bomb_is_not_inflated_beyond_the_limit() -> None:
    limit = 1 << 20
    # 1 GiB of zeros compressed to about a megabyte: inflating it all would take the gigabyte.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(1024)) + compressor.flush()
    assert len(bomb) < 2 * limit
    with pytest.raises(wire.BodyTooLarge) as caught:
        wire.decode_traces(bomb, PB, "gzip", max_bytes=limit)
    assert caught.value.http_status == 413


def test_body_limit_applies_before_and_after_decompression() -> None:
    raw = traces_pb(pb_span(attributes=[kv("long", AnyValue(string_value="x" * 5000))]))
    assert wire.decode_traces(raw, PB, None, max_bytes=len(raw)).spans
    assert wire.decode_traces(gzip.compress(raw), PB, "gzip", max_bytes=len(raw)).spans
    with pytest.raises(wire.BodyTooLarge):
        wire.decode_traces(raw, PB, None, max_bytes=len(raw) - 1)
    with pytest.raises(wire.BodyTooLarge):
        wire.decode_traces(gzip.compress(raw), PB, "gzip", max_bytes=len(raw) - 1)


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        gzip.compress(b"x" * 1000)[:-12],  # truncated
        gzip.compress(b"abc")[:10] + b"\xff" * 20,  # corrupt deflate data
        gzip.compress(b"abc") + b"trailing garbage",
        b"",
    ],
)
def test_corrupt_gzip(body: bytes) -> None:
    with pytest.raises(wire.MalformedRequest, match="gzip"):
        wire.decode_traces(body, PB, "gzip")


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xff\xff\xff",
        b"\x0a\x05\x12\x03",  # a length running past the end
        traces_pb(pb_span())[:-3],
    ],
)
def test_malformed_protobuf(body: bytes) -> None:
    with pytest.raises(
        wire.MalformedRequest, match="not a valid protobuf ExportTraceServiceRequest"
    ):
        wire.decode_traces(body, PB, None)


def test_invalid_utf8_in_a_protobuf_string_attribute() -> None:
    marker = "\u00e9" * 3  # encodes to b"\xc3\xa9" * 3; the bytes are then broken
    body = traces_pb(pb_span(attributes=[kv("s", AnyValue(string_value=marker))]))
    broken = body.replace(marker.encode(), b"\xc3\x28" * 3)
    with pytest.raises(wire.MalformedRequest, match="UTF-8"):
        wire.decode_traces(broken, PB, None)


def test_invalid_utf8_in_a_json_body() -> None:
    body = json_traces(json_span(name="caf\u00e9")).replace("\u00e9".encode(), b"\xe9")
    with pytest.raises(wire.MalformedRequest, match="not valid JSON"):
        wire.decode_traces(body, JSON, None)


# --- metrics ---------------------------------------------------------------------------------


def number(value: float | int, **fields: Any) -> mpb.NumberDataPoint:
    key = "as_int" if isinstance(value, int) else "as_double"
    return mpb.NumberDataPoint(**{"time_unix_nano": T0, key: value, **fields})


def test_metric_kinds() -> None:
    attrs = [kv("gen_ai.operation.name", AnyValue(string_value="chat"))]
    request = metrics_request(
        mpb.Metric(
            name="g", unit="1", gauge=mpb.Gauge(data_points=[number(1.5, attributes=attrs)])
        ),
        mpb.Metric(name="s", unit="{token}", sum=mpb.Sum(data_points=[number(7), number(2.5)])),
        mpb.Metric(
            name="gen_ai.client.token.usage",
            unit="{token}",
            histogram=mpb.Histogram(
                data_points=[
                    mpb.HistogramDataPoint(
                        time_unix_nano=T0, count=3, sum=120.0, bucket_counts=[1, 2]
                    )
                ]
            ),
        ),
        mpb.Metric(
            name="e",
            exponential_histogram=mpb.ExponentialHistogram(
                data_points=[mpb.ExponentialHistogramDataPoint(time_unix_nano=T0, count=2, sum=0.0)]
            ),
        ),
        mpb.Metric(
            name="q",
            summary=mpb.Summary(
                data_points=[mpb.SummaryDataPoint(time_unix_nano=T0, count=4, sum=10.0)]
            ),
        ),
        mpb.Metric(name="no data"),
    )

    decoded = wire.decode_metrics(request.SerializeToString(), PB, None)

    assert decoded.rejected == []
    got = [(p.name, p.kind, p.value, p.count, p.time_unix_nano) for p in decoded.points]
    assert got == [
        ("g", "gauge", 1.5, None, T0),
        ("s", "sum", 7.0, None, T0),
        ("s", "sum", 2.5, None, T0),
        ("gen_ai.client.token.usage", "histogram", 120.0, 3, T0),
        ("e", "histogram", 0.0, 2, T0),
        ("q", "histogram", 10.0, 4, T0),
    ]
    first = decoded.points[0]
    assert (first.unit, dict(first.attributes)) == ("1", {"gen_ai.operation.name": "chat"})
    assert (dict(first.resource), first.scope_name) == ({"service.name": "svc"}, "genai")


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        (mpb.Metric(name="g", gauge=mpb.Gauge(data_points=[number(math.nan)])), "not a finite"),
        (mpb.Metric(name="g", gauge=mpb.Gauge(data_points=[number(math.inf)])), "not a finite"),
        (
            mpb.Metric(
                name="g", gauge=mpb.Gauge(data_points=[mpb.NumberDataPoint(time_unix_nano=T0)])
            ),
            "has no value",
        ),
        (
            mpb.Metric(
                name="h",
                histogram=mpb.Histogram(
                    data_points=[mpb.HistogramDataPoint(time_unix_nano=T0, count=1)]
                ),
            ),
            "has no sum",
        ),
        (
            mpb.Metric(
                name="h",
                histogram=mpb.Histogram(
                    data_points=[mpb.HistogramDataPoint(time_unix_nano=T0, count=1, sum=-math.inf)]
                ),
            ),
            "not a finite",
        ),
        (mpb.Metric(name="g", gauge=mpb.Gauge(data_points=[number(1, time_unix_nano=0)])), "time"),
        (mpb.Metric(name="g", gauge=mpb.Gauge(data_points=[number(1, flags=1)])), "no recorded"),
        (mpb.Metric(name="", gauge=mpb.Gauge(data_points=[number(1)])), "no name"),
        (
            mpb.Metric(
                name="g",
                gauge=mpb.Gauge(data_points=[number(1, attributes=[kv("x", nested(20))])]),
            ),
            "'x' nests",
        ),
    ],
)
def test_bad_points_are_rejected_one_by_one(metric: mpb.Metric, reason: str) -> None:
    good = mpb.Metric(name="ok", gauge=mpb.Gauge(data_points=[number(1.0)]))
    decoded = wire.decode_metrics(metrics_request(good, metric, good).SerializeToString(), PB, None)
    assert [p.name for p in decoded.points] == ["ok", "ok"]
    [rejected] = decoded.rejected
    assert reason in rejected.reason
    assert "data point of metric" in rejected.what


def test_metrics_json() -> None:
    body = json.dumps(
        {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": "gen_ai.client.operation.duration",
                                    "unit": "s",
                                    "histogram": {
                                        "aggregationTemporality": 2,
                                        "dataPoints": [
                                            {
                                                "timeUnixNano": str(T0),
                                                "count": "2",
                                                "sum": 1.25,
                                                "exemplars": [
                                                    {
                                                        "traceId": TRACE.hex(),
                                                        "spanId": SPAN.hex(),
                                                        "asDouble": 1.0,
                                                    }
                                                ],
                                            }
                                        ],
                                    },
                                },
                                {
                                    "name": "c",
                                    "sum": {"dataPoints": [{"asInt": "3", "timeUnixNano": T0}]},
                                },
                            ]
                        }
                    ]
                }
            ]
        }
    ).encode()
    decoded = wire.decode_metrics(gzip.compress(body), JSON, "gzip")
    assert [(p.name, p.kind, p.value, p.count) for p in decoded.points] == [
        ("gen_ai.client.operation.duration", "histogram", 1.25, 2),
        ("c", "sum", 3.0, None),
    ]


# --- responses -------------------------------------------------------------------------------


def test_trace_response_partial_success_in_both_encodings() -> None:
    body, content_type = wire.encode_export_response("traces", 2, "2 spans rejected.", PB)
    assert content_type == PB
    response = ExportTraceServiceResponse.FromString(body)
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "2 spans rejected."

    body, content_type = wire.encode_export_response(
        "traces", 2, "2 spans rejected.", "application/json; charset=utf-8"
    )
    assert content_type == JSON
    assert json.loads(body) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans rejected."}
    }


def test_metrics_response_partial_success() -> None:
    body, content_type = wire.encode_export_response("metrics", 5, "five", PB)
    response = ExportMetricsServiceResponse.FromString(body)
    assert (response.partial_success.rejected_data_points, content_type) == (5, PB)
    assert response.partial_success.error_message == "five"


@pytest.mark.parametrize("kind", ["traces", "metrics"])
def test_full_success_leaves_partial_success_unset(kind: Any) -> None:
    body, content_type = wire.encode_export_response(kind, 0, "", PB)
    assert (body, content_type) == (b"", PB)
    parsed = (ExportTraceServiceResponse if kind == "traces" else ExportMetricsServiceResponse)()
    parsed.ParseFromString(body)
    assert not parsed.HasField("partial_success")
    assert wire.encode_export_response(kind, 0, "", JSON) == (b"{}", JSON)


def test_response_content_type_follows_the_request() -> None:
    assert wire.response_media_type("application/protobuf") == "application/protobuf"
    assert wire.response_media_type("APPLICATION/JSON; charset=utf-8") == JSON
    assert wire.response_media_type("text/plain") == PB
    assert wire.response_media_type(None) == PB


def test_status_in_both_encodings() -> None:
    body, content_type = wire.encode_status(400, "The body is not valid JSON.", PB)
    assert content_type == PB
    status = Status.FromString(body)
    assert (status.code, status.message) == (3, "The body is not valid JSON.")

    body, content_type = wire.encode_status(503, "database unreachable", JSON)
    assert content_type == JSON
    assert json.loads(body) == {"code": 14, "message": "database unreachable"}

    body, content_type = wire.encode_status(415, "no", "text/plain")
    assert content_type == PB  # a request in no OTLP encoding is answered in protobuf
    assert Status.FromString(body).message == "no"


def test_status_is_the_real_google_rpc_status() -> None:
    """Our runtime-built Status encodes exactly as googleapis-common-protos' class (if present)."""
    status_pb2 = pytest.importorskip("google.rpc.status_pb2")
    body, _ = wire.encode_status(413, "too large", PB)
    real = status_pb2.Status.FromString(body)
    assert (real.code, real.message) == (8, "too large")
    assert body == status_pb2.Status(code=8, message="too large").SerializeToString()


def test_summarize_rejections() -> None:
    decoded = wire.decode_traces(
        traces_pb(*(pb_span(span_id=b"\0" * 8) for _ in range(5)), pb_span()), PB, None
    )
    message = wire.summarize_rejections(decoded.rejected, "spans")
    assert message.startswith("5 spans rejected: span 'chat gpt-4o' (trace id 5b8e")
    assert message.endswith("; and 2 more.")
    assert wire.summarize_rejections([], "spans") == ""


# --- fuzz ------------------------------------------------------------------------------------

CONTENT_TYPES = [PB, JSON, "text/plain", None]
ENCODINGS = [None, "gzip", "br"]


def _decode_anything(body: bytes, content_type: str | None, encoding: str | None) -> None:
    for decode in (wire.decode_traces, wire.decode_metrics):
        error: wire.WireError | None = None
        try:
            decode(body, content_type, encoding, max_bytes=1 << 16)
        except wire.WireError as exc:
            error = exc
        if error is not None:
            assert error.message
            assert error.http_status in (400, 413, 415)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=512),
    content_type=st.sampled_from(CONTENT_TYPES),
    encoding=st.sampled_from(ENCODINGS),
)
def test_fuzz_arbitrary_bytes(body: bytes, content_type: str | None, encoding: str | None) -> None:
    _decode_anything(body, content_type, encoding)


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "resourceSpans",
                    "resourceMetrics",
                    "scopeSpans",
                    "scopeMetrics",
                    "spans",
                    "metrics",
                    "traceId",
                    "spanId",
                    "parentSpanId",
                    "name",
                    "attributes",
                    "key",
                    "value",
                    "arrayValue",
                    "kvlistValue",
                    "values",
                    "stringValue",
                    "intValue",
                    "bytesValue",
                    "kind",
                    "startTimeUnixNano",
                    "endTimeUnixNano",
                    "gauge",
                    "sum",
                    "histogram",
                    "dataPoints",
                    "asDouble",
                    "asInt",
                    "timeUnixNano",
                    "events",
                    "status",
                    "code",
                    "resource",
                    "scope",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=_json, gzipped=st.booleans())
def test_fuzz_json_shapes(document: Any, gzipped: bool) -> None:
    body = json.dumps(document).encode()
    _decode_anything(gzip.compress(body) if gzipped else body, JSON, "gzip" if gzipped else None)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_mutated_protobuf(data: st.DataObject) -> None:
    """A valid request with bytes flipped, cut or inserted: every outcome is typed."""
    body = bytearray(
        traces_pb(pb_span(attributes=[kv("a", nested(3))]), pb_span(span_id=b"\1" * 8))
    )
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at] = data.draw(st.integers(0, 255))
    _decode_anything(bytes(body), PB, None)


_VALID_JSON = json.loads(
    json_traces(
        json_span(),
        json_span(
            attributes=[
                {
                    "key": "a",
                    "value": {
                        "kvlistValue": {
                            "values": [
                                {
                                    "key": "b",
                                    "value": {"arrayValue": {"values": [{"intValue": "1"}]}},
                                }
                            ]
                        }
                    },
                }
            ]
        ),
    )
)


def _json_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _json_paths(value, (*prefix, index))
    return found


_odd_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["", "00", "ff" * 8, "AA==", "NaN", "-1", "1e3", "18446744073709551616"])
)


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(_json_paths(_VALID_JSON)),
            st.recursive(
                _odd_leaf,
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=8,
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_mutated_json(edits: list[tuple[tuple[str | int, ...], Any]]) -> None:
    """A valid OTLP JSON request with values swapped for odd ones: every outcome is typed."""
    document = json.loads(json.dumps(_VALID_JSON))
    for path, value in edits:
        node = document
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced a container on this path
    _decode_anything(json.dumps(document).encode(), JSON, None)
