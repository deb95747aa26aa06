"""The OTLP/HTTP wire layer: content types, encodings, body limits, and the answers it encodes."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from flightlog.otlp import wire
from flightlog.otlp.rpc_status import Status
from otlp_requests import JSON, PB, json_span, json_traces, kv, pb_span, traces_pb

# --- transport: content type, encoding, size --------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/grpc", "application/jsonx"]
)
def test_unsupported_content_type(content_type: str | None) -> None:
    with pytest.raises(wire.UnsupportedMediaType) as caught:
        wire.decode_traces(traces_pb(pb_span()), content_type, None)
    assert caught.value.http_status == 415
    assert "send application/x-protobuf or application/json" in caught.value.message


def test_client_values_in_messages_are_bounded() -> None:
    with pytest.raises(wire.UnsupportedMediaType) as media:
        wire.decode_traces(b"", "text/" + "x" * 10_000, None)
    with pytest.raises(wire.UnsupportedEncoding) as coding:
        wire.decode_traces(b"", PB, "y" * 10_000)
    assert len(media.value.message) < 200
    assert len(coding.value.message) < 200


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


# mtime=0: a gzip header holds the time it was written, and these bodies are test ids,
# which pytest-xdist's workers must collect alike (they did not when a second ticked between).
@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        gzip.compress(b"x" * 1000, mtime=0)[:-12],  # truncated
        gzip.compress(b"abc", mtime=0)[:10] + b"\xff" * 20,  # corrupt deflate data
        gzip.compress(b"abc", mtime=0) + b"trailing garbage",
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
