"""Run Flightlog's migrations from code: the CLI, the Store and the tests use this.

It builds the Alembic configuration in memory from the package's own files,
so it works after ``pip install`` with no ``alembic.ini`` in sight.

Opening a database is frequent and concurrent (every ``open_store``, every
API worker), upgrading it is rare. So the revision is read with one plain
query and Alembic runs only when the database is behind. Then upgrades are
serialised twice: in the process by a lock, because Alembic's ``context``
and ``op`` are module-global proxies that two concurrent migrations would
share; and across processes by the database itself (a transaction-scoped
advisory lock on PostgreSQL, an exclusive transaction on SQLite). A waiter
re-reads the revision once it holds the lock, finds head, and does nothing.
"""

from __future__ import annotations

import ast
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from flightlog.db.engine import SQLITE_BEGIN_MODE, create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import MigrationError
from flightlog.migrations.filters import NamePatterns, include_name_for, include_object_for
from flightlog.migrations.objects import missing_objects
from flightlog.models import Base
from flightlog.settings import Settings

if TYPE_CHECKING:
    # Alembic (with Mako and Pygments behind it) costs ~0.1 s to import, and
    # opening a database already at head needs none of it, so every function
    # below imports what it uses (issue 13).
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"

#: Held while any Alembic command runs in this process: its ``context``/``op``
#: proxies are module globals, so two migrations at once would read each other's.
_ALEMBIC_LOCK = threading.Lock()
#: ``ast.parse`` from several threads at once can fail in CPython 3.11 ("AST constructor
#: recursion depth mismatch", gh-106905): concurrent opens read the head one at a time.
_HEAD_LOCK = threading.Lock()
#: Key of the PostgreSQL advisory lock that serialises schema changes across
#: processes (advisory locks are per database, so one constant serves all).
PG_MIGRATION_LOCK_KEY = 0x666C_6967_6874_6C67 & 0x7FFF_FFFF_FFFF_FFFF  # "flightlg"

_script_cache: list[ScriptDirectory] = []
_head_cache: list[str] = []


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def script_directory() -> ScriptDirectory:
    """The shipped revisions, loaded once per process (they cannot change while it runs)."""
    from alembic.script import ScriptDirectory

    with _ALEMBIC_LOCK:
        if not _script_cache:
            _script_cache.append(ScriptDirectory.from_config(alembic_config()))
        return _script_cache[0]


def _literal_assignments(source: str, names: tuple[str, ...]) -> dict[str, Any] | None:
    """Module-level literal values of ``names`` in a revision file; None if one is not literal."""
    found: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            target, value = node.targets[0].id, node.value
        else:
            continue
        if target in names and value is not None:
            try:
                found[target] = ast.literal_eval(value)
            except ValueError:
                return None
    return found if set(found) == set(names) else None


