"""Engine and session factories, tuned per dialect.

SQLite is made safe for several writers: WAL so readers never block the
writer, a long busy timeout, and ``BEGIN IMMEDIATE`` so a transaction takes
the write lock when it starts instead of failing with "database is locked"
when it first writes after reading. PostgreSQL gets a checked pool sized from
settings, an ``application_name`` so operators can see Flightlog in
``pg_stat_activity``, and ``statement_timeout`` when
``FLIGHTLOG_STATEMENT_TIMEOUT_MS`` sets one (see :class:`~flightlog.settings.Settings`).
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from flightlog.db.memory import new_memory_aiosqlite, new_memory_connection
from flightlog.db.pool_ping import ping_when_stale
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import ConfigurationError
from flightlog.settings import Settings

#: Execution option a read-only unit of work sets to take SQLite's lock lazily.
SQLITE_BEGIN_MODE = "flightlog_sqlite_begin"
#: Execution option of an engine whose write transactions wait for another process's
#: write lock in short, even steps (see :func:`_begin_immediate_waiting`).
SQLITE_WAIT_IN_STEPS = "flightlog_sqlite_wait_in_steps"
#: The step: a waiter notices a released lock within half a millisecond.
_WAIT_STEP_SECONDS = 0.0005
#: SQLITE_BUSY and SQLITE_LOCKED (primary result codes): another connection's lock.
_BUSY_OR_LOCKED = frozenset({5, 6})

#: Execution option of an engine whose connections plan every prepared statement
#: generically (``plan_cache_mode = force_generic_plan``): the paging pool of
#: :mod:`flightlog.db.paging_pool`. A statement run there needs no ``SET LOCAL``.
GENERIC_PLANS = "flightlog_generic_plans"

#: JSON columns refuse NaN and infinities: they are not JSON, PostgreSQL's jsonb
#: rejects them, and SQLite would store text no other reader can parse.
strict_json = functools.partial(json.dumps, allow_nan=False)


def _sqlite_connect_args(settings: Settings) -> dict[str, Any]:
    return {
        # sqlite3's own busy handler, in seconds; PRAGMA busy_timeout below is the same.
        "timeout": settings.sqlite_busy_timeout_ms / 1000,
        # We issue BEGIN ourselves; the driver must not open transactions behind our back.
        "isolation_level": None,
        "check_same_thread": False,
    }


def _install_sqlite_tuning(engine: Engine, settings: Settings, *, foreign_keys: bool) -> None:
    busy_ms = settings.sqlite_busy_timeout_ms
    cache_kib = settings.sqlite_cache_mib * 1024
    fk_pragma = "ON" if foreign_keys else "OFF"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA foreign_keys={fk_pragma}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            # A negative size is in KiB rather than pages.
            cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        mode = options.get(SQLITE_BEGIN_MODE, "IMMEDIATE")
        if mode == "IMMEDIATE" and options.get(SQLITE_WAIT_IN_STEPS):
            _begin_immediate_waiting(conn, busy_ms)
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")


def _begin_immediate_waiting(conn: Connection, busy_ms: int) -> None:
    """``BEGIN IMMEDIATE``, waiting for another process's write lock in 0.5 ms steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… up to 100 ms
    between tries, so a process waiting for another's write lock wakes on
    average many milliseconds after it was released: two server processes on
    one SQLite file wrote less than one alone (OTLP ingest, issue 12). Trying
    every half millisecond instead costs a few microseconds per try, on the
    writer thread that would be waiting anyway. Past the busy timeout the last
    try goes through SQLAlchemy, so the error is the usual "database is
    locked" (``DatabaseUnavailable`` to callers).
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    deadline = time.monotonic() + busy_ms / 1000
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        while time.monotonic() < deadline:
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                code = getattr(exc, "sqlite_errorcode", None)
                if (code & 0xFF if code is not None else 0) not in _BUSY_OR_LOCKED:
                    break  # not a lock: the try below raises it, wrapped by SQLAlchemy
                time.sleep(_WAIT_STEP_SECONDS)
            else:
                return
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # at once (busy_timeout is still 0)
    finally:
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        finally:
            cursor.close()


def _ensure_sqlite_directory(url: DatabaseUrl) -> None:
    database = url.url.database
    if not database:
        return
    directory = Path(database).expanduser().resolve().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot create the directory {directory} for the SQLite database "
            f"({exc.strerror or exc}); choose a database path whose directory can be created."
        ) from exc


def _psycopg_connect_args(settings: Settings, url: DatabaseUrl) -> dict[str, Any]:
    """application_name, and the statement timeout as a startup option (no extra round trip).

    libpq's ``options`` from the URL itself (``?options=-c%20search_path=x``) are
    kept: the timeout is appended to them rather than replacing them.
    """
    args: dict[str, Any] = {"application_name": settings.application_name}
    if settings.statement_timeout_ms:
        own = url.url.query.get("options") or ""
        own = own if isinstance(own, str) else " ".join(own)
        args["options"] = f"{own} -c statement_timeout={settings.statement_timeout_ms}".strip()
    return args


def _asyncpg_server_settings(settings: Settings) -> dict[str, str]:
    server_settings = {"application_name": settings.application_name}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    return server_settings


def _postgres_kwargs(settings: Settings) -> dict[str, Any]:
    return {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout_seconds,
    }


