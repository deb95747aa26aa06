"""Read replicas, against a real streaming hot standby on loopback (issue 16, item 2).

One primary and one standby (``pg_basebackup -R -X stream``) are built for the
module, migrated once. Where a read ran is asked of the server itself: a spy on
every SQLAlchemy session asks ``pg_is_in_recovery()`` through the session's own
connection when it begins, and records it with the service the session ran
(never the Store's own routing table). Lag is made on demand with
``pg_wal_replay_pause()``: the standby keeps receiving WAL but shows nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from cli_runner import Cli, make_cli, one_sentence
from flightlog import AsyncClient, Client, ConfigurationError, ValidationError, open_store_sync
from flightlog.api import create_app
from flightlog.db.engine import async_session_factory, create_async_db_engine, create_sync_engine
from flightlog.db.replicas import Replay, Replica, ReplicaPolicy, ReplicaSet, async_replicas
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import Event
from flightlog.services._common import UNIT_SERVICE
from flightlog.services.event_feed import TAKE_TRANSACTION_ID
from flightlog.settings import Settings
from flightlog.store import Store, open_store
from flightlog.store.binding import Operation
from flightlog.store.core import dispose_replicas
from flightlog.store.event_pages import EventPages
from flightlog.store.replica_reads import read_routes
from pg_cluster import ReplicatedPair
from postgres_server import _postgres_required
from replica_paths import READS, Rows, make_rows

#: Short retry so "the replica is used again once it is back" is seen within a test.
SETTINGS = Settings(pool_size=2, max_overflow=10, replica_retry_seconds=0.3)


def url_text(url: DatabaseUrl) -> str:
    return url.url.render_as_string(hide_password=False)


@dataclass
class Replicated:
    """The module's primary and standby, the database on both, and one customer's rows."""

    pair: ReplicatedPair
    primary: DatabaseUrl
    replica: DatabaseUrl
    customer_id: uuid.UUID
    rows: Rows

    def settings(self, **changes: Any) -> Settings:
        return SETTINGS.model_copy(
            update={
                "database_url": url_text(self.primary),
                "database_replica_urls": url_text(self.replica),
                **changes,
            }
        )


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    """A primary and a streaming standby, migrated and with rows, for the whole module."""
    try:
        pair = ReplicatedPair()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        reason = (
            f"cannot build a PostgreSQL primary and streaming standby here ({exc}); "
            "the read replica tests are NOT running"
        )
        if _postgres_required():
            pytest.fail(f"FLIGHTLOG_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        print(f"\n*** WARNING: {reason} ***\n")
        pytest.skip(reason)
    try:
        primary, replica = pair.create_database("flightlog")
        Migrator(SETTINGS, primary).upgrade("head")
        customer_id, rows = asyncio.run(_world(primary))
        pair.wait_replayed()
        yield Replicated(pair, primary, replica, customer_id, rows)
    finally:
        pair.remove()


async def _world(primary: DatabaseUrl) -> tuple[uuid.UUID, Rows]:
    async with open_store(url_text(primary), settings=SETTINGS, upgrade=False) as store:
        return store.customer_id, await make_rows(store)


class ServerSpy:
    """Which kind of server each session ran on, asked through that session's connection."""

    def __init__(self) -> None:
        #: (the service the session ran, or None; whether its server was a standby)
        self.sessions: list[tuple[str | None, bool]] = []

    def began(self, session: Session, _: SessionTransaction, connection: Connection) -> None:
        if "spy.standby" not in session.info:
            found = connection.exec_driver_sql("SELECT pg_is_in_recovery()").scalar()
            session.info["spy.standby"] = bool(found)

    def ended(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None and "spy.standby" in session.info:
            service = session.info.get(UNIT_SERVICE)
            name = getattr(service, "__name__", None)
            self.sessions.append((name, session.info.pop("spy.standby")))

    def servers(self, service: str) -> set[str]:
        """Where the sessions that ran ``service`` were: "standby" and/or "primary"."""
        return {"standby" if s else "primary" for name, s in self.sessions if name == service}

    def clear(self) -> None:
        self.sessions.clear()


@pytest.fixture
def spy() -> Iterator[ServerSpy]:
    found = ServerSpy()
    event.listen(Session, "after_begin", found.began)
    event.listen(Session, "after_transaction_end", found.ended)
    try:
        yield found
    finally:
        event.remove(Session, "after_begin", found.began)
        event.remove(Session, "after_transaction_end", found.ended)


@pytest.fixture
def cli(
    replicated: Replicated,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Cli:
    """The console script, with the standby as its read replica (in the environment)."""
    monkeypatch.setenv("FLIGHTLOG_DATABASE_REPLICA_URLS", url_text(replicated.replica))
    monkeypatch.setenv("FLIGHTLOG_BLOB_DIR", str(tmp_path / "blobs"))
    return make_cli(monkeypatch, capsys, tmp_path)


@asynccontextmanager
async def store_on(replicated: Replicated, **changes: Any) -> AsyncIterator[Store]:
    """A Store of the module's customer with the standby as its read replica."""
    settings = replicated.settings(**changes)
    engine = create_async_db_engine(settings)
    replicas = async_replicas(settings)
    try:
        yield Store(engine, settings, replicated.customer_id, replicas=replicas)
    finally:
        await engine.dispose()
        await dispose_replicas(replicas)


def service_of(store: Store, path: str) -> str:
    """The name of the service function a facade operation (``"tasks.list"``) runs."""
    facade, name = path.split(".")
    operation = vars(type(getattr(store, facade)))[name]
    assert isinstance(operation, Operation)
    return str(operation.service.__name__)


async def eventually(condition: Any, what: str, seconds: float = 30.0) -> None:
    """Await ``condition()`` until it is true; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s waiting for {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def replay_paused(replicated: Replicated) -> AsyncIterator[None]:
    """The standby receives WAL but replays none of it: a lagging replica."""
    await asyncio.to_thread(replicated.pair.pause_replay)
    try:
        yield
    finally:
        replicated.pair.resume_replay()


async def test_the_routing_table_names_every_stale_tolerant_read_and_each_has_a_case(
    replicated: Replicated,
) -> None:
    async with store_on(replicated) as store:
        routes = read_routes(store)
    assert {path for path, where in routes.items() if where == "replica"} == set(READS)
    steering = ("tasks.get", "runs.get", "tasks.ready", "api_keys.verify", "claims.claim")
    assert all(routes[path] == "primary" for path in steering)


@pytest.mark.parametrize("path", sorted(READS))
async def test_each_stale_tolerant_read_is_answered_by_the_standby(
    replicated: Replicated, spy: ServerSpy, path: str
) -> None:
    async with store_on(replicated) as store:
        await READS[path](store, replicated.rows)
        assert spy.servers(service_of(store, path)) == {"standby"}


async def test_statistics_are_counted_on_the_standby(
    replicated: Replicated, spy: ServerSpy
) -> None:
    async with store_on(replicated) as store:
        found = await store.stats()
    assert spy.servers("statistics_here") == {"standby"}
    assert found.database == replicated.replica.redacted()
    assert found.counts["tasks"] >= 1


async def test_writes_and_the_reads_a_workflow_steers_by_stay_on_the_primary(
    replicated: Replicated, spy: ServerSpy
) -> None:
    rows = replicated.rows
    async with store_on(replicated) as store:
        task = await store.tasks.create(title="written on the primary")
        await store.tasks.get(rows.task)
        await store.runs.get(rows.run)
        await store.tasks.ready()
    for service in ("create_task", "get_task", "get_run", "ready_tasks"):
        assert spy.servers(service) == {"primary"}, service
    assert task.title == "written on the primary"


async def test_a_writer_reads_its_write_at_once_while_the_standby_lags(
    replicated: Replicated, spy: ServerSpy
) -> None:
    async with store_on(replicated) as writer, store_on(replicated) as stranger:
        async with replay_paused(replicated):
            task = await writer.tasks.create(title="read after write")
            spy.clear()
            mine = await writer.tasks.list(limit=500)
            assert task.id in {t.id for t in mine.items}
            assert spy.servers("list_tasks") == {"primary"}  # the standby has not replayed it
            spy.clear()
            # A client that wrote nothing may read a moment in the past: the standby.
            theirs = await stranger.tasks.list(limit=500)
            assert task.id not in {t.id for t in theirs.items}
            assert spy.servers("list_tasks") == {"standby"}
        await asyncio.to_thread(replicated.pair.wait_replayed)
        spy.clear()
        again = await writer.tasks.list(limit=500)
        assert task.id in {t.id for t in again.items}
        assert spy.servers("list_tasks") == {"standby"}  # caught up: the standby serves it


async def test_a_standby_further_behind_than_the_lag_limit_serves_no_one(
    replicated: Replicated, spy: ServerSpy
) -> None:
    async with (
        store_on(replicated) as writer,
        store_on(replicated, replica_max_lag_seconds=0.01, replica_check_seconds=0) as reader,
        replay_paused(replicated),
    ):
        task = await writer.tasks.create(title="behind the limit")
        await asyncio.to_thread(replicated.pair.wait_received)
        spy.clear()
        found = await reader.tasks.list(limit=500)
        assert task.id in {t.id for t in found.items}
        assert spy.servers("list_tasks") == {"primary"}
        health = await reader.health()
        assert health.status == "ok"
        [report] = health.replicas
        assert (report.reachable, report.standby, report.serving) == (True, True, False)
        assert (report.lag_seconds or 0) > 0.01
        assert (report.behind_bytes or 0) > 0
        assert "behind" in (report.error or "")


async def test_a_stopped_standby_falls_back_to_the_primary_and_is_used_again_when_back(
    replicated: Replicated, spy: ServerSpy, cli: Cli
) -> None:
    rows = replicated.rows
    settings = replicated.settings()
    sync_store = open_store_sync(settings=settings, upgrade=False)
    code, out, err = cli("doctor", "-d", url_text(replicated.primary))
    assert code == 0, out + err
    assert "A hot standby, replayed to" in " ".join(out.split())
    try:
        async with store_on(replicated) as store:
            await store.tasks.list()
            replicated.pair.replica.stop()
            try:
                spy.clear()
                page = await store.tasks.list(limit=500)  # no error: the primary answers
                assert rows.task in {t.id for t in page.items}
                assert spy.servers("list_tasks") == {"primary"}
                assert rows.task in {t.id for t in sync_store.tasks.list(limit=500).items}
                [report] = (await store.health()).replicas
                assert (report.reachable, report.serving) == (False, False)
                assert "Cannot reach" in (report.error or "")
                assert [r.reachable for r in sync_store.health().replicas] == [False]
                export = Path("while-down.jsonl")
                assert cli("export", str(export), "-d", url_text(replicated.primary))[0] == 0
                written = await asyncio.to_thread(export.read_text)
                assert str(rows.task) in written  # from the primary
                code, out, err = cli("doctor", "-d", url_text(replicated.primary))
                assert code == 1
                line = " ".join(out.split())
                assert f"✗ │ read replica {replicated.replica.redacted()}" in line
                assert "Reads go to the primary meanwhile" in line
            finally:
                replicated.pair.replica.start()

            async def on_the_standby() -> bool:
                spy.clear()
                await store.tasks.list()
                return spy.servers("list_tasks") == {"standby"}

            await eventually(on_the_standby, "reads to return to the restarted standby")
            assert (await store.health()).replicas[0].serving
    finally:
        sync_store.close()


def _standby_processes(replicated: Replicated) -> list[int]:
    """The standby's postmaster and every process it started."""
    postmaster = int((replicated.pair.replica.data / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry.name))
    return [postmaster, *children]


@contextmanager
def frozen(replicated: Replicated) -> Iterator[None]:
    """The standby stops answering (SIGSTOP): a hung host, while its kernel still
    acknowledges every packet, so no TCP timeout or keepalive notices anything."""
    stopped = _standby_processes(replicated)
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def test_a_frozen_standby_times_out_and_the_primary_answers(
    replicated: Replicated, spy: ServerSpy
) -> None:
    """Reads on the standby's pooled connections used to wait for ever (400 s and more)."""
    rows = replicated.rows
    async with store_on(replicated, replica_read_timeout_seconds=1.0) as store:
        spy.clear()
        await store.tasks.list()
        assert spy.servers("list_tasks") == {"standby"}  # its pool holds a connection now
        with frozen(replicated):
            spy.clear()
            page = await asyncio.wait_for(store.tasks.list(limit=500), 60)
            assert rows.task in {t.id for t in page.items}
            assert spy.servers("list_tasks") == {"primary"}
            # Left alone: the next read does not try it again meanwhile.
            found = await asyncio.wait_for(store.events.list(task_id=rows.task), 60)
            assert found.items
            [report] = (await asyncio.wait_for(store.health(), 60)).replicas
            assert report.serving is False

        async def on_the_standby() -> bool:
            spy.clear()
            await store.tasks.list()
            return spy.servers("list_tasks") == {"standby"}

        await eventually(on_the_standby, "reads to return to the thawed standby")


async def test_a_replica_url_naming_another_database_serves_no_reads(
    replicated: Replicated, spy: ServerSpy, cli: Cli
) -> None:
    """A standby of the right server, but the URL names another database on it: its rows
    are not the primary's, so it must never answer (it used to: an empty task list)."""
    other_primary, other_replica = replicated.pair.create_database("another_copy")
    await asyncio.to_thread(Migrator(SETTINGS, other_primary).upgrade, "head")
    await asyncio.to_thread(replicated.pair.wait_replayed)
    elsewhere = url_text(other_replica)
    async with store_on(replicated, database_replica_urls=elsewhere) as store:
        spy.clear()
        page = await store.tasks.list(limit=500)
        assert replicated.rows.task in {t.id for t in page.items}
        assert spy.servers("list_tasks") == {"primary"}
        [report] = (await store.health()).replicas
        assert (report.standby, report.serving) == (True, False)
        assert "serves database 'another_copy', not the primary's 'flightlog'" in (
            report.error or ""
        )
    with open_store_sync(
        settings=replicated.settings(database_replica_urls=elsewhere), upgrade=False
    ) as sync_store:
        assert replicated.rows.task in {t.id for t in sync_store.tasks.list(limit=500).items}
        [report] = sync_store.health().replicas
        assert report.serving is False


def test_a_standby_of_another_server_is_told_apart_by_its_system_identifier() -> None:
    """Two clusters' standbys can serve databases of the same name; the system identifier,
    which a base backup copies, says whose copy each is."""
    url = DatabaseUrl.parse("postgresql://u@standby.invalid/flightlog")
    replica = Replica(url, create_sync_engine(SETTINGS, url=url))  # never connects here
    replicas = ReplicaSet([replica], ReplicaPolicy(30.0, 10.0, 1.0))
    replicas.primary_identity = ("7714032872454502572", "flightlog")
    same = Replay(True, 1, 0.0, ("7714032872454502572", "flightlog"))
    other = Replay(True, 1, 0.0, ("7000000000000000001", "flightlog"))
    assert replicas.not_a_copy(replica, same) is None
    assert "not a standby of the primary's server" in (replicas.not_a_copy(replica, other) or "")
    replicas.record(replica, other)
    assert replica.state.down_until > 0
    assert replica.state.lag_seconds is None  # never counted as caught up


def test_export_and_statistics_commands_read_on_the_standby(
    replicated: Replicated, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTLOG_REPLICA_MAX_LAG_SECONDS", "3600")  # paused is fine here
    primary = url_text(replicated.primary)
    with open_store_sync(settings=replicated.settings(), upgrade=False) as store:
        with replay_paused_sync(replicated):
            task = store.tasks.create(title="written after the standby paused")
            code, out, err = cli("export", "paused.jsonl", "-d", primary)
            assert code == 0, err
            assert str(task.id) not in Path("paused.jsonl").read_text()
            code, out, err = cli("stats", "--json", "-d", primary)
            assert code == 0, err
            assert json.loads(out)["database"] == replicated.replica.redacted()
        replicated.pair.wait_replayed()
        assert cli("export", "caught-up.jsonl", "-d", primary)[0] == 0
        assert str(task.id) in Path("caught-up.jsonl").read_text()


async def test_the_synchronous_store_reads_stale_tolerant_paths_on_the_standby(
    replicated: Replicated, spy: ServerSpy
) -> None:
    with open_store_sync(settings=replicated.settings(), upgrade=False) as store:
        task = store.tasks.create(title="sync read after write")
        with replay_paused_sync(replicated):
            store.runs.list(replicated.rows.task)
            assert spy.servers("list_runs") == {"standby"}  # nothing of its own to wait for
            written = store.tasks.create(title="while paused")
            found = store.tasks.list(limit=500)
            assert {task.id, written.id} <= {t.id for t in found.items}
            assert spy.servers("list_tasks") == {"primary"}


@contextmanager
def replay_paused_sync(replicated: Replicated) -> Iterator[None]:
    replicated.pair.pause_replay()
    try:
        yield
    finally:
        replicated.pair.resume_replay()


async def test_a_replica_url_that_names_no_standby_is_reported_and_left_alone(
    replicated: Replicated,
) -> None:
    settings = replicated.settings(database_replica_urls=url_text(replicated.primary))
    async with open_store(settings=settings, upgrade=False) as store:
        await store.tasks.list()
        [report] = (await store.health()).replicas
    assert (report.standby, report.serving) == (False, False)
    assert "not a hot standby" in (report.error or "")


async def test_the_api_gives_writers_a_token_that_makes_their_reads_show_their_writes(
    replicated: Replicated, spy: ServerSpy
) -> None:
    settings = replicated.settings()
    engine = create_async_db_engine(settings)
    app = create_app(settings, engine=engine)
    try:
        async with store_on(replicated) as store:
            key = (await store.api_keys.create("replica test")).key
            operator = (await store.api_keys.create("ops", scopes=["operator"])).key
        transport = httpx.ASGITransport(app=app)
        async with (
            AsyncClient("http://flightlog.test", key, transport=transport) as writer,
            AsyncClient("http://flightlog.test", key, transport=transport) as stranger,
        ):
            await stranger.tasks.list()  # the standby is known to be fit before the pause
            async with replay_paused(replicated):
                task = await writer.tasks.create(title="written over HTTP")
                assert writer.consistency.token is not None
                page = await writer.tasks.list(limit=500)
                assert task.id in {t.id for t in page.items}
                assert stranger.consistency.token is None
                theirs = await stranger.tasks.list(limit=500)
                assert task.id not in {t.id for t in theirs.items}
                # Handing the token over is all another client needs to see the write.
                stranger.consistency.token = writer.consistency.token
                handed = await stranger.tasks.list(limit=500)
                assert task.id in {t.id for t in handed.items}
        async with AsyncClient("http://flightlog.test", operator, transport=transport) as ops:
            [report] = (await ops.health_detail()).health.replicas
        assert report.database == replicated.replica.redacted()
        assert (report.reachable, report.standby, report.serving) == (True, True, True)
    finally:
        await engine.dispose()
        await dispose_replicas(app.state.flightlog.replicas)


async def test_the_dashboard_page_after_a_form_shows_what_the_form_did_while_the_standby_lags(
    replicated: Replicated,
) -> None:
    settings = replicated.settings()
    engine = create_async_db_engine(settings)
    app = create_app(settings, engine=engine)
    primary_only = SETTINGS.model_copy(update={"database_url": url_text(replicated.primary)})
    try:
        async with open_store(
            settings=primary_only, customer_id=replicated.customer_id, upgrade=False
        ) as plain:
            key = (await plain.api_keys.create("Ada", scopes=["read", "write"])).key
            task = await plain.tasks.create(title="retried from the dashboard")
            await asyncio.to_thread(replicated.pair.wait_replayed)
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as ada,
                httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as bob,
            ):
                for browser in (ada, bob):
                    signed = await browser.post("/login", data={"key": key, "next": "/"})
                    assert signed.status_code == 303
                page = f"/tasks/{task.id}"
                found = re.search(
                    r'name="flightlog-csrf" content="([0-9a-f]+)"', (await ada.get(page)).text
                )
                assert found is not None
                async with replay_paused(replicated):
                    answer = await ada.post(
                        f"/actions/tasks/{task.id}/retry",
                        data={"csrf": found.group(1), "next": page},
                    )
                    assert answer.status_code == 303
                    assert "flightlog_consistency=" in answer.headers["set-cookie"]
                    [run] = await plain.runs.list(task.id)
                    assert f'data-run="{run.id}"' in (await ada.get(page)).text
                    # Another browser, which did nothing, reads the lagging standby.
                    assert f'data-run="{run.id}"' not in (await bob.get(page)).text
    finally:
        await engine.dispose()
        await dispose_replicas(app.state.flightlog.replicas)


async def test_a_malformed_consistency_token_is_a_422_naming_the_header(
    replicated: Replicated,
) -> None:
    settings = replicated.settings()
    engine = create_async_db_engine(settings)
    app = create_app(settings, engine=engine)
    try:
        async with store_on(replicated) as store:
            key = (await store.api_keys.create("replica test")).key
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://flightlog.test"
        ) as http:
            answer = await http.get(
                "/api/v1/tasks",
                headers={"Authorization": f"Bearer {key}", "Flightlog-Consistency": "nope"},
            )
        assert answer.status_code == 422
        assert "Flightlog-Consistency" in answer.json()["error"]["message"]
        with pytest.raises(ValidationError):
            AsyncClient("http://flightlog.test", key).consistency.token = "0/zz"
    finally:
        await engine.dispose()
        await dispose_replicas(app.state.flightlog.replicas)


@pytest.mark.slow
def test_reads_show_the_writers_writes_whichever_of_several_server_processes_answers(
    replicated: Replicated, tmp_path: Path
) -> None:
    from serving import serving

    with open_store_sync(settings=replicated.settings(), upgrade=False) as store:
        key = store.api_keys.create("workers").key
    replica = ("--replica-url", url_text(replicated.replica))
    with (
        serving(url_text(replicated.primary), tmp_path, "--workers", "2", *replica) as served,
        Client(served.base, key) as writer,
    ):
        writer.tasks.list()
        with replay_paused_sync(replicated):
            task = writer.tasks.create(title="across processes")
            for _ in range(6):  # the workers take the connections in turn
                with Client(served.base, key) as fresh:
                    fresh.consistency.token = writer.consistency.token
                    assert task.id in {t.id for t in fresh.tasks.list(limit=500).items}
                assert task.id in {t.id for t in writer.tasks.list(limit=500).items}
            with Client(served.base, key) as stranger:
                assert task.id not in {t.id for t in stranger.tasks.list(limit=500).items}


def test_replicas_are_refused_for_a_sqlite_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="need PostgreSQL"):
        open_store_sync(
            f"sqlite:///{tmp_path / 'x.db'}", replica_urls=["postgresql://postgres@127.0.0.1/x"]
        )
    assert not (tmp_path / "x.db").exists()
    with pytest.raises(ConfigurationError, match="not PostgreSQL's"):
        Settings(
            database_url="postgresql://postgres@127.0.0.1/x",
            database_replica_urls="sqlite:///replica.db",
        )


