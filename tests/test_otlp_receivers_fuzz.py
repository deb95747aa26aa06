"""No input makes the OTLP receivers answer a 500: fuzzing the real app on a real database.

Hypothesis posts arbitrary bytes, valid bodies with bytes flipped, cut or inserted, and OTLP
JSON with values swapped for others, each in every Content-Type and Content-Encoding an
exporter or an attacker might send, to both receivers of the app as ``flightlog serve`` runs
it (its own engine, real commits). Every answer must be one the OTLP specification allows
for bad input (200, 400, 413, 415), in the request's Content-Type, and decode as the
matching ``Export*ServiceResponse`` or ``google.rpc.Status``.

The schemathesis contract test (``test_api_contract.py``) sends these routes schema-shaped
JSON objects and binary strings too, but cannot build protobuf, mutate encodings or vary the
Content-Type beyond the document's two, so this test is where bad OTLP input is explored.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from flightlog.api import create_app
from flightlog.settings import Settings
from otlp_receiving import RPC_CODES, to_json
from otlp_requests import JSON, PB, json_span, json_traces, metrics_request, number
from postgres_server import PostgresServer
from test_otlp_receivers import workflow
from tracing_support import Databases, databases, make_api_key, url_text

LIMIT = 1 << 16
CONTENT_TYPES = [
    PB,
    JSON,
    "application/protobuf",
    "application/json; charset=utf-8",
    "text/plain",
    "multipart/form-data; boundary=x",
    None,
]
ENCODINGS = [None, "gzip", "identity", "br", "gzip, deflate"]


@pytest.fixture(scope="module")
def fuzz_databases(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[Databases]:
    yield from databases(tmp_path_factory.mktemp("otlp-fuzz"), postgres_server, test_settings)


@pytest.fixture(scope="module")
def _clients() -> Iterator[dict[str, tuple[TestClient, str]]]:
    opened: dict[str, tuple[TestClient, str]] = {}
    yield opened
    for client, _key in opened.values():
        client.__exit__(None, None, None)


@pytest.fixture
def served(
    dialect: str,
    fuzz_databases: Databases,
    _clients: dict[str, tuple[TestClient, str]],
    test_settings: Settings,
) -> tuple[TestClient, str]:
    """The app of the dialect's database, started once per module, and a key of its customer."""
    if dialect not in _clients:
        url = url_text(fuzz_databases.url(dialect))
        settings = test_settings.model_copy(
            update={"database_url": url, "api_max_body_bytes": LIMIT}
        )
        key = make_api_key(url, settings)
        client = TestClient(create_app(settings, dashboard=False), raise_server_exceptions=False)
        client.__enter__()
        _clients[dialect] = (client, key)
    return _clients[dialect]


def _valid_bodies() -> list[tuple[str, str, bytes]]:
    """(kind, content type, body) of valid requests: the starting points of mutation."""
    metrics = metrics_request(*[])
    metrics.resource_metrics[0].scope_metrics[0].metrics.add(name="m").gauge.data_points.append(
        number(2.5)
    )
    return [
        ("traces", PB, bytes(workflow().SerializeToString())),
        ("traces", JSON, to_json(workflow())),
        ("traces", JSON, json_traces(json_span())),
        ("metrics", PB, bytes(metrics.SerializeToString())),
        ("metrics", JSON, to_json(metrics)),
    ]


VALID = _valid_bodies()


@st.composite
def _mutated_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    kind, _type, body = draw(st.sampled_from(VALID))
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[at : at + draw(st.integers(1, 16))]
    return kind, bytes(data)


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "0" * 32, "ff" * 8, "NaN", "-1", "1e400", "\ud800", "é"])
)
_value = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
)