def paging_pool_size(settings: Settings) -> tuple[int, int]:
    """``(pool_size, max_overflow)`` of a paging pool: a quarter of the main pool's.

    It serves event pages only, each one short statement.
    """
    return max(1, settings.pool_size // 4), settings.max_overflow // 4


def pool_has_room(engine: Engine) -> bool:
    """Whether a connection can be had without waiting for a caller to return one."""
    pool: Any = engine.pool
    checkedout, size = getattr(pool, "checkedout", None), getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", None)
    if not callable(checkedout) or not callable(size) or not isinstance(overflow, int):
        return True
    return overflow < 0 or int(checkedout()) < int(size()) + overflow


def create_sync_engine(
    settings: Settings,
    *,
    url: DatabaseUrl | None = None,
    sqlite_foreign_keys: bool = True,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> Engine:
    """A sync engine (psycopg 3 or sqlite3): migrations, bulk COPY, the CLI.

    Migrations pass ``sqlite_foreign_keys=False``: SQLite's batch mode
    rebuilds a table by copy-and-drop, and with foreign keys on, dropping
    the old table would cascade-delete every child row. ``connect_timeout``
    (PostgreSQL; seconds, libpq rounds it to a whole number, at least 2) is
    for servers whose absence must not hold a caller up, read replicas;
    ``read_timeout`` (seconds) drops a connection whose server stops acknowledging
    what is sent to it, or stops answering TCP keepalives, for the same servers.
    """
    url = url or settings.database
    if url.is_memory:
        # One connection for the engine's lifetime: it is the database (flightlog.db.memory).
        engine = create_engine(
            "sqlite+pysqlite://",
            creator=new_memory_connection,
            poolclass=StaticPool,
            echo=settings.echo_sql,
            json_serializer=strict_json,
        )
        _install_sqlite_tuning(engine, settings, foreign_keys=sqlite_foreign_keys)
        return engine
    if url.dialect == "sqlite":
        _ensure_sqlite_directory(url)
        engine = create_engine(
            url.sync_url,
            connect_args=_sqlite_connect_args(settings),
            echo=settings.echo_sql,
            json_serializer=strict_json,
        )
        _install_sqlite_tuning(engine, settings, foreign_keys=sqlite_foreign_keys)
        return engine
    connect_args = _psycopg_connect_args(settings, url)
    if connect_timeout is not None:
        connect_args["connect_timeout"] = max(2, math.ceil(connect_timeout))
    if read_timeout is not None:
        # libpq has no timeout for an answer itself: a host gone quiet is found by TCP.
        probe = max(1, math.ceil(read_timeout / 4))
        connect_args.update(
            keepalives=1,
            keepalives_idle=probe,
            keepalives_interval=probe,
            keepalives_count=3,
            tcp_user_timeout=math.ceil(read_timeout * 1000),
        )
    engine = create_engine(
        url.sync_url,
        connect_args=connect_args,
        echo=settings.echo_sql,
        json_serializer=strict_json,
        **_postgres_kwargs(settings),
    )
    ping_when_stale(engine, settings.pool_ping_after_idle_seconds)
    return engine


def create_async_db_engine(
    settings: Settings,
    *,
    url: DatabaseUrl | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    generic_plans: bool = False,
) -> AsyncEngine:
    """An async engine (asyncpg or aiosqlite): the service layer's engine.

    ``connect_timeout`` (PostgreSQL, seconds) as for :func:`create_sync_engine`;
    ``read_timeout`` (PostgreSQL, seconds) is asyncpg's ``command_timeout``: a
    statement unanswered for that long raises ``TimeoutError`` (read replicas,
    whose reads then go to the primary).
    ``generic_plans`` (PostgreSQL) makes a paging pool (:mod:`flightlog.db.paging_pool`):
    smaller, its connections planning generically, the engine marked :data:`GENERIC_PLANS`.
    """
    url = url or settings.database
    if url.is_memory:
        engine = create_async_engine(
            "sqlite+aiosqlite://",
            async_creator=new_memory_aiosqlite,
            poolclass=StaticPool,
            echo=settings.echo_sql,
            json_serializer=strict_json,
        )
        _install_sqlite_tuning(engine.sync_engine, settings, foreign_keys=True)
        return engine
    if url.dialect == "sqlite":
        _ensure_sqlite_directory(url)
        engine = create_async_engine(
            url.async_url,
            connect_args=_sqlite_connect_args(settings),
            echo=settings.echo_sql,
            json_serializer=strict_json,
        )
        _install_sqlite_tuning(engine.sync_engine, settings, foreign_keys=True)
        return engine
    server_settings = _asyncpg_server_settings(settings)
    pool = _postgres_kwargs(settings)
    if generic_plans:
        server_settings["plan_cache_mode"] = "force_generic_plan"
        pool["pool_size"], pool["max_overflow"] = paging_pool_size(settings)
    engine = create_async_engine(
        url.async_url,
        connect_args={
            "server_settings": server_settings,
            **url.async_connect_args(),
            **({} if connect_timeout is None else {"timeout": connect_timeout}),
            **({} if read_timeout is None else {"command_timeout": read_timeout}),
        },
        echo=settings.echo_sql,
        json_serializer=strict_json,
        execution_options={GENERIC_PLANS: True} if generic_plans else {},
        **pool,
    )
    ping_when_stale(engine.sync_engine, settings.pool_ping_after_idle_seconds)
    return engine


def sync_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (results outlive the transaction)."""
    return sessionmaker(engine, expire_on_commit=False)


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Async sessions that keep loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