@pytest.mark.parametrize(
    ("urls", "named", "reason"),
    [
        ("notaurl", "The read replica URL", "cannot parse database URL"),
        ("postgresql://a@h/x,mysql://u@h/db", "Read replica URL 2 of 2", "unsupported database"),
    ],
)
def test_a_replica_url_that_cannot_be_used_is_refused_naming_the_replica_setting(
    urls: str, named: str, reason: str, cli: Cli
) -> None:
    """Not in the words for the primary's URL, which sent the reader to the wrong setting."""
    with pytest.raises(ConfigurationError) as refused:
        Settings(database_url="postgresql://postgres@127.0.0.1/x", database_replica_urls=urls)
    message = refused.value.message
    assert message.startswith(named), message
    assert "FLIGHTLOG_DATABASE_REPLICA_URLS" in message
    assert reason in message
    code, out, err = cli("serve", "-d", "postgresql://postgres@127.0.0.1/x", "--replica-url", urls)
    assert code != 0
    assert named in one_sentence(out + err)
    assert "Traceback" not in out + err


async def _follow(pages: EventPages, cursor: int, seen: list[int]) -> int:
    """One poll: the page after ``cursor``, its ids added to ``seen``; the new cursor."""
    page = await pages.next(cursor)
    seen.extend(event.id for event in page.items)
    return seen[-1] if seen else cursor


