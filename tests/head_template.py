"""Empty databases at head, copied from one migrated template per dialect per test process.

Migrating an empty database costs 1-2 s on PostgreSQL (more on a busy machine)
and ~0.5 s on SQLite; copying one already at head costs a fraction of that
(``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a file copy on SQLite). Tests
that need a database at head with nothing in it, and do not test the migration
itself, take a copy: the ``fresh_head_url`` fixture and ``tracing_support``'s
``new_database``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from postgres_server import PostgresServer

#: Per dialect, this process's untouched database at head (made on first use).
_TEMPLATES: dict[str, DatabaseUrl] = {}


def _template(dialect: str, server: PostgresServer | None, settings: Settings) -> DatabaseUrl:
    template = _TEMPLATES.get(dialect)
    if template is None:
        if dialect == "sqlite":
            directory = tempfile.mkdtemp(prefix="flightlog-head-")
            atexit.register(shutil.rmtree, directory, True)
            template = DatabaseUrl.parse(f"sqlite:///{Path(directory) / 'head.db'}")
        else:
            assert server is not None, "a PostgreSQL template needs the test server"
            template = server.create_database("flightlog_head")
        Migrator(settings, template).upgrade("head")
        _TEMPLATES[dialect] = template
    return template


def copy_of_head(
    dialect: str,
    target: Path,
    server: PostgresServer | None,
    settings: Settings,
    prefix: str = "flightlog_fresh",
) -> DatabaseUrl:
    """A new database at head with no rows: the SQLite file ``target``, or a PostgreSQL
    database named ``prefix``_<random> (the caller drops it)."""
    template = _template(dialect, server, settings)
    if dialect == "sqlite":
        source = Path(str(template.url.database))
        assert not Path(f"{source}-wal").exists(), "the head template was left open"
        shutil.copyfile(source, target)
        return DatabaseUrl.parse(f"sqlite:///{target}")
    assert server is not None, "a PostgreSQL copy needs the test server"
    return server.create_database(prefix, template=template.url.database)
