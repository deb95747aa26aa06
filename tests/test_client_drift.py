"""The clients cover every route of the API once, with the Store's parameters (issue 11, drift).

The client's methods record the route they call, so nothing here lists the
routes by hand: each ``(method, path)`` of the OpenAPI document must be one
client method's, what a bound method sends must be what the route reads,
and its answer the route's response model. A client method and the Store's
method of the same name must have the same parameters (names, kinds,
defaults, types), except where a route differs, listed below with the
method's own ``why``; the Store operations no route serves are listed too.
"""

from __future__ import annotations

import inspect
import typing
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from flightlog.api import create_app
from flightlog.api.routes import (
    agents,
    artifacts,
    events,
    health,
    insights,
    metrics,
    model_prices,
    projects,
    pull_requests,
    reviews,
    runs,
    sessions,
    stream,
    tasks,
    templates,
    work,
)
from flightlog.client import AsyncClient
from flightlog.client.binding import NO_CONTENT, Facade, Reply, Route
from flightlog.client.clients import API_PREFIX
from flightlog.client.streams import Stream
from flightlog.db.engine import create_async_db_engine
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.store.binding import Facade as StoreFacade
from flightlog.store.binding import Operation

APP = create_app(dashboard=False)
DOCUMENT = APP.openapi()
CLIENT = AsyncClient("http://flightlog.test", "key")
_SETTINGS = Settings(database_url="sqlite:///unused.db")
STORE = Store(create_async_db_engine(_SETTINGS), _SETTINGS, uuid.uuid4())

#: Client methods whose parameters differ from the Store's twin: the parameters that differ.
DIFFERENT_FROM_THE_STORE: dict[str, set[str]] = {
    "events.list": {"up_to_id"},
    "events.append_batch": {"chunk_size"},
    "metrics.record_batch": {"chunk_size"},
    "claims.complete": {"claimed"},  # ClaimOut (what claim() answers) or the Store's Claim
    "claims.release": {"claimed"},
    "agents.register": {"actor"},
    "agents.list": {"now", "degraded_after", "failed_after"},
    # The operator names the customer to delete; the Store deletes its own customer.
    "customers.delete": {"customer_id"},
}
#: Store operations no route serves, so no client method has them.
NO_ROUTE = {
    "tasks": {"subtasks", "add_dependency", "remove_dependency", "dependencies", "ready"},
    "runs": {"submit_plan"},
    "events": {"ingest"},
    "metrics": {"record", "buckets"},
    "artifacts": {"sweep"},
    "agents": {"status", "delete"},
    "projects": {"get_by_name"},
    "project_contexts": {"latest"},
    "templates": {"get_by_name"},
    "views": {
        "plans_waiting",
        "modifications_waiting",
        # The dashboard's navigation count; the API has /views/overview's waiting_for_a_person.
        "waiting_counts",
        "task_execution_summaries",
        "pr_validation_statuses",
    },
    "customers": {
        "get",
        "update",
        "set_status",
        "suspend",
        "reactivate",
        "churn",
        "create",
        "footprint",
        "deletions",
    },
    "api_keys": {"create", "get", "list", "revoke", "verify"},
    # The price table is the operator's and the API has no operator credential: read-only.
    "model_prices": {"set", "set_many", "delete"},
    # Spans and metric points arrive through OpenTelemetry exporters (OTLP_ROUTES), not the client.
    "traces": {"record", "record_metrics"},
}
#: The OTLP/HTTP receivers: what OpenTelemetry exporters call, at the server's root.
OTLP_ROUTES = {("POST", "/v1/traces"), ("POST", "/v1/metrics")}


def _declared(facade: object) -> dict[str, Any]:
    """The methods a facade class declares, by name (bindings, routes, written-out ones)."""
    found: dict[str, Any] = {}
    for klass in reversed(type(facade).__mro__[:-1]):
        for name, value in vars(klass).items():
            kinds = (Route, Stream, Operation)
            if not name.startswith("_") and (isinstance(value, kinds) or inspect.isfunction(value)):
                found[name] = value
    return found


def _client_routes() -> Iterator[tuple[str, Route[Any, Any] | Stream[Any]]]:
    faces = {"": CLIENT} | {f"{n}.": f for n, f in vars(CLIENT).items() if isinstance(f, Facade)}
    for prefix, facade in faces.items():
        for name, value in _declared(facade).items():
            if isinstance(value, Route | Stream):
                yield prefix + name, value


ROUTES = dict(_client_routes())
BOUND = {name: route for name, route in ROUTES.items() if getattr(route, "service", None)}


