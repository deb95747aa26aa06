"""What the tracing tests share: a real ``flightlog serve``, databases of their own, row readers.

The tracer commits for real (it cannot run inside a test's rolled-back
transaction: it has its own thread, loop and engine), so its tests get
databases of their own rather than the session's shared ones.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from flightlog import open_store
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import AgentRun, Artifact, Event, MetricPoint, Task, TaskRun
from flightlog.settings import Settings
from flightlog.tracing import Tracer, TracerConfig
from head_template import copy_of_head
from pg_cluster import free_port
from waiting import wait_until

if TYPE_CHECKING:
    from postgres_server import PostgresServer

STARTUP_SECONDS = 60.0
#: Batches small and due soon, so that tests see several batches and never wait long.
FAST = TracerConfig(flush_interval=0.05, retry_initial_delay=0.05, retry_max_delay=0.5)


def _environment() -> dict[str, str]:
    """The parent's environment without FLIGHTLOG_* (the server is told its database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
    env["FLIGHTLOG_API_KEY_CACHE_SECONDS"] = "0"
    return env


class Served:
    """``flightlog serve`` in a child process, on ``port`` (a free one by default)."""

    def __init__(self, url: str, log: Path, *, port: int | None = None) -> None:
        self.url = url
        self.port = port or free_port()
        self.log = log
        self.base = f"http://127.0.0.1:{self.port}"
        self._log_file = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flightlog", "serve", "--port", str(self.port), "-d", url],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=_environment(),
        )
        wait_until(self.answers, STARTUP_SECONDS, "flightlog serve to listen")

    def answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.base}/api/v1/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log_file.close()

    def kill(self) -> None:
        """Gone at once, connections cut: what a crashed server looks like to a client."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._log_file.close()


def make_api_key(url: str, settings: Settings) -> str:
    async def create() -> str:
        async with open_store(url, settings=settings) as store:
            return (await store.api_keys.create(f"tracing {uuid.uuid4().hex[:6]}")).key

    return asyncio.run(create())


def new_database(
    dialect: str, tmp_path: Path, server: PostgresServer | None, settings: Settings
) -> DatabaseUrl:
    """An empty database of the dialect at head (a copy of a migrated template)."""
    if dialect != "sqlite" and server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    target = tmp_path / f"tracing-{uuid.uuid4().hex[:8]}.db"
    return copy_of_head(dialect, target, server, settings, prefix="flightlog_tracing")


def url_text(url: DatabaseUrl) -> str:
    return url.url.render_as_string(hide_password=False)


@dataclass
class Target:
    """Where a test's tracers write (embedded or over HTTP) and how to read what arrived."""

    face: str
    dialect: str
    url: DatabaseUrl
    settings: Settings
    engine: Engine
    server: Served | None
    api_key: str | None
    made: list[Tracer]

    def tracer(self, config: TracerConfig = FAST) -> Tracer:
        if self.face == "http":
            assert self.server is not None
            assert self.api_key is not None
            tracer = Tracer.remote(self.server.base, api_key=self.api_key, config=config)
        else:
            tracer = Tracer.embedded(url_text(self.url), settings=self.settings, config=config)
        self.made.append(tracer)
        return tracer

    def rows(self) -> Rows:
        return Rows(self.engine)


class Rows:
    """Reads what a tracer wrote, in a fresh session each call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _all(self, stmt: Any) -> list[Any]:
        with Session(self.engine) as session:
            return list(session.scalars(stmt).all())

    def run(self, run_id: uuid.UUID) -> TaskRun:
        with Session(self.engine) as session:
            found = session.get(TaskRun, run_id)
            assert found is not None, f"run {run_id} is not in the database"
            return found

    def task(self, task_id: uuid.UUID) -> Task:
        with Session(self.engine) as session:
            found = session.get(Task, task_id)
            assert found is not None
            return found

    def agent_runs(self, run_id: uuid.UUID) -> list[AgentRun]:
        stmt = select(AgentRun).where(AgentRun.run_id == run_id)
        return self._all(stmt.order_by(AgentRun.started_at, AgentRun.id))

    def events(self, run_id: uuid.UUID, *types: str) -> list[Event]:
        stmt = select(Event).where(Event.run_id == run_id)
        if types:
            stmt = stmt.where(Event.event_type.in_(types))
        return self._all(stmt.order_by(Event.id))

    def metrics(self, run_id: uuid.UUID) -> list[MetricPoint]:
        return self._all(select(MetricPoint).where(MetricPoint.run_id == run_id))

    def artifacts(self, run_id: uuid.UUID) -> list[Artifact]:
        return self._all(select(Artifact).where(Artifact.run_id == run_id))

    def count(self, sql: str, **params: object) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql), params).scalar_one())


def by_name(agent_runs: list[AgentRun]) -> dict[str, AgentRun]:
    return {a.agent_name: a for a in agent_runs}


@dataclass
class Databases:
    """One migrated database per dialect for a test module, with its server started lazily."""

    tmp: Path
    postgres: PostgresServer | None
    settings: Settings
    urls: dict[str, DatabaseUrl]
    engines: dict[str, Engine]
    servers: dict[str, tuple[Served, str]]

    def url(self, dialect: str) -> DatabaseUrl:
        if dialect not in self.urls:
            self.urls[dialect] = new_database(dialect, self.tmp, self.postgres, self.settings)
        return self.urls[dialect]

    def engine(self, dialect: str) -> Engine:
        if dialect not in self.engines:
            self.engines[dialect] = create_sync_engine(self.settings, url=self.url(dialect))
        return self.engines[dialect]

    def server(self, dialect: str) -> tuple[Served, str]:
        if dialect not in self.servers:
            url = url_text(self.url(dialect))
            key = make_api_key(url, self.settings)
            self.servers[dialect] = (Served(url, self.tmp / f"serve-{dialect}.log"), key)
        return self.servers[dialect]

    def close(self) -> None:
        for served, _key in self.servers.values():
            served.stop()
        for engine in self.engines.values():
            engine.dispose()
        if self.postgres is not None and "postgresql" in self.urls:
            self.postgres.drop_database(self.urls["postgresql"])


def databases(
    tmp: Path, postgres: PostgresServer | None, settings: Settings
) -> Iterator[Databases]:
    """Generator for a module-scoped fixture."""
    own = Databases(tmp, postgres, settings, {}, {}, {})
    try:
        yield own
    finally:
        own.close()


def target(face: str, dialect: str, own: Databases, made: list[Tracer]) -> Target:
    server, key = own.server(dialect) if face == "http" else (None, None)
    return Target(
        face, dialect, own.url(dialect), own.settings, own.engine(dialect), server, key, made
    )


def close_all(made: list[Tracer]) -> None:
    for tracer in made:
        tracer.close(timeout=30)
