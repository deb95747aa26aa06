"""The dashboards browser tests drive: a real ``flightlog serve`` on a fresh database of
one dialect, seeded by :func:`dashboard_data.seed`, with a Store on the same database
so a test can change things behind the browser's back (as an agent would).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from dashboard_data import Seeded, seed

from cli_runner import url_of
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from flightlog.store import SyncStore, open_store_sync
from serving import Served, serving


class DatabaseMaker(Protocol):
    """tests/conftest.py's ``postgres_server``: makes and drops databases on the server."""

    def create_database(self, prefix: str = ...) -> DatabaseUrl: ...

    def drop_database(self, url: DatabaseUrl) -> None: ...


@dataclass
class Dashboard:
    """A served dashboard: its address, its database (``store`` writes as the signed-in
    customer) and what was seeded in it."""

    dialect: str
    database_url: str
    served: Served
    store: SyncStore
    seeded: Seeded

    @property
    def base(self) -> str:
        return self.served.base


class Dashboards:
    """The module's servers, each started on its dialect's first test and stopped (its
    database dropped) when the module is done."""

    def __init__(self, directory: Path, postgres_server: DatabaseMaker | None) -> None:
        self._directory = directory
        self._postgres = postgres_server
        self._stack = ExitStack()
        self._started: dict[str, Dashboard] = {}
        self._failed: dict[str, str] = {}

    def get(self, dialect: str) -> Dashboard:
        if dialect in self._failed:
            raise RuntimeError(f"the {dialect} dashboard failed to start in an earlier test: "
                               f"{self._failed[dialect]}")  # fmt: skip
        if dialect not in self._started:
            try:
                self._started[dialect] = self._start(dialect)
            except Exception as exc:
                self._failed[dialect] = f"{type(exc).__name__}: {exc}"
                raise
        return self._started[dialect]

    def _start(self, dialect: str) -> Dashboard:
        if dialect == "postgresql" and self._postgres is None:
            pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
        home = self._directory / dialect
        home.mkdir()
        if self._postgres is not None and dialect == "postgresql":
            created = self._postgres.create_database("flightlog_browser")
            self._stack.callback(self._postgres.drop_database, created)
            url = url_of(created)
        else:
            url = f"sqlite:///{home / 'flightlog.db'}"
        blobs = home / "blobs"
        store = open_store_sync(url, settings=Settings(database_url=url, blob_dir=blobs))
        self._stack.callback(store.close)
        seeded = seed(store)
        served = self._stack.enter_context(
            serving(url, home, env={"FLIGHTLOG_BLOB_DIR": str(blobs)})
        )
        return Dashboard(dialect, url, served, store, seeded)

    def close(self) -> None:
        self._stack.close()
