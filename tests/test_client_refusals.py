"""What the clients refuse before sending, and the errors they raise instead of httpx's,
asyncio's or pydantic's: every failure of a call is a ``FlightlogError`` that says what to do,
and none quotes a secret."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import closing
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api_client import app_for
from flightlog import ConfigurationError, FlightlogError, ValidationError
from flightlog.api.routes.stream import KEEP_ALIVE_SECONDS
from flightlog.client import AsyncClient, Client, ServerUnreachable
from flightlog.client.transport import STREAM_READ_SECONDS, stream_timeout
from flightlog.enums import EventType
from flightlog.services.events import NewEvent
from flightlog.store import Store
from test_client import client_for
from test_client_sync import served
from tracing_support import Served

__all__ = ["served"]  # the fixture of a real flightlog serve

SECRET = "fl_secretpart_0123456789abcdef"


def _quoted(exc: BaseException, value: str) -> bool:
    return value in str(exc) or value in repr(exc)


@pytest.mark.parametrize("key", [SECRET + "\n", SECRET + "\r\n", SECRET + "é", "ключ" + SECRET])
@pytest.mark.parametrize("face", [Client, AsyncClient])
def test_an_api_key_http_cannot_carry_is_refused_when_the_client_is_made(
    key: str, face: type[Client] | type[AsyncClient]
) -> None:
    with pytest.raises(ConfigurationError, match="the API key contains") as refused:
        face("http://127.0.0.1:1", key)
    assert not isinstance(refused.value, ServerUnreachable)
    assert not _quoted(refused.value, SECRET)
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None


def test_a_base_url_httpx_cannot_parse_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        Client("http://[::zz]:8000", SECRET)


@pytest.mark.parametrize(
    "content_type", ["text/plain; charset=utf-8\r\nX-Evil: 1", "text/plän", "a\nb"]
)
async def test_a_header_value_of_a_call_that_http_cannot_carry_is_the_callers_error(
    store: Store, content_type: str
) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="t")
        with pytest.raises(ValidationError, match="Content-Type header") as refused:
            await fl.artifacts.put(task.id, "a.txt", b"x", content_type=content_type)
        assert not isinstance(refused.value, ServerUnreachable)
        assert not _quoted(refused.value, content_type)
        assert await fl.artifacts.latest(task.id) == []


async def test_a_closed_client_says_so() -> None:
    closed = Client("http://127.0.0.1:1", SECRET)
    closed.close()
    with pytest.raises(ConfigurationError, match="the client is closed; open a new one"):
        closed.tasks.list()
    aclosed = AsyncClient("http://127.0.0.1:1", SECRET)
    await aclosed.close()
    with pytest.raises(ConfigurationError, match="the client is closed; open a new one"):
        await aclosed.tasks.list()


async def _page(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """An ASGI app answering every request 200 with a web page, like another host or a proxy."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/html")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"<html>hi</html>"})


async def test_an_answer_that_is_not_the_apis_names_its_status_and_path() -> None:
    transport = httpx.ASGITransport(app=_page)
    async with AsyncClient("http://elsewhere.test", SECRET, transport=transport) as fl:
        for call in (fl.tasks.list, fl.health, lambda: fl.tasks.create(title="x")):
            with pytest.raises(FlightlogError, match=r"/api/v1/(tasks|health) answered 200") as e:
                await call()
            assert type(e.value) is FlightlogError
            assert e.value.details["http_status"] == 200


