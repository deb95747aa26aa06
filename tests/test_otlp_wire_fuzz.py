"""The OTLP/HTTP wire layer under arbitrary input: every outcome is a result or a WireError.

Anything else (a TypeError from the JSON-to-protobuf step, a RecursionError, a zlib error)
would become a 500 in the receivers, which issue 12 forbids.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flightlog.otlp import wire
from otlp_requests import JSON, PB, json_span, json_traces, kv, nested, pb_span, traces_pb

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
