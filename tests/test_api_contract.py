"""The OpenAPI document is the HTTP API's contract; schemathesis holds the server to it.

On each database, a fresh migrated database gets a customer, an API key and one
of each entity. The app serves it as ``flightlog serve`` does (its own engine,
real commits), and schemathesis generates requests from ``/openapi.json`` in its
coverage phase (boundary values of every constraint) and fuzzing phase, both
schema-valid (positive) and schema-violating (negative), sent with the key.
Every response must:

- not be a server error (``not_a_server_error``);
- have a documented status, content type, headers and body
  (``status_code_conformance``, ``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``);
- for a schema-valid request, not be refused as invalid: only 2xx, 401, 403,
  404 (an id that does not exist) and 409 (a state that does not allow it) are
  accepted (``positive_data_acceptance``);
- for a schema-violating request, be refused (``negative_data_rejection``).

Half the schema-valid requests get the seeded entities' ids in their path, so
operations run on real rows, not only into 404s (deletions get entities of
their own). The event stream is asked to end after a moment
(``timeout_seconds``). Rules the document cannot state are listed in ``contract_rules``, each
also written in the document's descriptions: a schema-valid request that breaks one of
``UNSTATED_RULES`` (across fields of the request) is not sent, and a 422 for
one of ``ENTITY_RULES`` (which depend on the stored entity the path names) is
not counted as a refused valid request; every other check still applies. On
PostgreSQL, text with a NUL character is refused (a documented difference
between the databases), so such requests are not sent there.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_client import client_of, error_code, ok
from contract_rules import entity_rule, reason_not_to_send
from contract_seed import seed
from flightlog.api import create_app
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from flightlog.store import Store
from postgres_server import DIALECTS, PostgresServer

#: Fuzzing examples per operation (both modes); the coverage phase adds its own cases.
MAX_EXAMPLES = 15
#: The OTLP receivers, at the root (their errors are google.rpc.Status, not ErrorBody).
OTLP_PATHS = frozenset({"/v1/traces", "/v1/metrics"})
#: How long the server keeps a valid event stream open (``timeout_seconds``).
STREAM_SECONDS = 0.3
#: How long the client waits for the stream's headers: generous, since a loaded machine may
#: take more than ``STREAM_SECONDS`` to authenticate and check the task before answering.
STREAM_HEADERS_WAIT_SECONDS = 15.0

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]


@dataclass
class Contract:
    """The app under test, its key, the seeded ids, and what the run sent."""

    dialect: str
    app: Any
    key: str
    ids: dict[str, str]
    doomed: dict[str, str]
    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    not_sent: collections.Counter[str] = field(default_factory=collections.Counter)
    entity_refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    positive_with_path: collections.Counter[str] = field(default_factory=collections.Counter)


#: The document is the same whatever the database: it is read without starting the app.
DOCUMENT = create_app(Settings(database_url="sqlite:///unused.db"), dashboard=False).openapi()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {"seed": 20261128, "phases": {"examples": {"enabled": False}}}
    ),
)
#: What the auth provider puts in: cases of the coverage phase are built when the tests are
#: collected, before any key exists, so each request swaps in the key of the database it
#: runs on (and a case that left the header out, or changed it, on purpose keeps that).
PLACEHOLDER_AUTHORIZATION = "Bearer the-contract-key"


@schema.auth()
class ApiKey:
    def get(self, case: Any, ctx: Any) -> str:
        return PLACEHOLDER_AUTHORIZATION

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture(scope="module", params=DIALECTS)
def contract(
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer | None,
    tmp_path_factory: pytest.TempPathFactory,
    test_settings: Settings,
) -> Iterator[Contract]:
    """A fresh database of the dialect, seeded, served by the app; dropped afterwards."""
    dialect: str = request.param
    directory = tmp_path_factory.mktemp(f"contract-{dialect}")
    if dialect == "sqlite":
        database = DatabaseUrl.parse(f"sqlite:///{directory / 'contract.db'}")
    else:
        if postgres_server is None:
            pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
        database = postgres_server.create_database("flightlog_contract")
    settings = test_settings.model_copy(
        update={
            "database_url": database.url.render_as_string(hide_password=False),
            "blob_dir": directory / "blobs",
            "api_key_cache_seconds": 3600.0,
        }
    )
    started = time.monotonic()
    try:
        key, ids, doomed = asyncio.run(seed(settings))
        record = Contract(dialect, create_app(settings, dashboard=False), key, ids, doomed)
        yield record
    finally:
        # Stops the app, so its engine is disposed of before the database is dropped.
        asgi.shutdown_lifespans()
        if postgres_server is not None and dialect == "postgresql":
            postgres_server.drop_database(database)
    sent = sum(record.sent.values())
    print(
        f"\ncontract on {dialect}: {sent} requests to {len(record.sent)} operations, "
        f"{time.monotonic() - started:.0f} s; not sent: {dict(record.not_sent)}; "
        f"refused by an entity rule: {dict(record.entity_refusals)}; by phase and mode: "
        f"{dict(record.kinds)}"
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_the_openapi_document(case: Any, contract: Contract) -> None:
    record = contract
    reason = reason_not_to_send(case, record.dialect)
    if reason is not None:
        record.not_sent[reason] += 1
        return
    positive = case.meta.generation.mode.is_positive
    record.kinds[f"{case.meta.phase.name.value} {case.meta.generation.mode.value}"] += 1
    headers = {}
    if (case.headers or {}).get("Authorization") == PLACEHOLDER_AUTHORIZATION:
        headers["Authorization"] = f"Bearer {record.key}"
    generated = case.path_parameters
    if positive and generated:
        record.positive_with_path[case.operation.label] += 1
        if record.positive_with_path[case.operation.label] % 2:
            # Every other one: the seeded entity (deletions get one of their own).
            seeded = record.doomed if case.method.upper() == "DELETE" else record.ids
            case.path_parameters = {name: seeded.get(name, v) for name, v in generated.items()}
    record.sent[case.operation.label] += 1
    options: dict[str, Any] = {"app": record.app, "headers": headers}
    query = case.query
    if case.operation.path.endswith("/events/stream"):
        options["timeout"] = STREAM_HEADERS_WAIT_SECONDS
        case.query = _stream_ends_soon(query)
    try:
        response = case.call(**options)
        checks = CHECKS
        rule = entity_rule(case, response) if positive else None
        if rule is not None:
            record.entity_refusals[rule] += 1
            checks = [check for check in CHECKS if check is not positive_data_acceptance]
        if case.operation.path in OTLP_PATHS:
            # The document can say that a body is bytes or a JSON object, not which bytes are
            # protobuf of an export request: a schema-valid body may well be a 400. Every other
            # check holds; tests/test_otlp_receivers_fuzz.py sends protobuf, mutated bodies and
            # every Content-Type and Content-Encoding, which schemathesis cannot build.
            checks = [check for check in checks if check is not positive_data_acceptance]
        case.validate_response(response, checks=checks, headers=headers, transport_kwargs=options)
    finally:
        # Coverage-phase cases are shared by both databases' runs.
        case.path_parameters = generated
        case.query = query


def _stream_ends_soon(query: Any) -> Any:
    """``query`` with a valid (or absent) ``timeout_seconds`` cut to ``STREAM_SECONDS``.

    The server then closes the stream by itself, so the client's read timeout only bounds
    the wait for headers; an invalid value is left as generated, to be refused.
    """
    if query is not None and not isinstance(query, dict):
        return query
    given = (query or {}).get("timeout_seconds", STREAM_SECONDS)
    try:
        seconds = float(given)  # the coverage phase sends numbers as strings too
    except (TypeError, ValueError):
        return query
    valid = not isinstance(given, bool) and 0 < seconds <= 3600
    return {**(query or {}), "timeout_seconds": STREAM_SECONDS} if valid else query


def test_every_operation_documents_its_errors_in_the_one_error_shape() -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    components = DOCUMENT["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert set(components["ErrorBody"]["properties"]) == {"error"}
    assert set(components["ErrorDetail"]["required"]) == {"code", "message", "details"}
    operations = [
        (path, method, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 108
    for path, method, operation in operations:
        responses = operation["responses"]
        errors = {status for status in responses if status.startswith(("4", "5"))}
        if path == "/api/v1/health":
            assert errors == {"422", "503"}  # 422: ?detail= that is not a boolean
            continue
        if path in OTLP_PATHS:
            assert errors == {"400", "401", "403", "413", "415", "503"}, path
            for status in ["200", *errors]:
                assert set(responses[status]["content"]) == {
                    "application/x-protobuf",
                    "application/json",
                }
            assert "Retry-After" in responses["503"]["headers"]
            continue
        assert {"401", "403", "503"} <= errors, (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
        assert ("409" in errors) == (method != "get"), (method, path)
        assert ("413" in errors) == ("requestBody" in operation), (method, path)
        for status in errors:
            assert responses[status]["content"]["application/json"]["schema"] == error
        assert "Retry-After" in responses["503"]["headers"]
        assert "WWW-Authenticate" in responses["401"]["headers"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "t", "priority": 5}, 201),
        ({"title": "t", "priority": 5.0}, 201),
        ({"title": "t", "priority": "5"}, 422),
        ({"title": "t", "priority": True}, 422),
        ({"title": "t", "priority": None}, 422),
        ({"title": "   "}, 422),
        ({}, 422),
        ({"input_prompt": "  \n  "}, 422),
        ({"input_prompt": "first line\nsecond"}, 201),
    ],
)
async def test_task_bodies_are_refused_exactly_as_the_schema_says(
    store: Store, body: dict[str, Any], status: int
) -> None:
    async with client_of(store) as api:
        response = await api.post("/tasks", json=body)
    assert response.status_code == status, response.text


async def test_a_body_that_is_not_even_text_is_a_422_in_the_error_shape(store: Store) -> None:
    async with client_of(store) as api:
        response = await api.post(
            "/tasks", content=b"\xff\xfe\x00", headers={"Content-Type": "application/json"}
        )
    assert error_code(response, 422) == "validation_error"
    assert "not JSON" in response.json()["error"]["message"]


async def test_batch_times_are_text_not_unix_timestamps(store: Store) -> None:
    async with client_of(store) as api:
        task = ok(await api.post("/tasks", json={"title": "t"}), 201)
        event = {"event_type": "LOG", "task_id": task["id"], "created_at": 0}
        assert error_code(await api.post("/events", json={"events": [event]}), 422) == (
            "validation_error"
        )
        point = {"name": "m", "value": 1, "task_id": task["id"], "recorded_at": 0}
        assert error_code(await api.post("/metrics", json={"metrics": [point]}), 422) == (
            "validation_error"
        )
        event["created_at"] = "2026-01-02T03:04:05Z"
        ok(await api.post("/events", json={"events": [event]}), 201)
