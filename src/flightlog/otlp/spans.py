"""What the OTLP receivers hand to the mapping: spans and metric points as plain values.

The protobuf and JSON encodings decode to these (see :mod:`flightlog.otlp.wire`),
so the mapping to Flightlog's record never sees protobuf classes and is the same
whichever encoding an exporter chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

#: An attribute value after decoding an OTLP ``AnyValue``: arrays become tuples,
#: key-value lists become dicts, bytes stay bytes.
AttrValue = (
    str | bool | int | float | bytes | tuple["AttrValue", ...] | dict[str, "AttrValue"] | None
)
Attributes = Mapping[str, AttrValue]

#: Times outside [2000-01-01, 2100-01-01) UTC are refused: a zero or near-zero time is an
#: uninitialised field, and a far-future one a unit mistake (micro- or milliseconds sent as
#: nanoseconds come out in 1970; seconds as nanoseconds likewise).
MIN_TIME_UNIX_NANO = 946_684_800 * 1_000_000_000
MAX_TIME_UNIX_NANO = 4_102_444_800 * 1_000_000_000


def time_refusal(value: int, what: str) -> str | None:
    """Why a span's ``what`` (nanoseconds since 1970) cannot be recorded, if it cannot."""
    if value == 0:
        return f"the {what} is missing"
    if not MIN_TIME_UNIX_NANO <= value < MAX_TIME_UNIX_NANO:
        return (
            f"the {what} ({value} ns since 1970) is not between the years 2000 and 2100; "
            "are the units nanoseconds?"
        )
    return None


class SpanKind(IntEnum):
    """OTLP's ``Span.SpanKind`` values."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """OTLP's ``Status.StatusCode`` values."""

    UNSET = 0
    OK = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event recorded on a span (GenAI message events, ``exception``)."""

    name: str
    time_unix_nano: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    """One finished span. Ids are lowercase hex: 32 characters for a trace, 16 for a span.

    ``memo`` holds what :mod:`flightlog.otlp.mapping` read from the span (its role,
    usage, messages…), so each is read once, and can be read ahead, before the
    ingest takes its lock (:func:`flightlog.otlp.readings.read_ahead`). It is not
    part of the span's value: equality and ``repr`` ignore it.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: Attributes
    events: tuple[SpanEvent, ...]
    status_code: StatusCode
    status_message: str
    resource: Attributes
    scope_name: str
    memo: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of an OTLP metric, reduced to what a metric point can hold.

    A histogram point (``gen_ai.client.token.usage`` is one) keeps its sum and
    count; its buckets are not kept.
    """

    name: str
    unit: str
    kind: str  # "gauge", "sum" or "histogram"
    time_unix_nano: int
    value: float
    count: int | None
    attributes: Attributes
    resource: Attributes
    scope_name: str
    #: "delta" or "cumulative" for sums and histograms (None: a gauge, or not said):
    #: a cumulative point repeats everything before it, a delta one only what is new.
    temporality: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A span or point refused while decoding, with the reason the exporter is told."""

    what: str
    reason: str


@dataclass(slots=True)
class DecodedTraces:
    """The spans of one ``ExportTraceServiceRequest`` and those refused while decoding."""

    spans: list[Span] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(slots=True)
class DecodedMetrics:
    """The points of one ``ExportMetricsServiceRequest`` and those refused while decoding."""

    points: list[MetricPoint] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
