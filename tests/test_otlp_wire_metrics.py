"""The OTLP/HTTP wire layer: metric requests to metric points, and the points it refuses."""

from __future__ import annotations

import gzip
import json
import math

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mpb

from flightlog.otlp import wire
from otlp_requests import JSON, PB, SPAN, T0, TRACE, kv, metrics_request, nested, number


def test_metric_kinds() -> None:
    attrs = [kv("gen_ai.operation.name", AnyValue(string_value="chat"))]
    request = metrics_request(
        mpb.Metric(
            name="g", unit="1", gauge=mpb.Gauge(data_points=[number(1.5, attributes=attrs)])
        ),
        mpb.Metric(
            name="s",
            unit="{token}",
            sum=mpb.Sum(
                data_points=[number(7), number(2.5)], is_monotonic=True, aggregation_temporality=2
            ),
        ),
        # An UpDownCounter: a level that may fall, kept as a gauge (it was a counter).
        mpb.Metric(name="u", sum=mpb.Sum(data_points=[number(-2)], aggregation_temporality=1)),
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
        ("u", "gauge", -2.0, None, T0),
        ("gen_ai.client.token.usage", "histogram", 120.0, 3, T0),
        ("e", "histogram", 0.0, 2, T0),
        ("q", "histogram", 10.0, 4, T0),
    ]
    # Whether a point repeats all before it (cumulative) or only what is new (delta).
    assert [p.temporality for p in decoded.points] == [
        None,
        "cumulative",
        "cumulative",
        "delta",
        None,
        None,
        None,
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
                                    "sum": {
                                        "dataPoints": [{"asInt": "3", "timeUnixNano": T0}],
                                        "isMonotonic": True,
                                        "aggregationTemporality": 2,
                                    },
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
