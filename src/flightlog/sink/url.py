"""``FLIGHTLOG_SINK_URL``: which columnar store the sink writes to, parsed once.

Two spellings, one per backend:

* ``chdb:///absolute/dir`` or ``chdb://relative/dir``: ClickHouse in this process
  (chdb-core) on a data directory. One process owns a directory at a time.
* ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` for TLS,
  port 8443 by default): a ClickHouse server over HTTP (clickhouse-connect).

``?database=name`` picks the database inside the store (default ``flightlog``);
on a server the path says the same. Parsing imports neither backend, so settings
can be checked by every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from flightlog.errors import ConfigurationError

DEFAULT_DATABASE = "flightlog"
SinkKind = Literal["chdb", "clickhouse"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_FORMS = (
    "chdb:///absolute/dir, chdb://relative/dir or clickhouse://user:password@host:8123/database"
)


@dataclass(frozen=True)
class SinkUrl:
    """Where the sink's tables live. ``password`` never appears in :meth:`redacted`."""

    kind: SinkKind
    database: str = DEFAULT_DATABASE
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False

    @classmethod
    def parse(cls, text: str) -> SinkUrl:
        """The URL as written in ``FLIGHTLOG_SINK_URL``; a bad one is ConfigurationError."""
        value = text.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("chdb", "clickhouse", "clickhouses"):
            raise ConfigurationError(
                f"FLIGHTLOG_SINK_URL must look like {_FORMS}; fix it or unset it."
            )
        rest, _, query = rest.partition("?")
        options = parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(options) - {"database"})
        if unknown:
            raise ConfigurationError(
                f"FLIGHTLOG_SINK_URL has a parameter the sink does not know ({', '.join(unknown)});"
                " only ?database=name is read: remove the others."
            )
        database = (options.get("database") or [DEFAULT_DATABASE])[-1]
        if scheme == "chdb":
            if not rest:
                raise ConfigurationError(
                    "FLIGHTLOG_SINK_URL names no directory: write chdb:///absolute/dir "
                    "or chdb://relative/dir."
                )
            path = Path(unquote(rest)).expanduser().resolve()
            if path == Path(path.anchor):  # chdb:/// would spread its files over the root
                raise ConfigurationError(
                    f"FLIGHTLOG_SINK_URL names no directory but the filesystem root ({path}): "
                    "write chdb:///absolute/dir or chdb://relative/dir."
                )
            return cls("chdb", _database(database), path=path)
        parts = urlsplit(f"http://{rest}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1:
            raise ConfigurationError(
                f"FLIGHTLOG_SINK_URL needs a host and a valid port, like {_FORMS}; fix it."
            )
        secure = scheme == "clickhouses"
        named = unquote(parts.path.strip("/")) or database
        if "database" in options and named != database:
            raise ConfigurationError(
                f"FLIGHTLOG_SINK_URL names two databases ({named!r} in its path, {database!r} in "
                "?database=): keep one of them."
            )
        return cls(
            "clickhouse",
            _database(named),
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            secure=secure,
        )

    def redacted(self) -> str:
        """The URL without its password, for messages and logs."""
        if self.kind == "chdb":
            return f"chdb://{self.path}?database={self.database}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


def _database(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"The sink database name {name!r} is not a plain identifier (letters, digits, "
            "underscore; not starting with a digit); pick one such name in FLIGHTLOG_SINK_URL."
        )
    return name