async def test_a_follower_on_the_standby_never_passes_an_event_still_being_written(
    replicated: Replicated, spy: ServerSpy
) -> None:
    async with store_on(replicated) as store:
        task = await store.tasks.create(title="followed")
        pages = EventPages(store, task_id=task.id)
        seen: list[int] = []
        cursor = await _follow(pages, 0, seen)
        sessions = async_session_factory(store.engine)
        async with sessions() as slow:
            await slow.begin()
            await slow.execute(TAKE_TRANSACTION_ID)
            early = (
                await slow.execute(
                    insert(Event)
                    .values(customer_id=store.customer_id, task_id=task.id, event_type="LOG")
                    .returning(Event.id)
                )
            ).scalar_one()
            later = (await store.events.append({"task_id": task.id, "event_type": "LOG"})).id
            for _ in range(3):  # the later event is committed, the earlier one is not
                cursor = await _follow(pages, cursor, seen)
                assert later not in seen
            # The standby shows the later event; then the earlier one commits on the primary
            # alone: a follower that took the primary's watermark for the standby's would
            # read the later event there and pass the earlier one for good.
            await asyncio.to_thread(replicated.pair.wait_replayed)
            async with replay_paused(replicated):
                await slow.commit()
                for _ in range(3):
                    cursor = await _follow(pages, cursor, seen)
                    assert later not in seen or early in seen

        async def both_seen() -> bool:
            nonlocal cursor
            cursor = await _follow(pages, cursor, seen)
            return later in seen

        await eventually(both_seen, "the follower to see both events", seconds=10)
    assert early in seen
    assert seen[-2:] == [early, later]
    assert seen == sorted(set(seen))  # each once, in id order
    assert "standby" in spy.servers("event_page")


