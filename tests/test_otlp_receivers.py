"""The OTLP/HTTP receivers end to end: an app on each database, answers as the spec says.

Every answer is read as an OTLP client reads it (the Content-Type of the request, an
``Export*ServiceResponse`` on 200, a ``google.rpc.Status`` otherwise), and every test
checks what the database holds afterwards: a good export's records, and nothing at all
for a refused one. Partial successes are in ``test_otlp_receivers_partial.py``, an
unreachable database in ``test_otlp_receivers_outage.py``, fuzzing in
``test_otlp_receivers_fuzz.py``.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mpb
from opentelemetry.proto.trace.v1 import trace_pb2 as tpb
from opentelemetry.util.re import parse_env_headers

from api_client import app_for
from flightlog.store import Store
from otlp_receiving import encoded, otlp_client, post, rejected, status, stock
from otlp_requests import JSON, PB, T0, kv, metrics_request, number, pb_span, trace_request

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
ROOT, CHAT, TOOL = (bytes.fromhex(f"{n:016x}") for n in (0xA1, 0xA2, 0xA3))
ENCODINGS = [(PB, False), (PB, True), (JSON, False), (JSON, True)]
IDS = ["protobuf", "protobuf+gzip", "json", "json+gzip"]


def s(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def i(value: int) -> AnyValue:
    return AnyValue(int_value=value)


def workflow(trace: bytes = TRACE) -> ExportTraceServiceRequest:
    """An agent that calls a model and a tool: three spans, children first, as exporters do."""
    root = pb_span(
        trace_id=trace,
        span_id=ROOT,
        name="invoke_agent triage",
        kind=tpb.Span.SPAN_KIND_INTERNAL,
        end_time_unix_nano=T0 + 9_000_000,
        attributes=[
            kv("gen_ai.operation.name", s("invoke_agent")),
            kv("gen_ai.agent.name", s("triage")),
        ],
    )
    chat = pb_span(
        trace_id=trace,
        span_id=CHAT,
        parent_span_id=ROOT,
        start_time_unix_nano=T0 + 1_000_000,
        end_time_unix_nano=T0 + 3_000_000,
        attributes=[
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv("gen_ai.usage.input_tokens", i(120)),
            kv("gen_ai.usage.output_tokens", i(30)),
        ],
    )
    tool = pb_span(
        trace_id=trace,
        span_id=TOOL,
        parent_span_id=ROOT,
        name="execute_tool get_weather",
        kind=tpb.Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=T0 + 4_000_000,
        end_time_unix_nano=T0 + 5_000_000,
        attributes=[
            kv("gen_ai.operation.name", s("execute_tool")),
            kv("gen_ai.tool.name", s("get_weather")),
        ],
    )
    return trace_request(tool, chat, root)


async def _key(store: Store, *scopes: str) -> str:
    return (await store.api_keys.create("otlp receiver tests", scopes=list(scopes))).key


@pytest.fixture
async def key(store: Store) -> str:
    return await _key(store)


@pytest.mark.parametrize(("content_type", "gzipped"), ENCODINGS, ids=IDS)
async def test_a_good_trace_export_is_a_200_with_an_empty_response_and_its_records(
    dialect: str, store: Store, key: str, content_type: str, gzipped: bool
) -> None:
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        response = await post(client, "traces", workflow(), content_type, gzipped=gzipped)
        assert rejected(response, content_type) == (0, "")
        assert response.content in (b"", b"{}"), "partial_success is left unset"
        after = await stock(store)
        trace = TRACE.hex()
        assert after.spans - before.spans == {(trace, x.hex()) for x in (ROOT, CHAT, TOOL)}
        assert after.event_spans - before.event_spans == {CHAT.hex(), TOOL.hex()}
        grew = {k: after.counts[k] - before.counts[k] for k in after.counts}
        assert grew["runs"] == 1
        assert grew["agent_runs"] == 1
        assert grew["metric_points"] == 0
        run = (await store.traces.get(trace)).run
        assert run is not None
        assert (run.tokens_in, run.tokens_out) == (120, 30)
        # The same export again (an exporter's retry) is answered the same and changes nothing.
        again = await post(client, "traces", workflow(), content_type, gzipped=gzipped)
        assert rejected(again, content_type) == (0, "")
        assert await stock(store) == after


@pytest.mark.parametrize(("content_type", "gzipped"), ENCODINGS, ids=IDS)
async def test_a_good_metrics_export_is_a_200_with_its_points(
    dialect: str, store: Store, key: str, content_type: str, gzipped: bool
) -> None:
    usage = mpb.Metric(
        name="gen_ai.client.token.usage",
        unit="{token}",
        histogram=mpb.Histogram(
            data_points=[
                mpb.HistogramDataPoint(time_unix_nano=T0, count=2, sum=150.0),
                mpb.HistogramDataPoint(time_unix_nano=T0 + 1, count=1, sum=30.0),
            ]
        ),
    )
    gauge = mpb.Metric(name="queue.depth", gauge=mpb.Gauge(data_points=[number(3)]))
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        response = await post(
            client, "metrics", metrics_request(usage, gauge), content_type, gzipped=gzipped
        )
    from otlp_receiving import export_response

    answer = export_response(response, "metrics", content_type)
    assert not answer.HasField("partial_success")
    after = await stock(store)
    assert after.counts["metric_points"] - before.counts["metric_points"] == 3
    assert after.spans == before.spans


# -- authentication ----------------------------------------------------------------------


async def _refused(
    store: Store,
    key: str | None,
    code: int,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> str:
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        for kind, request in (("traces", workflow()), ("metrics", metrics_request())):
            body, sent = encoded(request, content_type)
            response = await client.post(
                f"/v1/{kind}", content=body, headers={**sent, **(headers or {})}
            )
            message = status(response, code, content_type)
            if code == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await stock(store) == before
    return message


@pytest.mark.parametrize("content_type", [PB, JSON])
async def test_no_key_wrong_key_and_revoked_key_are_401(
    dialect: str, store: Store, content_type: str
) -> None:
    assert "API key" in await _refused(store, None, 401, content_type)
    await _refused(store, "flk_not-a-key-anyone-issued", 401, content_type)
    created = await store.api_keys.create("soon revoked")
    await store.api_keys.revoke(created.id)
    await _refused(store, created.key, 401, content_type)
    await _refused(store, None, 401, content_type, {"Authorization": "Basic dXNlcjpwYXNz"})


@pytest.mark.parametrize("content_type", [PB, JSON])
async def test_a_read_only_key_is_403(dialect: str, store: Store, content_type: str) -> None:
    message = await _refused(store, await _key(store, "read"), 403, content_type)
    assert "write" in message


@pytest.mark.parametrize("content_type", [PB, JSON])
async def test_logs_sent_to_the_same_endpoint_get_a_status_saying_what_to_change(
    dialect: str, store: Store, content_type: str
) -> None:
    """An exporter given one endpoint for every signal posts its logs to /v1/logs too: it
    got an HTML 404 it cannot read."""
    key = await _key(store, "write")
    async with otlp_client(app_for(store), key) as client:
        answer = await client.post("/v1/logs", content=b"", headers={"Content-Type": content_type})
    message = status(answer, 404, content_type)
    assert "not logs" in message
    assert "OTEL_LOGS_EXPORTER=none" in message


async def test_the_header_as_otel_exporter_otlp_headers_sends_it(
    dialect: str, store: Store, key: str
) -> None:
    """``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<key>``, parsed by the SDK itself."""
    headers = parse_env_headers(f"Authorization=Bearer%20{key},x-team=agents", liberal=True)
    assert headers["authorization"] == f"Bearer {key}"
    before = await stock(store)
    async with otlp_client(app_for(store), None) as client:
        body, sent = encoded(workflow(), PB)
        response = await client.post("/v1/traces", content=body, headers={**sent, **headers})
    assert rejected(response) == (0, "")
    assert len((await stock(store)).spans - before.spans) == 3


# -- requests refused whole: 400, 415 ----------------------------------------------------


def _invalid_utf8_protobuf() -> bytes:
    request = trace_request(pb_span(attributes=[kv("gen_ai.prompt", s("MARKER"))]))
    body = bytes(request.SerializeToString())
    assert body.count(b"MARKER") == 1
    return body.replace(b"MARKER", b"\xff\xfeab\xc3(")


def _invalid_utf8_json() -> bytes:
    body, _ = encoded(trace_request(pb_span(attributes=[kv("k", s("MARKER"))])), JSON)
    return body.replace(b"MARKER", b"\xff\xfeab\xc3(")


BAD_BODIES = {
    "truncated protobuf": (PB, b"\x0a\xff\x01\x0a"),
    "protobuf with an endless varint": (PB, b"\x08" + b"\xff" * 10 + b"\x01"),
    "protobuf with an unmatched group end": (PB, b"\x0c"),
    "invalid UTF-8 in a protobuf attribute": (PB, _invalid_utf8_protobuf()),
    "gzip that is not gzip": (PB, b"\x1f\x8bnot really"),
    "JSON cut short": (JSON, b'{"resourceSpans": [{"scopeSpans": ['),
    "JSON that is a list": (JSON, b"[]"),
    "JSON with a wrong shape": (JSON, b'{"resourceSpans": {"oops": 1}}'),
    "JSON with a non-hex trace id": (
        JSON,
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","name":"a"}]}]}]}',
    ),
    "invalid UTF-8 in a JSON attribute": (JSON, _invalid_utf8_json()),
}


TRACES_ONLY = {
    "invalid UTF-8 in a protobuf attribute",
    "JSON with a wrong shape",
    "JSON with a non-hex trace id",
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_a_body_that_cannot_be_decoded_is_a_400_status(
    dialect: str, store: Store, key: str, case: str
) -> None:
    content_type, body = BAD_BODIES[case]
    headers = {"Content-Type": content_type}
    if case.startswith("gzip"):
        headers["Content-Encoding"] = "gzip"
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        for kind in ("traces", "metrics"):
            if kind == "metrics" and case in TRACES_ONLY:
                continue  # a trace request's own fields: a metrics request ignores or reads them
            response = await client.post(f"/v1/{kind}", content=body, headers=headers)
            status(response, 400, content_type)
    assert await stock(store) == before


@pytest.mark.parametrize(
    ("headers", "answered_in"),
    [
        ({"Content-Type": "text/plain"}, PB),
        ({"Content-Type": "application/xml"}, PB),
        ({}, PB),
        ({"Content-Type": PB, "Content-Encoding": "br"}, PB),
        ({"Content-Type": JSON, "Content-Encoding": "deflate"}, JSON),
        ({"Content-Type": JSON, "Content-Encoding": "gzip, gzip"}, JSON),
    ],
    ids=["text", "xml", "no type", "brotli", "deflate", "gzip twice"],
)
async def test_a_wrong_content_type_or_encoding_is_a_415_status(
    dialect: str, store: Store, key: str, headers: dict[str, str], answered_in: str
) -> None:
    body = gzip.compress(bytes(workflow().SerializeToString()))
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        for kind in ("traces", "metrics"):
            response = await client.post(f"/v1/{kind}", content=body, headers=headers)
            status(response, 415, answered_in)
    assert await stock(store) == before


# -- 413 -----------------------------------------------------------------------------------

LIMIT = 4096


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _big_request() -> ExportTraceServiceRequest:
    return trace_request(pb_span(attributes=[kv("gen_ai.prompt", s("x" * 3 * LIMIT))]))


@pytest.mark.parametrize("content_type", [PB, JSON])
@pytest.mark.parametrize("how", ["declared", "chunked", "inflated"])
async def test_a_body_over_the_limit_is_a_413_status_in_the_requests_encoding(
    dialect: str, store: Store, key: str, content_type: str, how: str
) -> None:
    body, headers = encoded(_big_request(), content_type, gzipped=how == "inflated")
    if how == "inflated":
        assert len(body) < LIMIT, "small on the wire, over the limit once inflated"
    before = await stock(store)
    async with otlp_client(app_for(store, api_max_body_bytes=LIMIT), key) as client:
        for kind in ("traces", "metrics"):
            content = _chunks(body) if how == "chunked" else body
            response = await client.post(f"/v1/{kind}", content=content, headers=headers)
            if how == "chunked":
                assert "content-length" not in response.request.headers
            assert "4096" in status(response, 413, content_type)
        # A body just under the limit is read (and recorded) as usual.
        small, headers = encoded(workflow(), content_type)
        assert len(small) < LIMIT
        response = await client.post("/v1/traces", content=_chunks(small), headers=headers)
        assert rejected(response, content_type) == (0, "")
    assert len((await stock(store)).spans - before.spans) == 3


async def test_the_rest_of_the_api_keeps_its_own_413(dialect: str, store: Store, key: str) -> None:
    async with otlp_client(app_for(store, api_max_body_bytes=LIMIT), key) as client:
        response = await client.post("/api/v1/tasks", json={"title": "x" * 2 * LIMIT})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