def _slots(node: Any, found: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            _slots(value, found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            _slots(value, found)
    return found


@st.composite
def _mutated_json(draw: st.DrawFn) -> tuple[str, bytes]:
    kind, _type, body = draw(st.sampled_from([v for v in VALID if v[1] == JSON]))
    document = json.loads(body)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(document, [])
        container, key = draw(st.sampled_from(slots))
        container[key] = draw(_value)
    try:
        return kind, json.dumps(document, ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass"
        )
    except ValueError:  # a float JSON cannot write: send Python's spelling of it
        return kind, json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


_arbitrary = st.tuples(st.sampled_from(["traces", "metrics"]), st.binary(max_size=1024))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sent=st.one_of(_arbitrary, _mutated_bytes(), _mutated_json()),
    content_type=st.sampled_from(CONTENT_TYPES),
    encoding=st.sampled_from(ENCODINGS),
    compress=st.booleans(),
)
def test_no_body_type_or_encoding_makes_a_receiver_fail(
    dialect: str,
    served: tuple[TestClient, str],
    sent: tuple[str, bytes],
    content_type: str | None,
    encoding: str | None,
    compress: bool,
) -> None:
    client, key = served
    kind, body = sent
    if compress:
        body = gzip.compress(body)
    headers = {"Authorization": f"Bearer {key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    response = client.post(f"/v1/{kind}", content=body, headers=headers)
    assert response.status_code in (200, 400, 413, 415), (response.status_code, response.text)
    _decodes(response, kind, content_type)


def _decodes(response: Any, kind: str, content_type: str | None) -> None:
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    base = (content_type or "").split(";")[0].strip()
    expected = base if base in (PB, JSON, "application/protobuf") else PB
    assert response.headers["content-type"] == expected
    if response.status_code == 200:
        message: Any = (
            ExportTraceServiceResponse() if kind == "traces" else ExportMetricsServiceResponse()
        )
    else:
        message = Status()
    if expected == JSON:
        json_format.Parse(response.content, message)
    else:
        message.ParseFromString(response.content)
    if response.status_code != 200:
        assert message.code == RPC_CODES[response.status_code]
        assert message.message


def _refused_as_400(served: tuple[TestClient, str], kind: str, shape: str) -> Any:
    """POST ``shape`` (``{field}`` the request's top field) as UTF-8 with surrogates kept:
    a 400 whose Status decodes."""
    client, key = served
    field = "resourceSpans" if kind == "traces" else "resourceMetrics"
    body = shape.format(field=field).encode("utf-8", "surrogatepass")
    response = client.post(
        f"/v1/{kind}",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": JSON},
    )
    assert response.status_code == 400, response.text
    _decodes(response, kind, JSON)
    return response


@pytest.mark.parametrize("kind", ["traces", "metrics"])
def test_a_lone_surrogate_quoted_in_the_error_is_a_400_not_a_500(
    served: tuple[TestClient, str], kind: str
) -> None:
    """Found by the fuzz test above: the reason quotes the body, and protobuf's UTF-8
    cannot hold a lone surrogate, so building the Status used to raise."""
    _refused_as_400(served, kind, '{{"{field}": "\ud800"}}')


@pytest.mark.parametrize("kind", ["traces", "metrics"])
@pytest.mark.parametrize(
    "shape",
    [
        '{{"{field}": ["\ud800"]}}',  # a string where a message belongs, as UTF-8 bytes
        '{{"{field}": ["\\ud800"]}}',  # the same as a JSON escape
        '{{"\\udfff": 1, "{field}": []}}',  # a key
        '{{"{field}": [{{"\\ud800": 2}}]}}',  # a nested key
    ],
)
def test_a_lone_surrogate_in_a_json_key_is_a_400_not_a_500(
    served: tuple[TestClient, str], kind: str, shape: str
) -> None:
    """Found by the fuzz test above: protobuf looks each key up by name and fails inside a
    C call on a lone surrogate, which surfaced as SystemError and a 500."""
    response = _refused_as_400(served, kind, shape)
    assert "lone surrogate" in response.json()["message"]
