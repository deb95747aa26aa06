"""Turn the URL a user writes into the driver-qualified URLs SQLAlchemy needs.

Users write ``postgresql://...`` or ``sqlite:///...``; which driver serves
async (asyncpg, aiosqlite) or sync (psycopg 3, sqlite3) access is Flightlog's
decision, not theirs, so a driver they name is replaced rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from flightlog.errors import ConfigurationError

Dialect = Literal["sqlite", "postgresql"]

_ASYNC_DRIVERS: dict[str, str] = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_SYNC_DRIVERS: dict[str, str] = {"sqlite": "pysqlite", "postgresql": "psycopg"}
_BACKEND_ALIASES: dict[str, Dialect] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}


@dataclass(frozen=True)
class DatabaseUrl:
    """A validated database location with its dialect."""

    url: URL
    dialect: Dialect

    @classmethod
    def parse(cls, raw: str | URL) -> DatabaseUrl:
        """Parse and validate; raise :class:`ConfigurationError` on anything unusable."""
        try:
            url = make_url(raw)
        except ArgumentError as exc:
            raise ConfigurationError(
                f"Cannot parse database URL {_redact(str(raw))!r}: expected "
                "'sqlite:///path/to/file.db' or 'postgresql://user@host:5432/dbname'."
            ) from exc
        backend = url.get_backend_name()
        dialect = _BACKEND_ALIASES.get(backend)
        if dialect is None:
            raise ConfigurationError(
                f"Unsupported database {backend!r} in {_redact(str(raw))!r}: "
                "Flightlog runs on SQLite and PostgreSQL."
            )
        url = url.set(drivername=dialect)
        if dialect == "sqlite" and url.database in (None, "", ":memory:"):
            raise ConfigurationError(
                "In-memory SQLite cannot be shared between connections; "
                "give a file path such as 'sqlite:///./flightlog.db'."
            )
        return cls(url=url, dialect=dialect)

    @property
    def async_url(self) -> URL:
        """The URL with Flightlog's async driver."""
        return self.url.set(drivername=f"{self.dialect}+{_ASYNC_DRIVERS[self.dialect]}")

    @property
    def sync_url(self) -> URL:
        """The URL with Flightlog's sync driver (migrations, COPY, CLI)."""
        return self.url.set(drivername=f"{self.dialect}+{_SYNC_DRIVERS[self.dialect]}")

    def redacted(self) -> str:
        """The URL as it may be shown to a person: the password hidden."""
        return self.url.render_as_string(hide_password=True)


def _redact(raw: str) -> str:
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"
