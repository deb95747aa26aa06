"""A database that goes away and comes back: 503 with Retry-After, never a 500 (defect 3).

During a PostgreSQL restart clients used to get 500s: asyncpg's refused
connections, "the database system is shutting down" and reset connections
were not translated. The PostgreSQL test stops and starts a private cluster
under a real ``flightlog serve``; the SQLite test holds the write lock past
the busy timeout, SQLite's way of being unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text

from api_client import client_for
from flightlog import DatabaseUnavailable, Store, open_store, open_store_sync
from flightlog.api import create_app
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from pg_cluster import PrivateCluster, free_port
from waiting import wait_until

STARTUP_SECONDS = 60.0


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, f"{response.request.url}: {response.text}"
    assert response.headers["Retry-After"].isdigit()
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "retry" in error["message"]


async def _make_key(url: str, settings: Settings) -> str:
    async with open_store(url, settings=settings) as store:
        return (await store.api_keys.create("outage test")).key


class Server:
    """``flightlog serve`` in a child process, on a free port."""

    def __init__(self, url: str, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flightlog",
                "serve",
                "--port",
                str(self.port),
                "-d",
                url,
                *extra,
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Verify the key on every request, so that authentication meets the outage too.
            env={**_environment(), "FLIGHTLOG_API_KEY_CACHE_SECONDS": "0"},
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            httpx.get(f"{self.base}/api/v1/health", timeout=2)
        except httpx.TransportError:
            return False
        return True

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log_file.close()
        return self.log.read_text()


def _environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    own = PrivateCluster()
    try:
        own.start()
        own.create_database("flightlog")
        yield own
    finally:
        own.remove()


class StreamFollower:
    """Reads one task's live event stream on another thread, keeping every line."""

    def __init__(self, base: str, key: str, task_id: str) -> None:
        self.lines: list[str] = []
        self.ended = threading.Event()
        self._socket: socket.socket | None = None
        self._client = httpx.Client(timeout=60)
        self._args = (base, key, task_id)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        base, key, task_id = self._args
        params = {"task_id": task_id, "poll_seconds": "0.25", "timeout_seconds": "120"}
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with self._client.stream(
                "GET", f"{base}/api/v1/events/stream", params=params, headers=headers
            ) as response:
                # Kept so that close() can end a read blocked between keep-alives at once.
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                self.lines.append(f"status: {response.status_code}")
                for line in response.iter_lines():
                    self.lines.append(line)
        except httpx.HTTPError as exc:
            self.lines.append(f"client error: {exc!r}")
        finally:
            self.ended.set()

    def saw(self, words: str) -> bool:
        return any(words in line for line in self.lines)

    def close(self) -> None:
        """Hang up (the server waits for open streams before it stops).

        Closing the client alone leaves the reader thread blocked in ``recv`` until
        the server's next keep-alive (15 s); shutting the socket down ends it now.
        """
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._client.close()
        self._thread.join(timeout=30)


class Hammer:
    """Requests in a loop from another thread, counting statuses, until told to stop."""

    def __init__(self, client: httpx.Client, task_id: str) -> None:
        self.client = client
        self.task_id = task_id
        self.statuses: Counter[int] = Counter()
        self.transport_errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        requests = [
            lambda: self.client.get("/api/v1/tasks"),
            lambda: self.client.get(f"/api/v1/tasks/{self.task_id}"),
            lambda: self.client.post("/api/v1/tasks", json={"title": "during"}),
            lambda: self.client.post(
                "/api/v1/events",
                json={"events": [{"event_type": "log", "task_id": self.task_id, "content": "x"}]},
            ),
        ]
        while not self._stop.is_set():
            for send in requests:
                try:
                    self.statuses[send().status_code] += 1
                except httpx.TransportError as exc:
                    self.statuses[0] += 1
                    self.transport_errors.append(repr(exc))

    def stop(self) -> Counter[int]:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.statuses


