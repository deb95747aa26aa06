"""The OTLP/HTTP wire layer (flightlog.otlp.wire): trace requests in both encodings to spans.

No database and no server: requests are built with the official protobuf classes (see
otlp_requests), so these tests run wherever the package installs. Transport (content types,
gzip, limits) and responses are in test_otlp_wire_transport, metrics in
test_otlp_wire_metrics, fuzzing in test_otlp_wire_fuzz.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any, cast

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValueList
from opentelemetry.proto.trace.v1 import trace_pb2 as tpb

from flightlog.otlp import wire
from flightlog.otlp.anyvalue import MAX_ATTRIBUTE_DEPTH
from flightlog.otlp.spans import SpanKind, StatusCode
from otlp_requests import (
    JSON,
    PARENT,
    PB,
    SPAN,
    T0,
    TRACE,
    json_span,
    json_traces,
    kv,
    nested,
    pb_span,
    trace_request,
    traces_pb,
)

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
