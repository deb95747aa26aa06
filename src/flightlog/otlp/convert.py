"""Parsed OTLP protobuf messages to :mod:`flightlog.otlp.spans` values, refusing what is unusable.

A request that parses is never refused as a whole here: each span or data point that cannot
become part of the record (a missing id, an impossible time, an attribute nested without end)
becomes a :class:`~flightlog.otlp.spans.Rejected` with the reason the exporter is told in the
``partial_success`` of the response, and the rest of the batch is kept. That is what the
OTLP specification's partial success exists for, and it keeps one buggy instrumentation from
costing an exporter its whole batch.
"""

from __future__ import annotations

import math

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from flightlog.otlp.anyvalue import AttributeTooDeep, attributes
from flightlog.otlp.spans import (
    Attributes,
    DecodedMetrics,
    DecodedTraces,
    MetricPoint,
    Rejected,
    Span,
    SpanEvent,
    SpanKind,
    StatusCode,
    time_refusal,
)

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_SPAN_KINDS = frozenset(int(kind) for kind in SpanKind)
_STATUS_CODES = frozenset(int(code) for code in StatusCode)


class _Refused(Exception):
    """One span or point cannot be kept; the message is the reason given to the exporter."""


def traces(request: ExportTraceServiceRequest) -> DecodedTraces:
    """Every span of a parsed request, converted, or refused with its reason."""
    decoded = DecodedTraces()
    for resource_spans in request.resource_spans:
        try:
            resource: Attributes | None = attributes(resource_spans.resource.attributes)
            resource_problem = ""
        except AttributeTooDeep as exc:
            resource, resource_problem = None, f"its resource's {exc}"
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for pb_span in scope_spans.spans:
                try:
                    if resource is None:
                        raise _Refused(resource_problem)
                    decoded.spans.append(_span(pb_span, resource, scope_name))
                except _Refused as exc:
                    decoded.rejected.append(Rejected(what=_describe_span(pb_span), reason=str(exc)))
    return decoded


def _describe_span(span: PbSpan) -> str:
    """How a refused span is named in the message: its name and ids, bounded in length."""
    name = span.name if len(span.name) <= 80 else span.name[:77] + "..."
    return (
        f"span {name!r} (trace id {span.trace_id[:32].hex() or 'empty'}, "
        f"span id {span.span_id[:32].hex() or 'empty'})"
    )


def _span(span: PbSpan, resource: Attributes, scope_name: str) -> Span:
    trace_id = _id(span.trace_id, _TRACE_ID_BYTES, "trace id")
    span_id = _id(span.span_id, _SPAN_ID_BYTES, "span id")
    parent = span.parent_span_id
    if not parent.strip(b"\0"):
        parent_span_id = None  # absent or all zero: a root span
    elif len(parent) != _SPAN_ID_BYTES:
        raise _Refused(f"the parent span id is {len(parent)} bytes long, not {_SPAN_ID_BYTES}")
    else:
        parent_span_id = parent.hex()
    if not span.name:
        raise _Refused("the span has no name")
    start = _time(span.start_time_unix_nano, "start time")
    end = _time(span.end_time_unix_nano, "end time")
    if end < start:
        raise _Refused("the span ends before it starts")
    try:
        span_attributes = attributes(span.attributes)
        events = tuple(
            SpanEvent(
                name=event.name,
                time_unix_nano=event.time_unix_nano,
                attributes=attributes(event.attributes),
            )
            for event in span.events
        )
    except AttributeTooDeep as exc:
        raise _Refused(f"its {exc}") from None
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=span.name,
        # Open enums: a kind or status code from a newer OTLP is read as unspecified / unset.
        kind=SpanKind(span.kind) if span.kind in _SPAN_KINDS else SpanKind.UNSPECIFIED,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=span_attributes,
        events=events,
        status_code=(
            StatusCode(span.status.code) if span.status.code in _STATUS_CODES else StatusCode.UNSET
        ),
        status_message=span.status.message,
        resource=resource,
        scope_name=scope_name,
    )