@pytest.mark.slow
@pytest.mark.postgres_only
def test_a_postgres_restart_answers_503_then_recovers_by_itself(
    dialect: str, cluster: PrivateCluster, test_settings: Settings, tmp_path: Path
) -> None:
    url = cluster.url("flightlog").redacted()
    Migrator(test_settings, cluster.url("flightlog")).upgrade("head")
    key = asyncio.run(_make_key(url, test_settings))
    server = Server(url, tmp_path / "serve.log")
    stream: StreamFollower | None = None
    try:
        wait_until(server.answers, STARTUP_SECONDS, "flightlog serve to listen")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
            task = client.post("/api/v1/tasks", json={"title": "before the restart"})
            assert task.status_code == 201, task.text
            task_id = task.json()["id"]
            stream = StreamFollower(server.base, key, task_id)
            wait_until(lambda: stream.saw("retry:"), 30, "the event stream to open")
            hammer = Hammer(client, task_id)
            wait_until(lambda: sum(hammer.statuses.values()) > 20, 30, "traffic before the stop")
            cluster.stop()
            down = [
                client.get("/api/v1/tasks"),
                client.get(f"/api/v1/tasks/{task_id}"),
                client.get(f"/api/v1/runs/{uuid.uuid4()}"),
                client.post("/api/v1/tasks", json={"title": "while down"}),
                client.post(
                    "/api/v1/events",
                    json={"events": [{"event_type": "log", "task_id": task_id, "content": "down"}]},
                ),
                client.get("/api/v1/views/overview"),
            ]
            for response in down:
                _assert_unavailable(response)
            health = client.get("/api/v1/health")
            assert health.status_code == 503
            assert health.headers["Retry-After"].isdigit()
            wait_until(lambda: stream.saw("database is unavailable"), 30, "the stream to wait")
            cluster.start()
            wait_until(
                lambda: client.get("/api/v1/tasks").status_code == 200,
                STARTUP_SECONDS,
                "the API to serve again after the database came back",
            )
            statuses = hammer.stop()
            after = client.post("/api/v1/tasks", json={"title": "after the restart"})
            assert after.status_code == 201, after.text
            titles = {t["title"] for t in client.get("/api/v1/tasks?limit=500").json()["items"]}
            assert {"before the restart", "after the restart"} <= titles
            assert "while down" not in titles
            # The stream that was open through the restart delivers what came after it.
            sent = client.post(
                "/api/v1/events",
                json={"events": [{"event_type": "log", "task_id": task_id, "content": "back"}]},
            )
            assert sent.status_code == 201, sent.text
            wait_until(lambda: stream.saw('"content":"back"'), 30, "the stream to deliver")
            assert not stream.ended.is_set(), stream.lines
    finally:
        if stream is not None:
            stream.close()
        log = server.stop()
    assert set(statuses) <= {200, 201, 503}, (statuses, hammer.transport_errors, log)
    assert statuses[503] > 0, statuses
    assert "Traceback" not in log, log


@pytest.mark.postgres_only
async def test_the_store_raises_database_unavailable_while_postgres_is_down(
    dialect: str, cluster: PrivateCluster, test_settings: Settings
) -> None:
    url = cluster.url("flightlog").redacted()
    async with open_store(url, settings=test_settings) as store:
        task = await store.tasks.create(title="kept")
        await asyncio.to_thread(cluster.stop)
        with pytest.raises(DatabaseUnavailable, match="retry"):
            await store.tasks.get(task.id)
        with pytest.raises(DatabaseUnavailable):
            await store.tasks.create(title="lost")
        await asyncio.to_thread(cluster.start)
        assert (await store.tasks.get(task.id)).title == "kept"
        assert [t.title for t in (await store.tasks.list()).items] == ["kept"]


@pytest.mark.sqlite_only
async def test_sqlite_locked_past_the_busy_timeout_is_503(
    dialect: str, fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(
        update={"database_url": fresh_url.redacted(), "sqlite_busy_timeout_ms": 200}
    )
    key = await _make_key(fresh_url.redacted(), settings)
    database = fresh_url.url.database
    assert database is not None
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app, key) as client:
        assert (await client.get("/tasks")).status_code == 200  # the key is verified and cached
        writer = sqlite3.connect(database, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE customers SET name = name")
            _assert_unavailable(await client.post("/tasks", json={"title": "blocked"}))
            with pytest.raises(DatabaseUnavailable):
                async with open_store(
                    fresh_url.redacted(), settings=settings, upgrade=False
                ) as store:
                    await store.tasks.create(title="blocked too")
            # Reads do not need the lock.
            assert (await client.get("/tasks")).status_code == 200
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        page = (await client.get("/tasks")).json()
        assert page["items"] == []
        assert (await client.post("/tasks", json={"title": "later"})).status_code == 201


def _terminate_backend(server: DatabaseUrl, pid: int) -> None:
    conninfo = server.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def _write_losing_the_connection(store: Store, server: DatabaseUrl, lost: str) -> None:
    """A unit of work whose connection the server terminates, before or in its COMMIT."""
    async with store.transaction() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await asyncio.to_thread(_terminate_backend, server, int(pid))
        if lost == "before the commit":
            await session.execute(text("SELECT 1"))


@pytest.mark.postgres_only
@pytest.mark.parametrize("lost", ["before the commit", "in the commit"])
async def test_a_connection_lost_in_the_commit_leaves_the_outcome_unknown(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings, lost: str
) -> None:
    """Only a failure before COMMIT may promise that nothing was written."""
    url = db_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=test_settings) as store:
        with pytest.raises(DatabaseUnavailable) as raised:
            await _write_losing_the_connection(store, db_url, lost)
        expected = "not_written" if lost == "before the commit" else "unknown"
        assert raised.value.details == {"outcome": expected}
        if expected == "unknown":
            assert "may or may not have been saved" in raised.value.message
        # The pool drops the dead connection: the next call works.
        assert (await store.tasks.create(title="afterwards")).title == "afterwards"


