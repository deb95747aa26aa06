"""Throwaway databases: a fresh SQLite file in a temp dir, a fresh PostgreSQL database.

Both are migrated to head with Flightlog's own migrations and removed at the
end, whatever happens in between. The raw connections here are configured
like Flightlog's engines (same pragmas on SQLite), so the ceilings run on
the same tables under the same settings.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psycopg

from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings

DEFAULT_POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_server_url() -> str:
    return os.environ.get(
        "FLIGHTLOG_BENCH_POSTGRES_URL",
        os.environ.get("FLIGHTLOG_TEST_POSTGRES_URL", DEFAULT_POSTGRES_SERVER),
    )


@dataclass(frozen=True)
class Database:
    """One throwaway database and how to reach it without Flightlog."""

    dialect: str
    url: DatabaseUrl
    settings: Settings

    @property
    def conninfo(self) -> str:
        """libpq connection string (PostgreSQL) or file path (SQLite)."""
        if self.dialect == "postgresql":
            return self.url.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return str(self.url.url.database)

    def sqlite(self) -> sqlite3.Connection:
        """A raw sqlite3 connection with the pragmas Flightlog's engine sets."""
        conn = sqlite3.connect(self.conninfo, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={self.settings.sqlite_busy_timeout_ms}")
        conn.execute(f"PRAGMA cache_size=-{self.settings.sqlite_cache_mib * 1024}")
        return conn

    async def asyncpg(self) -> Any:
        return await asyncpg.connect(self.conninfo)

    def psycopg(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo)


def _admin(server: str) -> str:
    return (
        DatabaseUrl.parse(server)
        .url.set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


@asynccontextmanager
async def throwaway(dialect: str) -> AsyncIterator[Database]:
    """A migrated, empty database of ``dialect`` that is deleted afterwards."""
    if dialect == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="flightlog-bench-"))
        url = DatabaseUrl.parse(f"sqlite:///{folder / 'bench.db'}")
        settings = Settings(database_url=str(url.url), blob_dir=folder / "blobs")
        try:
            await asyncio.to_thread(Migrator(settings, url).upgrade, "head")
            yield Database("sqlite", url, settings)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    server = postgres_server_url()
    name = f"flightlog_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = DatabaseUrl.parse(DatabaseUrl.parse(server).url.set(database=name))
    settings = Settings(
        database_url=url.url.render_as_string(hide_password=False),
        blob_dir=Path(tempfile.gettempdir()) / name,
    )
    try:
        await asyncio.to_thread(Migrator(settings, url).upgrade, "head")
        yield Database("postgresql", url, settings)
    finally:
        with psycopg.connect(_admin(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_version(db: Database) -> str:
    if db.dialect == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with db.psycopg() as conn:
        row = conn.execute("SELECT version()").fetchone()
    return str(row[0]).split(" on ")[0] if row else "PostgreSQL ?"