def test_every_route_of_the_api_is_one_client_method() -> None:
    served = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert served >= OTLP_ROUTES
    served -= OTLP_ROUTES
    covered = Counter(
        (route.method, API_PREFIX + route.path) for route in ROUTES.values() if route.primary
    )
    assert set(covered) == served, (
        f"no client method: {sorted(served - set(covered))}; "
        f"no such route: {sorted(set(covered) - served)}"
    )
    assert [key for key, count in covered.items() if count > 1] == []
    conveniences = {(r.method, API_PREFIX + r.path) for r in ROUTES.values() if not r.primary}
    assert conveniences <= served
    assert len(served) == 106


def _operation(route: Route[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = DOCUMENT["paths"][API_PREFIX + route.path][route.method.lower()]
    return operation


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A request body's schema, its ``$ref`` resolved (an optional body is anyOf it and null)."""
    for option in schema.get("anyOf", [schema]):
        ref = option.get("$ref")
        if ref:
            resolved: dict[str, Any] = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            return resolved
    return schema


@pytest.mark.parametrize("name", sorted(BOUND))
def test_a_bound_method_sends_what_its_route_reads(name: str) -> None:
    route = BOUND[name]
    assert isinstance(route, Route)
    assert route.service is not None
    parameters = list(inspect.signature(route.service).parameters)[2:]
    operation = _operation(route)
    declared = operation.get("parameters", [])
    in_path = {p["name"] for p in declared if p["in"] == "path"}
    assert in_path == {p for p in parameters if "{" + p + "}" in route.path}
    sent = {route.rename.get(p, p) for p in parameters if p not in in_path} | set(route.fixed)
    if route.method == "GET":
        assert sent <= {p["name"] for p in declared if p["in"] == "query"}
    elif sent:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert sent <= set(_schema(body)["properties"]), f"{name}: the body lacks some"
    else:
        assert "requestBody" not in operation


#: The routers the app mounts under ``/api/v1``, each route's path below it.
_ROUTERS = [health, stream, tasks, runs, events, metrics, work, agents, artifacts, projects]
_ROUTERS += [templates, reviews, pull_requests, insights, model_prices, sessions]


def _api_route(route: Route[Any, Any]) -> APIRoute:
    for module in _ROUTERS:
        for candidate in module.router.routes:
            if (
                isinstance(candidate, APIRoute)
                and candidate.path_format == route.path
                and route.method in (candidate.methods or set())
            ):
                return candidate
    raise AssertionError(f"no route {route.method} {route.path}")


@pytest.mark.parametrize("name", sorted(BOUND))
def test_a_bound_method_reads_its_routes_response_model(name: str) -> None:
    route = BOUND[name]
    assert isinstance(route, Route)
    returns = route.returns.model if isinstance(route.returns, Reply) else route.returns
    expected = _api_route(route).response_model
    assert returns == (NO_CONTENT if expected is None else expected)


def _store_twins() -> Iterator[tuple[str, Operation[Any, Any], Route[Any, Any] | Stream[Any]]]:
    for aggregate, facade in vars(STORE).items():
        if isinstance(facade, StoreFacade):
            for method, operation in _declared(facade).items():
                if f"{aggregate}.{method}" in ROUTES:
                    yield f"{aggregate}.{method}", operation, ROUTES[f"{aggregate}.{method}"]


TWINS = {name: (operation, route) for name, operation, route in _store_twins()}


def _parameters(function: Any, skip: int) -> dict[str, tuple[Any, ...]]:
    hints = typing.get_type_hints(function)
    parameters = list(inspect.signature(function).parameters.values())[skip:]
    return {p.name: (p.kind, p.default, hints.get(p.name)) for p in parameters}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_a_client_method_takes_the_parameters_of_its_store_twin(name: str) -> None:
    operation, route = TWINS[name]
    assert isinstance(operation, Operation), f"{name}: the Store's is written out"
    store = _parameters(operation.service, operation.stripped)
    if isinstance(route, Route) and route.service is not None:
        assert route.service is operation.service
        client = _parameters(route.service, 2)
    else:
        assert isinstance(route, Route)
        client = _parameters(route.build, 0)
    differ = {p for p in store.keys() | client.keys() if store.get(p) != client.get(p)}
    assert differ == DIFFERENT_FROM_THE_STORE.get(name, set()), (store, client)
    if differ:
        assert route.why, f"{name} differs from the Store: say why in written_out(why=...)"


def test_store_operations_without_a_client_method_are_those_no_route_serves() -> None:
    missing: dict[str, set[str]] = {}
    for aggregate, facade in vars(STORE).items():
        if isinstance(facade, StoreFacade):
            methods = {m for m in _declared(facade) if f"{aggregate}.{m}" not in ROUTES}
            if methods:
                missing[aggregate] = methods
    assert missing == NO_ROUTE
    assert set(DIFFERENT_FROM_THE_STORE) <= set(TWINS)


def test_methods_without_a_store_twin_are_the_servers_own() -> None:
    assert set(ROUTES) - set(TWINS) == {"health", "health_detail", "events.stream"}
