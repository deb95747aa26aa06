"""The clients raise the Store's error classes, read from the one table the server answers with.

Every code of :data:`flightlog.errors.HTTP_STATUSES` comes back as its class with the body's
details and ``details["http_status"]``; no answer at all is ``ServerUnreachable``, never an
httpx error.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from api_client import app_for
from flightlog import (
    ConfigurationError,
    Conflict,
    DatabaseUnavailable,
    FlightlogError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from flightlog.api import create_app
from flightlog.client import (
    AsyncClient,
    Client,
    PayloadTooLarge,
    ServerUnreachable,
    Unauthenticated,
)
from flightlog.client.transport import raise_for
from flightlog.db.engine import create_async_db_engine
from flightlog.enums import RunStatus
from flightlog.errors import HTTP_STATUSES, error_class, http_status
from flightlog.settings import Settings
from flightlog.store import Store
from test_client import client_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_one_table_names_each_class_by_its_code_for_both_sides() -> None:
    for kind, status in HTTP_STATUSES:
        assert error_class(kind.code) is kind
        assert http_status(kind("x") if kind is not InvalidTransition else kind("t", "A", "B")) == (
            status
        )
    assert error_class("internal_error") is FlightlogError
    assert issubclass(Unauthenticated, PermissionDenied)
    assert issubclass(PayloadTooLarge, ValidationError)
    assert issubclass(ServerUnreachable, DatabaseUnavailable)


async def test_domain_errors_arrive_as_the_stores_classes(store: Store, other: Store) -> None:
    theirs = await other.tasks.create(title="theirs")
    async with client_for(store) as fl:
        with pytest.raises(NotFound) as missing:
            await fl.tasks.get(theirs.id)
        assert missing.value.details["http_status"] == 404
        with pytest.raises(ValidationError, match="#1") as bad:
            await fl.events.append_batch([{"event_type": "log"}, {"event_type": "LOUD"}])
        assert (bad.value.details["index"], bad.value.details["http_status"]) == (1, 422)
        task = await fl.tasks.create(title="t")
        with pytest.raises(ValidationError) as invalid:
            await fl.tasks.update(task.id, memory_size=0)
        assert invalid.value.details["problems"][0]["location"] == "body.memory_size"
        run = await fl.runs.start(task.id)
        await fl.runs.finish(run.id, status=RunStatus.FAILED, error_message="boom")
        with pytest.raises(InvalidTransition) as moved:
            await fl.runs.finish(run.id)
        assert (moved.value.entity, moved.value.from_status, moved.value.to_status) == (
            "TaskRun",
            "FAILED",
            "COMPLETED",
        )
        assert moved.value.details["http_status"] == 409
        await fl.projects.create(name="taken")
        with pytest.raises(Conflict):
            await fl.projects.create(name="taken")


async def test_keys_that_are_wrong_or_too_weak_are_unauthenticated_or_denied(store: Store) -> None:
    transport = httpx.ASGITransport(app=app_for(store))
    async with AsyncClient("http://x", "fl_00000000_" + "A" * 43, transport=transport) as fl:
        with pytest.raises(Unauthenticated, match="invalid API key") as refused:
            await fl.tasks.list()
    assert refused.value.details["http_status"] == 401
    reader = (await store.api_keys.create("reader", scopes=["read"])).key
    async with AsyncClient("http://x", reader, transport=transport) as fl:
        assert (await fl.tasks.list()).items == []
        with pytest.raises(PermissionDenied) as denied:
            await fl.tasks.create(title="no")
    assert not isinstance(denied.value, Unauthenticated)
    assert denied.value.details["http_status"] == 403


async def test_a_body_over_the_ceiling_is_payload_too_large(store: Store) -> None:
    async with client_for(store, api_max_body_bytes=4096) as fl:
        task = await fl.tasks.create(title="big")
        with pytest.raises(PayloadTooLarge, match="FLIGHTLOG_API_MAX_BODY_BYTES") as big:
            await fl.artifacts.put(task.id, "big.bin", b"x" * 5000)
        assert big.value.details["http_status"] == 413
        assert await fl.artifacts.latest(task.id) == []


async def test_a_database_out_of_reach_is_database_unavailable_with_retry_after() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", pool_timeout_seconds=2)
    engine = create_async_db_engine(settings)
    transport = httpx.ASGITransport(app=create_app(settings, engine=engine))
    try:
        async with AsyncClient("http://x", "fl_00000000_" + "A" * 43, transport=transport) as fl:
            with pytest.raises(DatabaseUnavailable) as down:
                await fl.tasks.list()
            health = await fl.health()
    finally:
        await engine.dispose()
    assert not isinstance(down.value, ServerUnreachable)
    assert (down.value.details["http_status"], down.value.details["retry_after"]) == (503, 5)
    assert health.status == "unavailable"


async def test_no_server_is_server_unreachable_never_an_httpx_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    async with AsyncClient(url, "key", timeout=5) as fl:
        with pytest.raises(ServerUnreachable, match="could not connect") as refused:
            await fl.tasks.list()
    assert refused.value.details["request_sent"] is False
    assert isinstance(refused.value.__cause__, httpx.ConnectError)
    assert refused.value.message.count(". ") == 0  # one sentence
    with Client(url, "key", timeout=5) as sync, pytest.raises(ServerUnreachable):
        sync.health()
    with Client("ftp://flightlog.test", "key") as wrong, pytest.raises(ConfigurationError):
        wrong.health()


def test_answers_that_are_not_an_error_body_still_raise_a_flightlog_error() -> None:
    request = httpx.Request("GET", "http://x/api/v1/tasks")
    with pytest.raises(FlightlogError, match="answered 502 without an error body") as proxy:
        raise_for(httpx.Response(502, text="<html>Bad gateway</html>", request=request))
    assert type(proxy.value) is FlightlogError
    assert proxy.value.details["http_status"] == 502
    body = {"error": {"code": "internal_error", "message": "see the log", "details": {}}}
    with pytest.raises(FlightlogError, match="see the log") as internal:
        raise_for(httpx.Response(500, json=body, request=request))
    assert (internal.value.code, internal.value.details["http_status"]) == ("internal_error", 500)
