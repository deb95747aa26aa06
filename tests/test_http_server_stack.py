"""What the server's CPU per request rests on (decision 0020), checked on the real app.

``flightlog serve`` leaves uvicorn's ``http`` and ``loop`` at ``auto``, which pick
httptools and uvloop only when they are installed; and FastAPI runs a plain ``def``
dependency in its thread pool, a hand-off per request. Both cost the server a
third of its CPU per one-event request before they were changed.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from flightlog.api import create_app
from flightlog.settings import Settings


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _runs_on_the_loop(call: Any) -> bool:
    """True for what FastAPI awaits on the event loop rather than sending to its thread pool."""
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = type(call).__call__  # a class instance, e.g. HTTPBearer
    return inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)


def test_no_route_dependency_runs_in_the_thread_pool(test_settings: Settings) -> None:
    app = create_app(test_settings)
    routes = [
        route.original_route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]
    assert len(routes) >= 100, "the route list is derived from the app"
    checked = 0
    offenders: dict[str, int] = {}
    for route in routes:
        for dependency in _dependencies(route.dependant):
            if dependency.call is None:
                continue
            checked += 1
            if not _runs_on_the_loop(dependency.call):
                name = getattr(dependency.call, "__qualname__", repr(dependency.call))
                offenders[name] = offenders.get(name, 0) + 1
    assert checked >= len(routes) // 2
    assert not offenders, f"plain def dependencies (and how many routes use them): {offenders}"


def test_uvicorn_defaults_pick_the_c_parser_and_uvloop(test_settings: Settings) -> None:
    config = uvicorn.Config(create_app(test_settings))  # what flightlog serve leaves at auto
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        expected = "asyncio" if sys.platform == "win32" else "uvloop"
        assert type(loop).__module__.split(".")[0] == expected
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/v1/events"), ("POST", "/api/v1/metrics")]
)
def test_the_writes_agents_send_most_are_matched_before_the_task_routes(
    test_settings: Settings, method: str, path: str
) -> None:
    app = create_app(test_settings)
    order = [
        (route.path, route.methods or set())
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]
    position = next(i for i, (p, methods) in enumerate(order) if p == path and method in methods)
    first_task_route = next(i for i, (p, _) in enumerate(order) if p.startswith("/api/v1/tasks"))
    assert position < first_task_route
