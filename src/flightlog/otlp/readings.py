"""What a span says, read once: its model or tool call, cleaned and encoded for storage.

Reading a span (its role, usage, messages parsed and re-encoded, tool arguments) is
pure work on the span and most of what recording one costs. It is kept in the span's
memo, so it happens once per span however often the mapping asks, and the receivers
do it (:func:`read_ahead`) before the ingest's transaction and its locks:
with several server processes, one reads a request while another records one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from flightlog.ingest.events import encode_json
from flightlog.otlp import mapping
from flightlog.otlp.ledger import clean_text
from flightlog.otlp.mapping import Role
from flightlog.otlp.prices import ComputedCost, PriceTable
from flightlog.otlp.spans import Span
from flightlog.settings import MAX_OTLP_INLINE_CONTENT_BYTES as MAX_INLINE_CONTENT_BYTES


def span_time(nanoseconds: int) -> datetime:
    """An OTLP timestamp (nanoseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(nanoseconds / 1e9, tz=UTC)


def started_at(span: Span) -> datetime:
    """When the span started (read once)."""
    found: datetime | None = span.memo.get("started_at")
    if found is None:
        found = span.memo["started_at"] = span_time(span.start_time_unix_nano)
    return found


def estimated_cost(span: Span, prices: PriceTable) -> ComputedCost | None:
    """The cost of a model call by ``prices`` (read ahead when the table was known then).

    Kept with the table it came from: ``load_price_table`` hands out the same
    object while the operator's prices are unchanged, so a cost read ahead with
    another table (prices edited meanwhile) is worked out again.
    """
    memo = span.memo.get("cost")
    if memo is not None and memo[0] is prices:
        found: ComputedCost | None = memo[1]
        return found
    call = model_call(span)
    usage = call.usage
    computed = (
        None
        if call.model is None
        else prices.estimate(
            call.model,
            started_at(span),
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens,
        )
    )
    span.memo["cost"] = (prices, computed)
    return computed


def seconds(span: Span) -> float:
    """How long the span lasted (0 for one that claims to end before it starts)."""
    return max(span.end_time_unix_nano - span.start_time_unix_nano, 0) / 1e9


def clean(value: object) -> object:
    """A value JSON columns on both databases can hold (no NUL, no NaN, string keys)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): clean(item) for key, item in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


class Content(NamedTuple):
    """Content of a span, cleaned, in the two encodings the record needs.

    ``utf8`` is what an artifact holds and what the inline limit counts;
    ``stored`` is the JSON the events table stores for it (the engines'
    serializer), spliced into its event's data as it is, so that it is not
    encoded again while the ingest holds its lock.
    """

    value: object
    utf8: bytes
    stored: str


def clean_encoded(value: object) -> Content:
    """:func:`clean` of ``value``, with its JSON (see :class:`Content`).

    Encoding first (in C) and looking for what a database refuses in the one
    resulting string is much cheaper than walking the value in Python; the walk
    is only for the rare value that needs cleaning.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        if "\\u0000" not in text:
            return _content(value, text.encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError):
        pass
    cleaned = clean(value)
    return _content(cleaned, json.dumps(cleaned, ensure_ascii=False).encode("utf-8"))


def _content(value: object, utf8: bytes) -> Content:
    # Content past the largest inline limit allowed always becomes an artifact: its
    # stored form would never be used.
    inline = len(utf8) <= MAX_INLINE_CONTENT_BYTES
    return Content(value, utf8, encode_json(value) if inline else "")


@dataclass(frozen=True, slots=True)
class ModelCall:
    """What a model-call span says, whatever run it lands in (read once, see :func:`read_ahead`)."""

    usage: mapping.Usage
    model: str | None
    #: The event's data before cost, finish reasons and messages.
    data: dict[str, Any]
    finish_reasons: object
    messages: Content | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """What a tool span says (read once, see :func:`read_ahead`)."""

    name: str
    data: dict[str, Any]
    arguments: Content | None
    result: Content | None


def model_call(span: Span) -> ModelCall:
    """The model call a span records, read once per span."""
    return mapping.memoized(span, "model_call", _read_model_call)


def _read_model_call(span: Span) -> ModelCall:
    usage = mapping.usage(span)
    model = mapping.model_name(span)
    data: dict[str, Any] = {
        "model": clean(model),
        "provider": clean(mapping.provider(span)),
        "operation": clean(mapping.text(span.attributes.get("gen_ai.operation.name"))),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "latency_ms": round(seconds(span) * 1000, 3),
    }
    if usage.cached_input_tokens:
        data["cached_input_tokens"] = usage.cached_input_tokens
    finish = span.attributes.get("gen_ai.response.finish_reasons")
    found = mapping.messages(span)
    return ModelCall(
        usage=usage,
        model=model,
        data=data,
        finish_reasons=None if finish is None else clean(mapping.text(finish)),
        messages=clean_encoded(found) if found else None,
    )


def tool_call(span: Span) -> ToolCall:
    """The tool call a span records, read once per span."""
    return mapping.memoized(span, "tool_call", _read_tool_call)


def _read_tool_call(span: Span) -> ToolCall:
    name, call_id, arguments, result = mapping.tool_call(span)
    data: dict[str, Any] = {
        "tool": clean_text(name),
        "latency_ms": round(seconds(span) * 1000, 3),
    }
    if call_id:
        data["call_id"] = clean_text(call_id)[:200]
    return ToolCall(
        name=name,
        data=data,
        arguments=None if arguments is None else clean_encoded(arguments),
        result=None if result is None else clean_encoded(result),
    )


def read_ahead(spans: Iterable[Span], prices: PriceTable | None = None) -> None:
    """Read what each span says now, so that recording them later only places and writes.

    Pure work on the spans, kept in their memos: the receivers call it before the
    ingest's transaction (and its locks), so that with several server
    processes one reads a request while another records one.
    """
    for span in spans:
        try:
            role = mapping.role(span)
            mapping.error(span)
            started_at(span)
            if role is Role.MODEL:
                call = model_call(span)
                if prices is not None and call.usage.reported_cost_usd is None:
                    estimated_cost(span, prices)
            elif role is Role.TOOL:
                tool_call(span)
        except Exception:  # content no rule foresaw
            # Read again while recording, where such a failure rejects only its trace.
            span.memo.clear()
