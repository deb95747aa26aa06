"""Run Flightlog's migrations from code: the CLI, the Store and the tests use this.

It builds the Alembic configuration in memory from the package's own files,
so it works after ``pip install`` with no ``alembic.ini`` in sight.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import MigrationError
from flightlog.migrations.filters import include_name, include_object_for
from flightlog.models import Base
from flightlog.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@dataclass(frozen=True)
class Revision:
    """One step of the chain, as shown by ``flightlog db history``."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool


@dataclass(frozen=True)
class Drift:
    """One difference between the models and the live schema."""

    operation: str
    detail: str


class Migrator:
    """Upgrade, downgrade and inspect one database's schema."""

    def __init__(self, settings: Settings, url: DatabaseUrl | None = None) -> None:
        self.settings = settings
        self.url = url or settings.database

    @contextmanager
    def _engine(self) -> Iterator[Engine]:
        engine = create_sync_engine(self.settings, url=self.url, sqlite_foreign_keys=False)
        try:
            yield engine
        except OperationalError as exc:
            raise MigrationError(
                f"Cannot reach the database at {self.url.redacted()}: {exc.orig}. "
                "Check the URL (--database-url or FLIGHTLOG_DATABASE_URL) and that the server runs."
            ) from exc
        finally:
            engine.dispose()

    def _run(self, fn: Any, *args: Any) -> None:
        with self._engine() as engine, engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            fn(config, *args)

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision``."""
        self._run(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Revert migrations down to ``revision``; ``base`` also drops Alembic's version table."""
        self._run(command.downgrade, revision)
        if revision == "base":
            with self._engine() as engine, engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))

    def current(self) -> str | None:
        """The revision the database is at, or None when Flightlog was never installed there."""
        with self._engine() as engine, engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head(self) -> str:
        """The newest revision this version of Flightlog ships."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package always ships revisions
            raise MigrationError("No migrations found in the installed package.")
        return head

    def history(self) -> list[Revision]:
        """Every revision, newest first."""
        script = ScriptDirectory.from_config(alembic_config())
        heads = set(script.get_heads())
        return [
            Revision(
                revision=rev.revision,
                down_revision=rev.down_revision if isinstance(rev.down_revision, str) else None,
                message=(rev.doc or "").strip().splitlines()[0] if rev.doc else "",
                is_head=rev.revision in heads,
            )
            for rev in script.walk_revisions()
        ]

    def check(self) -> list[Drift]:
        """Differences between the models and the database; empty means no drift.

        A database behind head is drift too: the comparison would otherwise
        report every missing table one by one.
        """
        with self._engine() as engine, engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            head = self.head()
            if current != head:
                return [Drift("revision", f"database is at {current or 'nothing'}, head is {head}")]
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_object": include_object_for(connection.dialect.name),
                    "include_name": include_name,
                    "target_metadata": Base.metadata,
                },
            )
            diffs = compare_metadata(context, Base.metadata)
        return [_describe(diff) for diff in diffs]

    def table_names(self) -> list[str]:
        """Tables present in the database (for reports)."""
        with self._engine() as engine:
            return sorted(inspect(engine).get_table_names())


def _describe(diff: Any) -> Drift:
    if isinstance(diff, list):
        # Column modifications come as a list of tuples for one column.
        parts = [_describe(item).detail for item in diff]
        return Drift("modify", "; ".join(parts))
    operation, *rest = diff
    return Drift(str(operation), " ".join(_short(item) for item in rest))


def _short(item: Any) -> str:
    name = getattr(item, "name", None)
    table = getattr(item, "table", None)
    if name is not None and table is not None and getattr(table, "name", None):
        return f"{table.name}.{name}"
    if name is not None:
        return str(name)
    return repr(item)