async def test_free_form_json_that_is_not_json_is_refused_like_the_store_refuses_it(
    store: Store,
) -> None:
    task = await store.tasks.create(title="t")
    with pytest.raises(ValidationError, match="cannot be stored as JSON"):
        await store.events.append_batch(
            [{"event_type": "log", "task_id": task.id, "data": {"x": datetime.now(UTC)}}]
        )
    async with client_for(store) as fl:
        for value in (datetime.now(UTC), {1, 2}, object(), Decimal("1.5"), date(2020, 1, 1)):
            with pytest.raises(ValidationError, match=r"event #1: data\.x\[0\]: a \w+ cannot be"):
                await fl.events.append_batch(
                    [
                        {"event_type": "log", "task_id": task.id},
                        {"event_type": "log", "task_id": task.id, "data": {"x": [value]}},
                    ]
                )
            with pytest.raises(ValidationError, match=r"event #0: data\.x"):
                await fl.events.append(
                    NewEvent(event_type=EventType.LOG, task_id=task.id, data={"x": value})
                )
            with pytest.raises(ValidationError, match=r"metric #0: labels\.k"):
                await fl.metrics.record_batch(
                    [{"name": "m", "value": 1, "task_id": task.id, "labels": {"k": value}}]
                )
            with pytest.raises(ValidationError, match=r"config\.when"):
                await fl.tasks.create(title="c", config={"when": value})
            with pytest.raises(ValidationError, match=r"metadata\.k\[0\]"):
                await fl.artifacts.put(task.id, "m", b"x", metadata={"k": [value]})
        with pytest.raises(ValidationError, match="is not a string"):
            await fl.tasks.create(title="c", config={1: "one"})  # type: ignore[dict-item]
        assert (await fl.events.list(task_id=task.id, event_types=[EventType.LOG])).items == []
        assert [t.title for t in (await fl.tasks.list()).items] == ["t"]
        # Typed parameters are still encoded: a time, a decimal, an enum, a UUID.
        then = datetime(2026, 1, 1, tzinfo=UTC)
        event = await fl.events.append(
            {"event_type": EventType.LOG, "task_id": task.id, "created_at": then, "data": {"n": 1}}
        )
        assert (event.created_at, event.data) == (then, {"n": 1})
        run = await fl.runs.start(task.id)
        step = await fl.agent_runs.start(run.id, agent_name="A")
        used = await fl.agent_runs.record_usage(step.id, tokens_in=1, cost_usd=Decimal("0.25"))
        assert used.cost_usd == Decimal("0.25")


@pytest.mark.parametrize("name", [".", "..", "new\nline", "tab\tname", "nul\x00"])
async def test_an_artifact_name_a_url_path_cannot_carry_is_refused_before_sending(
    store: Store, name: str
) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="names")
        with pytest.raises(ValidationError, match="name") as refused:
            await fl.artifacts.put(task.id, name, b"x")
        assert refused.value.details["field"] == "name"
        with pytest.raises(ValidationError, match="name"):
            await fl.artifacts.versions(task.id, name)
        assert await fl.artifacts.latest(task.id) == []
        for fine in ("a/../b", "./x", "...", "a/./b"):
            put = await fl.artifacts.put(task.id, fine, b"hello")
            assert put.name == fine
            assert [v.name for v in await fl.artifacts.versions(task.id, fine)] == [fine]


def test_an_async_client_reused_in_a_second_event_loop_says_how_to_use_it(
    served: tuple[Served, str],
) -> None:
    server, key = served
    fl = AsyncClient(server.base, key)
    assert asyncio.run(fl.health()).status == "ok"
    with pytest.raises(ConfigurationError, match=r"make one inside each asyncio\.run"):
        asyncio.run(fl.health())


def test_a_stream_outlives_a_short_call_timeout_and_the_keep_alive(
    served: tuple[Served, str],
) -> None:
    assert STREAM_READ_SECONDS > KEEP_ALIVE_SECONDS
    server, key = served
    with Client(server.base, key) as setup:  # a write on a loaded machine may take > 0.3 s
        task = setup.tasks.create(title="quiet")
    with Client(server.base, key, timeout=0.3) as fl:
        # Quiet for longer than the call timeout: it ends when the server ends it, empty.
        quiet = fl.events.stream(
            task_id=task.id, after_id=10**9, poll_seconds=0.25, timeout_seconds=1.5, reconnect=False
        )
        with closing(quiet) as events:
            assert list(events) == []
    assert stream_timeout(httpx.Timeout(0.3)) == httpx.Timeout(0.3, read=STREAM_READ_SECONDS)
    assert stream_timeout(httpx.Timeout(60.0)).read == 60.0
    assert stream_timeout(httpx.Timeout(None)).read is None


@pytest.mark.parametrize("suffix", ["", "/", "/api/v1", "/api/v1/"])
async def test_a_base_url_is_taken_with_or_without_the_api_prefix(
    store: Store, suffix: str
) -> None:
    key = (await store.api_keys.create("client")).key
    transport = httpx.ASGITransport(app=app_for(store))
    async with AsyncClient("http://flightlog.test" + suffix, key, transport=transport) as fl:
        task = await fl.tasks.create(title="prefixed")
        assert (await fl.tasks.get(task.id)).title == "prefixed"
