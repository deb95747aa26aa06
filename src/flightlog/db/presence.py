"""Whether a database is there at all, asked before anything could create it.

SQLite creates a missing file (and Flightlog its directory) on the first
connection, so a mistyped path would silently become a new, empty database.
Only the commands meant to create one (``db upgrade``, ``demo``, ``seed``,
``import``) and ``open_store(upgrade=True)`` may do that; everything else
asks here first. A PostgreSQL server refuses a database that does not exist
by itself, so only SQLite needs the question.
"""

from __future__ import annotations

from pathlib import Path

from flightlog.db.urls import DatabaseUrl
from flightlog.errors import ConfigurationError, MigrationError

#: What a command or a server that must reach a database on its own is told about one in memory.
MEMORY_REFUSED = (
    "An in-memory SQLite database (sqlite:///:memory:) lives inside the one Store that opened "
    "it and is gone when it closes, so nothing else can reach it: give a database file "
    "(sqlite:///./flightlog.db) or a PostgreSQL URL here, and keep :memory: for "
    "open_store()/open_store_sync() in tests and experiments."
)


def sqlite_file(url: DatabaseUrl) -> Path | None:
    """The file a SQLite URL names (relative to the working directory), or None for PostgreSQL.

    None too for an in-memory database, which has no file.
    """
    if url.dialect != "sqlite" or not url.url.database or url.is_memory:
        return None
    return Path(url.url.database).expanduser()


def require_existing_database(url: DatabaseUrl) -> None:
    """Refuse a SQLite URL whose file does not exist, without creating anything.

    An in-memory database is refused too: whoever asks this (the CLI, a server
    opening its own engine) would meet a new, empty database of its own.
    """
    if url.is_memory:
        raise ConfigurationError(MEMORY_REFUSED)
    path = sqlite_file(url)
    if path is None or path.is_file():
        return
    if path.exists():
        raise ConfigurationError(
            f"{path} is not a database file; check the path in the database URL."
        )
    raise MigrationError(
        f"No Flightlog database at {url.redacted()}; run 'flightlog db upgrade' to create one "
        "there, or check the path."
    )