def _head_from_sources() -> str | None:
    """The head revision read from the shipped files as text, without importing Alembic.

    Every ``open_store`` asks for the head, and Alembic's ``ScriptDirectory``
    imports Alembic and executes every revision module to answer (~0.1 s), so
    the ``revision``/``down_revision`` literals are parsed instead. Anything
    this simple reading does not fully understand (a non-literal value, a
    merge, several heads) answers None and the caller asks Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        if path.name.startswith(("__init__", ".#")):
            continue
        values = _literal_assignments(
            path.read_text(encoding="utf-8"), ("revision", "down_revision")
        )
        if values is None:
            return None
        revision, down = values["revision"], values["down_revision"]
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def shipped_head() -> str:
    """The newest revision this version of Flightlog ships (cached: files cannot change)."""
    with _HEAD_LOCK:
        if not _head_cache:
            head = _head_from_sources() or script_directory().get_current_head()
            if head is None:  # pragma: no cover - the package always ships revisions
                raise MigrationError("No migrations found in the installed package.")
            _head_cache.append(head)
        return _head_cache[0]


def read_revision(connection: Connection) -> str | None:
    """The revision recorded in the database, by plain SQL: no Alembic machinery involved.

    None when Flightlog was never installed there. A database with two rows
    in the version table (two heads) is not one this Flightlog made.
    """
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(rows) > 1:
        raise MigrationError(
            f"The database records several schema revisions ({', '.join(sorted(rows))}); "
            "it was not migrated by Flightlog alone. Inspect its alembic_version table."
        )
    return str(rows[0]) if rows else None


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
        if self.url.is_memory:
            # Its own engine would be another, empty database; a Store creates the schema
            # of its in-memory database itself when it opens it (flightlog.db.memory).
            raise MigrationError(
                "An in-memory SQLite database is not migrated from outside: open_store() and "
                "open_store_sync() create its schema when they open it."
            )
        # No statement timeout: a migration on a large table may rightly run for minutes,
        # and one cancelled half-way would only have to be run again.
        untimed = self.settings.model_copy(update={"statement_timeout_ms": 0})
        engine = create_sync_engine(untimed, url=self.url, sqlite_foreign_keys=False)
        try:
            yield engine
        except OperationalError as exc:
            raise MigrationError(
                f"Cannot reach the database at {self.url.redacted()}: {exc.orig}. "
                "Check the URL (--database-url or FLIGHTLOG_DATABASE_URL) and that the server runs."
            ) from exc
        finally:
            engine.dispose()

    @contextmanager
    def _exclusive(self) -> Iterator[Connection]:
        """One transaction that no other migration, here or in another process, runs beside.

        On SQLite ``BEGIN EXCLUSIVE`` waits (busy timeout) for other writers and
        keeps them out; on PostgreSQL the advisory lock is released at commit.
        """
        with _ALEMBIC_LOCK, self._engine() as engine, engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_MODE: "EXCLUSIVE"})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY}
                    )
                yield connection

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (nothing, once another opener got there first)."""
        from alembic import command

        with self._exclusive() as connection:
            if revision == "head" and read_revision(connection) == self.head():
                # Another opener got there first. Saying so costs one read; Alembic would
                # load every revision while holding the lock, and with dozens of openers
                # queued behind each other that outlasted SQLite's busy timeout.
                return
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def ensure_head(self) -> None:
        """Bring the database to head; at head already, that costs one read and no Alembic."""
        current = self.current()
        if current != self.head():
            self._refuse_unknown(current)
            self.upgrade("head")

    def require_head(self) -> None:
        """Refuse a database whose schema is not this Flightlog's head, saying what to upgrade."""
        current, head = self.current(), self.head()
        if current == head:
            return
        self._refuse_unknown(current)
        raise MigrationError(
            f"The database at {self.url.redacted()} is at schema {current or 'none'}, "
            f"but this Flightlog needs {head}. Run 'flightlog db upgrade' first "
            "(or open_store(..., upgrade=True))."
        )

    def _refuse_unknown(self, current: str | None) -> None:
        """A revision this Flightlog does not ship was written by a newer one: never touch it."""
        if current is None or any(rev.revision == current for rev in self.history()):
            return
        raise MigrationError(
            f"The database at {self.url.redacted()} is at schema {current}, which this "
            f"Flightlog (schema {self.head()}) does not know: a newer Flightlog migrated it. "
            "Upgrade Flightlog (pip install -U flightlog) to use this database."
        )

    def downgrade(self, revision: str) -> None:
        """Revert migrations down to ``revision``; ``base`` also drops Alembic's version table."""
        from alembic import command

        with self._exclusive() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
            if revision == "base":
                connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))

    def current(self) -> str | None:
        """The revision the database is at, or None when Flightlog was never installed there.

        A plain read: on SQLite it takes no write lock, so busy writers do not
        delay it beyond the busy timeout's ordinary waits.
        """
        with self._engine() as engine, engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_MODE: "DEFERRED"})
            return read_revision(connection)

    def head(self) -> str:
        """The newest revision this version of Flightlog ships (see :func:`shipped_head`)."""
        return shipped_head()

    def history(self) -> list[Revision]:
        """Every revision, newest first."""
        script = script_directory()
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

    def check(self, patterns: NamePatterns | None = None) -> list[Drift]:
        """Differences between the models and the database; empty means no drift.

        A database behind head is drift too: the comparison would otherwise
        report every missing table one by one. Besides Alembic's comparison of
        tables, columns, indexes and constraints, Flightlog's views and triggers
        must be there (and enabled). Tables that are not Flightlog's are left
        alone unless ``patterns`` (default: the settings' ``db_check_include`` /
        ``db_check_exclude``) says otherwise.
        """
        patterns = patterns if patterns is not None else self.settings.db_check_patterns()
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        with self._engine() as engine, engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_MODE: "DEFERRED"})
            current = read_revision(connection)
            head = self.head()
            if current != head:
                return [Drift("revision", f"database is at {current or 'nothing'}, head is {head}")]
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_object": include_object_for(connection.dialect.name, patterns),
                    "include_name": include_name_for(set(Base.metadata.tables), patterns),
                    "target_metadata": Base.metadata,
                },
            )
            with warnings.catch_warnings():
                # An index with a DESC column that SQLite lacks: looked for by name below.
                warnings.filterwarnings("ignore", message="autogenerate skipping metadata-spec")
                diffs = compare_metadata(context, Base.metadata)
            missing = missing_objects(connection, Base.metadata, skip=patterns.excluded)
        return [_describe(diff) for diff in diffs] + [Drift(op, what) for op, what in missing]

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
