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
their own). The event stream is read for a moment and cut, like a client that
goes away. Rules the document cannot state are listed here, each also written
in the document's descriptions: a schema-valid request that breaks one of
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
from collections.abc import Callable, Iterator
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
from conftest import DIALECTS, PostgresServer
from flightlog.api import create_app
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from flightlog.store import Store, open_store

#: Fuzzing examples per operation (both modes); the coverage phase adds its own cases.
MAX_EXAMPLES = 15
#: How long the event stream is read before the client goes away.
STREAM_SECONDS = 0.3

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]


def _query(case: Any) -> dict[str, Any]:
    return dict(case.query or {})


def _body(case: Any) -> dict[str, Any]:
    return case.body if isinstance(case.body, dict) else {}


def _metrics_owner_missing(case: Any) -> bool:
    query = _query(case)
    return query.get("task_id") is None and query.get("run_id") is None


def _timeline_cursor_broken(case: Any) -> bool:
    query = _query(case)
    given = [query.get(name) is not None for name in ("after_at", "after_kind", "after_key")]
    if not all(given):
        return any(given)
    key = str(query["after_key"])
    if query["after_kind"] == "agent_run":
        return not (len(key) == 36 and "-" in key)
    return not (key.isdigit() and int(key) < 2**63)


def _variable_both_required_and_optional(case: Any) -> bool:
    body = _body(case)
    required = body.get("required_variables") or []
    optional = body.get("optional_variables") or []
    return bool(set(required) & set(optional))


#: (operation, rule, predicate): rules across fields that JSON Schema and OpenAPI
#: parameters cannot state. Each is in the parameter or body descriptions instead,
#: and the server refuses a request that breaks it with a 422.
UNSTATED_RULES: list[tuple[str, str, Callable[[Any], bool]]] = [
    ("GET /api/v1/metrics/series", "task_id or run_id", _metrics_owner_missing),
    ("GET /api/v1/metrics/summary", "task_id or run_id", _metrics_owner_missing),
    (
        "GET /api/v1/runs/{run_id}/timeline",
        "after_at, after_kind and after_key together, the key an id of that kind",
        _timeline_cursor_broken,
    ),
    (
        "POST /api/v1/templates",
        "no variable both required and optional",
        _variable_both_required_and_optional,
    ),
    (
        "PATCH /api/v1/templates/{template_id}",
        "no variable both required and optional",
        _variable_both_required_and_optional,
    ),
]


#: (operation, start of the error message): 422s that depend on the entity the path
#: names, which no schema of the request can know; each is in the document's descriptions.
ENTITY_RULES: list[tuple[str, str]] = [
    ("POST /api/v1/templates/{template_id}/render", "cannot render template"),
    ("POST /api/v1/templates/{template_id}/projects", "cannot render template"),
    ("PATCH /api/v1/templates/{template_id}", "the template's files use undeclared variables"),
    ("POST /api/v1/optimizations/{optimization_id}/progress", "progress cannot go backwards"),
]


def _entity_rule(case: Any, response: Any) -> str | None:
    if response.status_code != 422:
        return None
    message = response.json()["error"]["message"]
    for label, start in ENTITY_RULES:
        if case.operation.label == label and message.startswith(start):
            return f"{label}: {start}"
    return None


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


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


async def _seed(store: Store) -> tuple[dict[str, str], dict[str, str]]:
    """One of each entity (and, for DELETE, a second task, project and template)."""
    task = await store.tasks.create(title="contract task", input_prompt="check the contract")
    run = await store.runs.start(task.id)
    agent_run = await store.agent_runs.start(run.id, agent_name="planner")
    agent = await store.agents.register("contract-agent", "engineer")
    artifact = await store.artifacts.put(task.id, "report.txt", b"hello", content_type="text/plain")
    project = await store.projects.create(name="contract project", repository_url="https://g/c")
    await store.project_contexts.add_iteration(project.id, notes="first")
    modification = await store.modifications.request(project.id, request="rename it")
    template = await store.templates.create(
        name="contract template", files={"README.md": "{{name}}"}, required_variables=["name"]
    )
    recommendation = await store.recommendations.create(
        recommendation_type="cost", title="use a cache", confidence_score=0.8
    )
    await store.recommendations.decide(recommendation.id, approve=True, decided_by="reviewer")
    optimization = await store.optimizations.start(recommendation.id)
    pull_request = await store.pull_requests.create(
        project_id=project.id, branch_name="feat/contract", title="Contract"
    )
    ids = {
        "task_id": task.id,
        "run_id": run.id,
        "agent_run_id": agent_run.id,
        "agent_id": agent.id,
        "artifact_id": artifact.id,
        "name": "report.txt",
        "project_id": project.id,
        "iteration": 1,
        "modification_id": modification.id,
        "template_id": template.id,
        "recommendation_id": recommendation.id,
        "optimization_id": optimization.id,
        "pull_request_id": pull_request.id,
    }
    doomed = {
        "task_id": (await store.tasks.create(title="to delete")).id,
        "project_id": (await store.projects.create(name="to delete")).id,
        "template_id": (await store.templates.create(name="to delete")).id,
    }
    return (
        {name: str(value) for name, value in ids.items()},
        {name: str(value) for name, value in doomed.items()},
    )


async def _prepare(settings: Settings) -> tuple[str, dict[str, str], dict[str, str]]:
    async with open_store(settings=settings) as store:
        key = (await store.api_keys.create("contract")).key
        ids, doomed = await _seed(store)
    return key, ids, doomed


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
        key, ids, doomed = asyncio.run(_prepare(settings))
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


def _reason_not_to_send(case: Any, record: Contract) -> str | None:
    if not case.meta.generation.mode.is_positive:
        return None
    for label, rule, breaks in UNSTATED_RULES:
        if case.operation.label == label and breaks(case):
            return f"{label}: {rule}"
    if record.dialect == "postgresql" and any(
        _contains_nul(part) for part in (case.path_parameters, case.query, case.headers, case.body)
    ):
        return "NUL on PostgreSQL"
    return None


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
    reason = _reason_not_to_send(case, record)
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
    if case.operation.path.endswith("/events/stream"):
        options["timeout"] = STREAM_SECONDS
    try:
        response = case.call(**options)
        checks = CHECKS
        rule = _entity_rule(case, response) if positive else None
        if rule is not None:
            record.entity_refusals[rule] += 1
            checks = [check for check in CHECKS if check is not positive_data_acceptance]
        case.validate_response(response, checks=checks, headers=headers, transport_kwargs=options)
    finally:
        # Coverage-phase cases are shared by both databases' runs.
        case.path_parameters = generated


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
    assert len(operations) == 87
    for path, method, operation in operations:
        responses = operation["responses"]
        errors = {status for status in responses if status.startswith(("4", "5"))}
        if path == "/api/v1/health":
            assert errors == {"503"}
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
