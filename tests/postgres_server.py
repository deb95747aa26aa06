"""The test PostgreSQL server and the dialects every database test runs on.

A module of its own, not conftest.py: tests import these names, and a second
conftest.py (tests/browser/) would shadow a module imported as ``conftest``.
"""

from __future__ import annotations

import os
import uuid

import psycopg

from flightlog.db.urls import DatabaseUrl

DIALECTS = ("sqlite", "postgresql")
DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_server_url() -> str:
    return os.environ.get("FLIGHTLOG_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)


def _postgres_required() -> bool:
    return os.environ.get("FLIGHTLOG_REQUIRE_POSTGRES", "") not in ("", "0", "false")


def _conninfo(url: DatabaseUrl, database: str | None = None) -> str:
    target = url.url.set(drivername="postgresql")
    if database is not None:
        target = target.set(database=database)
    return target.render_as_string(hide_password=False)


class PostgresServer:
    """Creates and drops databases on the test server."""

    def __init__(self, url: DatabaseUrl) -> None:
        self.url = url
        self.created: list[str] = []

    def create_database(
        self, prefix: str = "flightlog_test", *, template: str | None = None
    ) -> DatabaseUrl:
        """A new database, empty or a copy of ``template`` (which must have no connections)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template is not None else ""
        with psycopg.connect(_conninfo(self.url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        self.created.append(name)
        return DatabaseUrl.parse(self.url.url.set(database=name))

    def drop_database(self, url: DatabaseUrl) -> None:
        name = url.url.database
        with psycopg.connect(_conninfo(self.url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)