def _id(raw: bytes, size: int, what: str) -> str:
    """A trace or span id as lowercase hex, refused when missing, all zero or the wrong size."""
    if not raw:
        raise _Refused(f"the {what} is missing")
    if len(raw) != size:
        raise _Refused(f"the {what} is {len(raw)} bytes long, not {size}")
    if not raw.strip(b"\0"):
        raise _Refused(f"the {what} is all zeros, which OTLP defines as invalid")
    return raw.hex()


def _time(value: int, what: str) -> int:
    refusal = time_refusal(value, what)
    if refusal is not None:
        raise _Refused(refusal)
    return value


def metrics(request: ExportMetricsServiceRequest) -> DecodedMetrics:
    """Every data point of a parsed request, reduced to a metric point, or refused."""
    decoded = DecodedMetrics()
    for resource_metrics in request.resource_metrics:
        try:
            resource: Attributes | None = attributes(resource_metrics.resource.attributes)
            resource_problem = ""
        except AttributeTooDeep as exc:
            resource, resource_problem = None, f"its resource's {exc}"
        for scope_metrics in resource_metrics.scope_metrics:
            scope_name = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                _metric(metric, resource, resource_problem, scope_name, decoded)
    return decoded


_Point = NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint
#: OTLP's AggregationTemporality values (0 is "unspecified": nothing said, nothing kept).
_TEMPORALITY = {1: "delta", 2: "cumulative"}


def _metric(
    metric: Metric,
    resource: Attributes | None,
    resource_problem: str,
    scope_name: str,
    decoded: DecodedMetrics,
) -> None:
    which = metric.WhichOneof("data")
    points: list[_Point]
    temporality: str | None = None
    if which == "gauge":
        kind, points = "gauge", list(metric.gauge.data_points)
    elif which == "sum":
        # A sum that may go down (an UpDownCounter) is a level, as a gauge is, not a count.
        kind = "sum" if metric.sum.is_monotonic else "gauge"
        points = list(metric.sum.data_points)
        temporality = _TEMPORALITY.get(metric.sum.aggregation_temporality)
    elif which == "histogram":
        kind, points = "histogram", list(metric.histogram.data_points)
        temporality = _TEMPORALITY.get(metric.histogram.aggregation_temporality)
    elif which == "exponential_histogram":
        kind, points = "histogram", list(metric.exponential_histogram.data_points)
        temporality = _TEMPORALITY.get(metric.exponential_histogram.aggregation_temporality)
    elif which == "summary":
        # A summary keeps the same two numbers as a histogram here: its sum and count.
        kind, points = "histogram", list(metric.summary.data_points)
    else:
        return  # a metric with no data carries no points to keep or refuse
    what = f"a data point of metric {metric.name[:80]!r}"
    for point in points:
        try:
            if resource is None:
                raise _Refused(resource_problem)
            if not metric.name:
                raise _Refused("the metric has no name")
            value, count = _value(point)
            try:
                point_attributes = attributes(point.attributes)
            except AttributeTooDeep as exc:
                raise _Refused(f"its {exc}") from None
            decoded.points.append(
                MetricPoint(
                    name=metric.name,
                    unit=metric.unit,
                    kind=kind,
                    time_unix_nano=_time(point.time_unix_nano, "time"),
                    value=value,
                    count=count,
                    attributes=point_attributes,
                    resource=resource,
                    scope_name=scope_name,
                    temporality=temporality,
                )
            )
        except _Refused as exc:
            decoded.rejected.append(Rejected(what=what, reason=str(exc)))


def _value(point: _Point) -> tuple[float, int | None]:
    """The point's value (a number, or a histogram's / summary's sum) and count."""
    if point.flags & _NO_RECORDED_VALUE:
        raise _Refused("the point is flagged as having no recorded value")
    count: int | None
    if isinstance(point, NumberDataPoint):
        which = point.WhichOneof("value")
        if which == "as_double":
            value = point.as_double
        elif which == "as_int":
            value = float(point.as_int)
        else:
            raise _Refused("the point has no value")
        count = None
    elif isinstance(point, SummaryDataPoint):
        value, count = point.sum, point.count
    else:
        if not point.HasField("sum"):
            raise _Refused("the histogram point has no sum")
        value, count = point.sum, point.count
    if not math.isfinite(value):
        raise _Refused(f"the value is {value}, not a finite number")
    return value, count
