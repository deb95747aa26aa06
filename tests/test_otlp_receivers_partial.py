"""Partial success: spans that cannot be kept are counted and explained, the rest recorded.

Each request mixes a good trace with bad spans or a bad trace; the answer must be a 200 whose
``partial_success`` counts exactly the rejected spans, and the database must hold the good
trace's records and nothing of the rejected ones (in the span ledger, runs and events).
"""

from __future__ import annotations

import time
import uuid

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2 as tpb

from api_client import app_for
from flightlog.store import Store
from otlp_receiving import Stock, otlp_client, post, rejected, stock
from otlp_requests import JSON, PB, T0, kv, nested, pb_span
from test_otlp_receivers import TRACE, i, s, workflow


def good(trace: bytes = TRACE) -> set[tuple[str, str]]:
    """The ledger rows of the good workflow sent as ``trace``."""
    return {(trace.hex(), f"{n:016x}") for n in (0xA1, 0xA2, 0xA3)}


GOOD = good()
OTHER_TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
YEAR_1970 = 1_000_000_000  # one second after the epoch, in nanoseconds
YEAR_2200 = 7_258_118_400 * 1_000_000_000


def _with(*extra: tpb.Span, trace: bytes = TRACE) -> ExportTraceServiceRequest:
    """The good workflow, plus ``extra`` spans in a second resource of the same request."""
    request = workflow(trace)
    request.resource_spans.add().scope_spans.add().spans.extend(extra)
    return request


async def _export(
    store: Store, request: ExportTraceServiceRequest, content_type: str
) -> tuple[int, str, Stock, Stock]:
    key = (await store.api_keys.create("partial")).key
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        count, message = rejected(await post(client, "traces", request, content_type), content_type)
    return count, message, before, await stock(store)


def _only_good_recorded(before: Stock, after: Stock, good: set[tuple[str, str]] = GOOD) -> None:
    assert after.spans - before.spans == good
    assert after.counts["runs"] - before.counts["runs"] == len({t for t, _ in good})


BAD_SPANS = {
    "no trace id": pb_span(trace_id=b"", span_id=b"\x01" * 8),
    "zero trace id": pb_span(trace_id=b"\x00" * 16, span_id=b"\x02" * 8),
    "short trace id": pb_span(trace_id=b"\x05" * 8, span_id=b"\x02" * 8),
    "no span id": pb_span(trace_id=OTHER_TRACE, span_id=b""),
    "zero span id": pb_span(trace_id=OTHER_TRACE, span_id=b"\x00" * 8),
    "long parent id": pb_span(
        trace_id=OTHER_TRACE, span_id=b"\x03" * 8, parent_span_id=b"\x01" * 9
    ),
    "no start": pb_span(trace_id=OTHER_TRACE, start_time_unix_nano=0),
    "start in 1970": pb_span(trace_id=OTHER_TRACE, start_time_unix_nano=YEAR_1970),
    "end in 2200": pb_span(trace_id=OTHER_TRACE, end_time_unix_nano=YEAR_2200),
    "end before start": pb_span(trace_id=OTHER_TRACE, end_time_unix_nano=T0 - 1),
    # Deeper than MAX_ATTRIBUTE_DEPTH (16), not so deep that the JSON body is refused whole.
    "attribute nested too deep": pb_span(trace_id=OTHER_TRACE, attributes=[kv("deep", nested(20))]),
    "no name": pb_span(trace_id=OTHER_TRACE, name=""),
}
REASONS = {
    "no trace id": "trace id is missing",
    "zero trace id": "all zeros",
    "short trace id": "8 bytes long",
    "no span id": "span id is missing",
    "zero span id": "all zeros",
    "long parent id": "parent span id is 9 bytes",
    "no start": "start time is missing",
    "start in 1970": "between the years 2000 and 2100",
    "end in 2200": "between the years 2000 and 2100",
    "end before start": "ends before it starts",
    "attribute nested too deep": "nest",
    "no name": "no name",
}


@pytest.mark.parametrize("content_type", [PB, JSON])
@pytest.mark.parametrize("case", sorted(BAD_SPANS))
async def test_a_span_that_cannot_be_kept_is_rejected_and_the_rest_recorded(
    dialect: str, store: Store, case: str, content_type: str
) -> None:
    count, message, before, after = await _export(store, _with(BAD_SPANS[case]), content_type)
    assert count == 1, message
    assert message.startswith("1 spans rejected: span "), message
    assert REASONS[case] in message
    _only_good_recorded(before, after)


async def test_every_rejection_is_counted_and_the_message_stays_short(
    dialect: str, store: Store
) -> None:
    count, message, before, after = await _export(store, _with(*BAD_SPANS.values()), PB)
    assert count == len(BAD_SPANS)
    assert message.endswith(f"and {len(BAD_SPANS) - 3} more.")
    _only_good_recorded(before, after)


