"""In-memory SQLite (``sqlite:///:memory:``): one shared connection per Store, schema at open.

An in-memory database lives in one sqlite3 connection and dies with it, so
everything about it follows from that:

* **One connection.** The Store's engine has a ``StaticPool``: every unit of
  work of that Store runs on the same connection, one after another (the
  Stores serialise them: :mod:`flightlog.store.memory_turns`), so
  writes are serialised and a reader waits for the writer too. Another
  engine, another Store, another process sees a different, empty database.
* **Schema at open.** Nothing else can reach the database to migrate it, so
  the Store creates the schema itself. Migrating costs ~0.5 s, so the chain
  is run once per process into a template database, and each new in-memory
  database is a copy of it (sqlite3's online backup, about a millisecond).
* **Lost when closed.** Closing the Store (or leaving ``open_store``) closes
  the connection and the data is gone. Artifact content is kept inline in
  the database, never in the blob directory, so nothing outlives it on disk.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

#: The migrated template each in-memory database starts as (built on first use).
_template: list[sqlite3.Connection] = []
#: Held while the template is built or copied (a backup reads the whole template).
_template_lock = threading.Lock()


def _raw_connection() -> sqlite3.Connection:
    # Flightlog issues BEGIN itself (isolation_level=None); the one connection is used from
    # the event loop's worker thread and from callers' threads, one unit at a time.
    return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)


def _build_template() -> sqlite3.Connection:
    """Run the shipped migrations into a private in-memory database, once per process."""
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from flightlog.migrations.runner import _ALEMBIC_LOCK, alembic_config

    raw = _raw_connection()
    engine = create_engine("sqlite+pysqlite://", creator=lambda: raw, poolclass=StaticPool)
    try:
        with _ALEMBIC_LOCK, engine.connect() as connection:
            # As for a file (Migrator): batch mode rebuilds tables by copy-and-drop.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
    except BaseException:
        raw.close()
        raise
    # The engine is dropped without dispose(): that would close the template's connection.
    return raw


def new_memory_connection() -> sqlite3.Connection:
    """A new in-memory database holding Flightlog's schema at head (and nothing else)."""
    with _template_lock:
        if not _template:
            _template.append(_build_template())
        raw = _raw_connection()
        try:
            _template[0].backup(raw)
        except BaseException:
            raw.close()
            raise
        return raw


async def new_memory_aiosqlite() -> Any:
    """The same, as an aiosqlite connection (its thread opens it and copies the template)."""
    import aiosqlite

    connection = aiosqlite.Connection(new_memory_connection, iter_chunk_size=64)
    return await connection
