"""Turn the URL a user writes into the driver-qualified URLs SQLAlchemy needs.

Users write ``postgresql://...`` or ``sqlite:///...``; which driver serves
async (asyncpg, aiosqlite) or sync (psycopg 3, sqlite3) access is Flightlog's
decision, not theirs, so a driver they name is replaced rather than trusted.

TLS is configured with libpq's own parameters (``sslmode``, ``sslrootcert``,
``sslcert``, ``sslkey``, ``sslpassword``, ``sslcrl``) in the URL, so one URL
works for every command and the Store: psycopg passes them to libpq as they
are, and asyncpg, which refuses them as keyword arguments, reads the very
same parameters from a DSN, where it implements libpq's meaning of each mode.
``?ssl=true`` (the asyncpg and JDBC spelling) is accepted as ``sslmode=require``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlencode

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

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[str, ...] = get_args(SslMode)
#: libpq's TLS parameters, in the order a person would write them.
SSL_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl")
_SSL_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
#: Query parameters whose values are secrets (libpq accepts ``?password=`` too).
_SECRET_QUERY_PARAMETERS = ("password", "sslpassword")
#: ``?ssl=…`` as asyncpg's and JDBC's users write it, in libpq's terms.
_SSL_FLAG_ALIASES = {
    "true": "require",
    "1": "require",
    "on": "require",
    "yes": "require",
    "false": "disable",
    "0": "disable",
    "off": "disable",
    "no": "disable",
}


def _memory_uri(url: URL) -> bool:
    """``sqlite:///file::memory:?uri=true`` or ``sqlite:///file:x?mode=memory&uri=true``."""
    if str(url.query.get("uri", "")).lower() not in ("true", "1"):
        return False
    database = url.database or ""
    return database.startswith("file::memory:") or url.query.get("mode") == "memory"


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
            # One database per Store, on one connection: see flightlog.db.memory.
            if url.query:
                raise ConfigurationError(
                    f"An in-memory SQLite URL takes no parameters: write 'sqlite:///:memory:' "
                    f"instead of {_redact(str(raw))!r}."
                )
            return cls(url=url.set(database=":memory:"), dialect="sqlite")
        if dialect == "sqlite" and _memory_uri(url):
            # SQLite's URI spelling would open a new, empty database on each connection.
            raise ConfigurationError(
                f"{_redact(str(raw))!r} is an in-memory SQLite URI: write 'sqlite:///:memory:' "
                "for an in-memory database (one per Store), or give a database file."
            )
        url = _normalise_tls(url, dialect, raw)
        return cls(url=url, dialect=dialect)

    def with_tls_defaults(self, defaults: Mapping[str, str | None]) -> DatabaseUrl:
        """The URL with TLS parameters from settings added where the URL itself says nothing.

        What the URL says wins: it is the more specific of the two places.
        """
        missing = {
            name: str(value)
            for name, value in defaults.items()
            if value is not None and name not in self.url.query
        }
        if not missing:
            return self
        return DatabaseUrl.parse(self.url.update_query_dict(missing))

    @property
    def is_memory(self) -> bool:
        """An in-memory SQLite database (``sqlite:///:memory:``): one per Store, lost at close."""
        return self.dialect == "sqlite" and self.url.database == ":memory:"

    @property
    def tls_parameters(self) -> dict[str, str]:
        """The libpq TLS parameters the URL carries."""
        query = self.url.query
        return {name: _single(query[name]) for name in SSL_PARAMETERS if name in query}

    @property
    def async_url(self) -> URL:
        """The URL with Flightlog's async driver, without the TLS parameters asyncpg refuses."""
        url = self.url.set(drivername=f"{self.dialect}+{_ASYNC_DRIVERS[self.dialect]}")
        return url.difference_update_query(SSL_PARAMETERS) if self.tls_parameters else url

    def async_connect_args(self) -> dict[str, Any]:
        """Keyword arguments for the async driver: asyncpg reads libpq's TLS options from a DSN.

        Host, user and database still come from the URL's own keyword
        arguments, which asyncpg prefers over the DSN; the DSN adds only TLS.
        """
        tls = self.tls_parameters
        return {"dsn": f"postgresql://?{urlencode(tls)}"} if tls else {}

    @property
    def sync_url(self) -> URL:
        """The URL with Flightlog's sync driver (migrations, COPY, CLI)."""
        return self.url.set(drivername=f"{self.dialect}+{_SYNC_DRIVERS[self.dialect]}")

    def redacted(self) -> str:
        """The URL as it may be shown to a person: the passwords hidden."""
        return _hide_secrets(self.url)


def _single(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else value[-1]


def _normalise_tls(url: URL, dialect: Dialect, raw: str | URL) -> URL:
    """``ssl=`` folded into ``sslmode``; a mode libpq does not know refused at once."""
    query = url.query
    given = [name for name in ("ssl", *SSL_PARAMETERS) if name in query]
    if not given:
        return url
    shown = _redact(str(raw))
    if dialect == "sqlite":
        raise ConfigurationError(f"SQLite has no TLS: remove {', '.join(given)} from {shown!r}.")
    if "ssl" in query:
        flag = _single(query["ssl"]).lower()
        mode = _SSL_FLAG_ALIASES.get(flag, flag)
        if "sslmode" in query and _single(query["sslmode"]) != mode:
            raise ConfigurationError(
                f"{shown!r} gives both ssl={flag} and sslmode={_single(query['sslmode'])}: "
                "keep one of them."
            )
        url = url.difference_update_query(["ssl"]).update_query_dict({"sslmode": mode})
    mode = _single(url.query.get("sslmode", "prefer"))
    if mode not in SSL_MODES:
        raise ConfigurationError(
            f"Unknown sslmode {mode!r} in {shown!r}: use one of {', '.join(SSL_MODES)}."
        )
    for name in _SSL_FILES:
        value = url.query.get(name)
        if value is None or _single(value) == "system":
            continue
        path = Path(_single(value)).expanduser()
        if not path.is_file():
            # psycopg would ignore a missing client certificate, asyncpg would fail without
            # naming it: one URL must mean one thing to both, so it is refused here.
            raise ConfigurationError(
                f"The {name} file {str(path)!r} given for {shown!r} does not exist: "
                "give the path of an existing file, or leave the parameter out."
            )
    return url


def _hide_secrets(url: URL) -> str:
    hidden = {name: "REDACTED" for name in _SECRET_QUERY_PARAMETERS if name in url.query}
    if hidden:
        url = url.update_query_dict(hidden)
    return url.render_as_string(hide_password=True)


def _redact(raw: str) -> str:
    try:
        return _hide_secrets(make_url(raw))
    except ArgumentError:
        return "<unparseable>"