@pytest.mark.parametrize("content_type", [PB, JSON])
async def test_values_beyond_column_limits_are_bounded_not_refused_whole(
    dialect: str, store: Store, content_type: str
) -> None:
    """Names, models, ids and messages far past any column's length: kept, cut to fit."""
    huge = "é" * 5000
    root = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0b" * 8,
        name="invoke_agent " + huge,
        kind=tpb.Span.SPAN_KIND_INTERNAL,
        end_time_unix_nano=T0 + 9_000_000,
        status=tpb.Status(code=tpb.Status.STATUS_CODE_ERROR, message=huge),
        attributes=[
            kv("gen_ai.operation.name", s("invoke_agent")),
            kv("gen_ai.agent.name", s(huge)),
            kv("gen_ai.conversation.id", s(huge)),
            kv("flightlog.task", s(huge)),
        ],
    )
    chat = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0c" * 8,
        parent_span_id=b"\x0b" * 8,
        attributes=[
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s(huge)),
            kv("gen_ai.usage.input_tokens", i(-5)),
            kv("gen_ai.input.messages", s(huge * 10)),
        ],
    )
    tool = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0d" * 8,
        parent_span_id=b"\x0b" * 8,
        name="execute_tool " + huge,
        attributes=[
            kv("gen_ai.operation.name", s("execute_tool")),
            kv("gen_ai.tool.name", s(huge)),
            kv("gen_ai.tool.call.arguments", s(huge * 10)),
        ],
    )
    count, message, before, after = await _export(store, _with(root, chat, tool), content_type)
    assert count == 0, message
    spans = {(OTHER_TRACE.hex(), x.hex()) for x in (b"\x0b" * 8, b"\x0c" * 8, b"\x0d" * 8)}
    _only_good_recorded(before, after, GOOD | spans)
    recorded = await store.traces.get(OTHER_TRACE.hex())
    assert recorded.run is not None
    assert recorded.run.status == "FAILED"
    assert recorded.run.tokens_in == 0


@pytest.mark.parametrize("tokens", [2**31, 2**62, 2**63 - 1])
async def test_token_counts_past_any_column_reject_their_trace_or_are_kept_whole(
    dialect: str, store: Store, tokens: int
) -> None:
    """Never the whole request: the trace is kept exactly, or rejected leaving nothing."""
    agent = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0a" * 8,
        end_time_unix_nano=T0 + 9_000_000,
        attributes=[kv("gen_ai.operation.name", s("invoke_agent"))],
    )
    chat = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0b" * 8,
        parent_span_id=b"\x0a" * 8,
        attributes=[
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv("gen_ai.usage.input_tokens", i(tokens)),
            kv("gen_ai.usage.output_tokens", i(tokens)),
        ],
    )
    key = (await store.api_keys.create("tokens")).key
    before = await stock(store)
    async with otlp_client(app_for(store), key) as client:
        response = await post(client, "traces", _with(chat, agent))
    assert response.status_code == 200
    count, message = rejected(response)
    after = await stock(store)
    if count:
        assert count == 2
        assert f"trace {OTHER_TRACE.hex()}" in message
        _only_good_recorded(before, after)
    else:
        spans = {(OTHER_TRACE.hex(), x.hex()) for x in (b"\x0a" * 8, b"\x0b" * 8)}
        _only_good_recorded(before, after, GOOD | spans)
        run = (await store.traces.get(OTHER_TRACE.hex())).run
        assert run is not None
        assert run.tokens_in == tokens


async def _task_refusal(store: Store, task_id: uuid.UUID) -> tuple[str, Stock, Stock]:
    claimed = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0e" * 8,
        name="invoke_agent intruder",
        attributes=[kv("flightlog.task_id", s(str(task_id)))],
    )
    child = pb_span(trace_id=OTHER_TRACE, span_id=b"\x0f" * 8, parent_span_id=b"\x0e" * 8)
    trace = uuid.uuid4().bytes
    count, message, before, after = await _export(store, _with(child, claimed, trace=trace), PB)
    assert count == 2, message  # the whole trace: its root and its child
    _only_good_recorded(before, after, good(trace))
    return message.replace(str(task_id), "<id>"), before, after


async def test_a_trace_claiming_another_tenants_task_is_rejected_like_a_missing_task(
    dialect: str, store: Store, other: Store
) -> None:
    theirs = await other.tasks.create(title="their task")
    their_runs = len(await other.runs.list(task_id=theirs.id))
    foreign, _, _ = await _task_refusal(store, theirs.id)
    missing, _, _ = await _task_refusal(store, uuid.uuid4())
    assert foreign == missing
    assert "their task" not in foreign
    assert len(await other.runs.list(task_id=theirs.id)) == their_runs
    # The customer's own task is accepted under the same attribute.
    mine = await store.tasks.create(title="mine")
    claimed = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0e" * 8,
        attributes=[kv("flightlog.task_id", s(str(mine.id)))],
    )
    count, message, _, _ = await _export(store, _with(claimed), PB)
    assert count == 0, message
    run = (await store.traces.get(OTHER_TRACE.hex())).run
    assert run is not None
    assert run.task_id == mine.id


async def test_a_task_id_that_is_not_a_uuid_rejects_its_trace(dialect: str, store: Store) -> None:
    claimed = pb_span(
        trace_id=OTHER_TRACE, span_id=b"\x0e" * 8, attributes=[kv("flightlog.task_id", s("42"))]
    )
    count, message, before, after = await _export(store, _with(claimed), JSON)
    assert count == 1
    assert "flightlog.task_id" in message
    _only_good_recorded(before, after)


async def test_a_root_span_more_than_five_minutes_in_the_future_rejects_its_trace(
    dialect: str, store: Store
) -> None:
    ahead = time.time_ns() + 6 * 60 * 1_000_000_000
    root = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0e" * 8,
        start_time_unix_nano=ahead,
        end_time_unix_nano=ahead + 1_000_000,
    )
    child = pb_span(
        trace_id=OTHER_TRACE,
        span_id=b"\x0f" * 8,
        parent_span_id=b"\x0e" * 8,
        start_time_unix_nano=ahead,
        end_time_unix_nano=ahead + 1,
    )
    count, message, before, after = await _export(store, _with(root, child), PB)
    assert count == 2, message
    assert "future" in message
    _only_good_recorded(before, after)