@pytest.mark.postgres_only
async def test_a_database_closed_to_connections_is_unavailable_not_a_server_error(
    dialect: str, fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    """``ALTER DATABASE … ALLOW_CONNECTIONS false`` (SQLSTATE 55000): 503, never a 500."""
    url = fresh_head_url.url.render_as_string(hide_password=False)
    admin = fresh_head_url.url.set(drivername="postgresql", database="postgres")
    name = fresh_head_url.url.database
    async with open_store(url, settings=test_settings) as store:
        key = (await store.api_keys.create("closed database")).key
        app = create_app(store.settings, engine=store.engine)
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as db:
            db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        try:
            with pytest.raises(DatabaseUnavailable):
                await store.tasks.list()
            async with client_for(app, key, raise_app_exceptions=False) as client:
                _assert_unavailable(await client.get("/tasks"))
        finally:
            with psycopg.connect(
                admin.render_as_string(hide_password=False), autocommit=True
            ) as db:
                db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert (await store.tasks.list()).items == []


@pytest.mark.postgres_only
async def test_a_one_statement_write_to_a_closed_database_says_nothing_was_written(
    dialect: str, fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    """The one-statement writes check a connection out of the pool themselves: when that
    fails, nothing was sent, and both Stores say so with the domain error, not the
    driver's (the synchronous Store used to raise psycopg's OperationalError)."""
    url = fresh_head_url.url.render_as_string(hide_password=False)
    admin = fresh_head_url.url.set(drivername="postgresql", database="postgres")
    name = fresh_head_url.url.database
    # Every checkout tests its connection, so each write meets the closed database there.
    settings = test_settings.model_copy(update={"pool_ping_after_idle_seconds": 0})
    async with open_store(url, settings=settings) as store:
        task = await store.tasks.create(title="closed to connections")
        event = {"event_type": "LOG", "task_id": task.id, "content": "while closed"}
        before = len((await store.events.list(task_id=task.id, limit=100)).items)
        with open_store_sync(
            url, settings=settings, customer_id=store.customer_id, upgrade=False
        ) as sync:
            assert sync.tasks.get(task.id).title == "closed to connections"
            with psycopg.connect(
                admin.render_as_string(hide_password=False), autocommit=True
            ) as db:
                db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
            try:
                with pytest.raises(DatabaseUnavailable) as on_async:
                    await store.events.append(event)
                with pytest.raises(DatabaseUnavailable) as on_sync:
                    sync.events.append(event)
            finally:
                with psycopg.connect(
                    admin.render_as_string(hide_password=False), autocommit=True
                ) as db:
                    db.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            for raised in (on_async, on_sync):
                assert raised.value.details == {"outcome": "not_written"}
                assert "nothing was written" in raised.value.message
            assert sync.events.append(event).content == "while closed"
        listed = await store.events.list(task_id=task.id, limit=100)
        assert [e.content for e in listed.items[before:]] == ["while closed"]


@pytest.mark.sqlite_only
async def test_a_cancelled_call_never_leaves_sqlite_locked(
    dialect: str, fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """Calls timed out at every point of their transaction: each later write still succeeds."""
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 1000})
    url = fresh_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=settings) as store:
        task = await store.tasks.create(title="kept")
        timed_out = 0
        for step in range(1, 40):
            try:
                await asyncio.wait_for(store.tasks.create(title="maybe"), step / 2000)
            except TimeoutError:
                timed_out += 1
            await store.tasks.update(task.id, description=f"probe {step}")  # never locked out
        assert timed_out > 0  # the timeouts did cut calls short
        assert (await store.tasks.get(task.id)).description == "probe 39"