async def test_a_follower_on_the_standby_gets_every_event_once_from_concurrent_writers(
    replicated: Replicated, spy: ServerSpy
) -> None:
    """Several writers commit in their own order while the follower reads pages on the
    standby; for a while the standby replays nothing (the pages then come from the
    primary), and afterwards it serves again."""
    async with store_on(replicated) as follower, store_on(replicated) as writers:
        task = await follower.tasks.create(title="followed by many")
        written: list[int] = []

        async def write(many: int) -> None:
            for number in range(many):
                if number % 5:
                    event = {"task_id": task.id, "event_type": "LOG", "content": str(number)}
                    written.append((await writers.events.append(event)).id)
                else:
                    batch = [{"task_id": task.id, "event_type": "LOG"}] * 3
                    written.extend(await writers.events.append_batch(batch))

        pages = EventPages(follower, task_id=task.id)
        seen: list[int] = []
        cursor = 0

        async def phase(paused: bool) -> None:
            nonlocal cursor
            writing = asyncio.gather(*(write(15) for _ in range(4)))
            async with replay_paused(replicated) if paused else _nothing():
                while not writing.done():
                    cursor = await _follow(pages, cursor, seen)
                    await asyncio.sleep(0.01)
            await writing

        await phase(paused=False)
        await phase(paused=True)
        await phase(paused=False)

        async def all_seen() -> bool:
            nonlocal cursor
            cursor = await _follow(pages, cursor, seen)
            return set(written) <= set(seen)

        await eventually(all_seen, "the follower to see every event")
    assert seen == sorted(set(seen))  # each once, in id order
    assert seen[-len(written) :] == sorted(written)  # after the task's own, every one written
    assert len(seen) - len(written) == 1  # the task's own event (created)
    assert spy.servers("event_page") == {"standby", "primary"}


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


def test_serving_a_sqlite_database_with_a_replica_is_refused_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli = make_cli(monkeypatch, capsys, tmp_path)
    path = tmp_path / "flightlog.db"
    assert cli("db", "upgrade", "-d", f"sqlite:///{path}")[0] == 0
    replica = "postgresql://postgres:secret@127.0.0.1:1/flightlog"
    code, out, err = cli("serve", "-d", f"sqlite:///{path}", "--replica-url", replica)
    assert code == 1
    assert "Read replicas need PostgreSQL" in one_sentence(err)
    assert "secret" not in out + err
