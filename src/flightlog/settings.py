"""Runtime configuration, read from the environment only when asked for.

Nothing here runs at import time: callers build a :class:`Settings` (or call
:func:`get_settings`) when they need one, so tests and embedding applications
can point Flightlog at another database without monkeypatching globals.
"""

from __future__ import annotations

import ipaddress
import os
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin
from urllib.parse import unquote

from pydantic import AliasChoices, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from flightlog.db.urls import DatabaseUrl, SslMode
from flightlog.errors import ConfigurationError

if TYPE_CHECKING:
    from flightlog.migrations.filters import NamePatterns

DEFAULT_DATABASE_URL = "sqlite:///./flightlog.db"


#: The most span content (bytes of JSON) ``FLIGHTLOG_OTLP_INLINE_CONTENT_BYTES`` may keep inline.
MAX_OTLP_INLINE_CONTENT_BYTES = 262_144


class Settings(BaseSettings):
    """Every knob Flightlog reads, with the environment variable that sets it.

    Variables use the ``FLIGHTLOG_`` prefix; the database URL also accepts the
    conventional plain ``DATABASE_URL`` so that Flightlog drops into platforms
    (Heroku, Render, Fly) that inject it.
    """

    model_config = SettingsConfigDict(env_prefix="FLIGHTLOG_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("FLIGHTLOG_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="sqlite:///path or postgresql://user@host/db; drivers are chosen by Flightlog.",
    )
    #: TLS to PostgreSQL, in libpq's terms; a parameter in the URL itself wins over these.
    ssl_mode: SslMode | None = Field(default=None, description="libpq sslmode, e.g. verify-full.")
    ssl_root_cert: Path | None = Field(default=None, description="CA bundle (libpq sslrootcert).")
    ssl_cert: Path | None = Field(default=None, description="Client certificate (libpq sslcert).")
    ssl_key: Path | None = Field(default=None, description="Client key (libpq sslkey).")
    #: PostgreSQL connections each process keeps open. Connections beyond it (up to
    #: ``max_overflow`` more) are closed as they come back, so a server whose requests in
    #: flight outnumber it opens and closes a connection for most of them: with 16 clients
    #: and 10 kept, 1.4x fewer requests/s (benchmarks/README.md). 20 kept, 10 more on a
    #: burst: the same 30 at most as before.
    pool_size: int = Field(default=20, ge=1, le=500)
    max_overflow: int = Field(default=10, ge=0, le=1000)
    pool_timeout_seconds: float = Field(default=30.0, gt=0)
    #: A pooled PostgreSQL connection that sat unused longer than this is tested (a round
    #: trip) before it is lent out, as is every connection once the pool saw one fail; one
    #: used more recently is trusted (flightlog.db.pool_ping). 0 tests every checkout.
    pool_ping_after_idle_seconds: float = Field(default=1.0, ge=0, le=3600)
    #: PostgreSQL cancels any statement running longer than this (its ``statement_timeout``,
    #: set on every connection Flightlog opens except migrations'); 0 leaves the server's own
    #: setting alone. A cancelled statement is :class:`~flightlog.errors.StatementTimeout`
    #: (HTTP 504). SQLite has no statement timeout: see ``sqlite_busy_timeout_ms``.
    statement_timeout_ms: int = Field(default=0, ge=0, le=86_400_000)
    application_name: str = Field(default="flightlog", min_length=1, max_length=63)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    #: Page cache per SQLite connection. SQLite's own default (2 MiB) is smaller
    #: than the upper levels of the events table's indexes, so every insert
    #: would read index pages back from the OS; the cache only grows as used.
    sqlite_cache_mib: int = Field(default=64, ge=1, le=65_536)
    echo_sql: bool = False
    #: The columnar telemetry sink (docs/sink.md): ``chdb:///dir`` (ClickHouse in one owner
    #: process) or ``clickhouse://user:password@host:8123/db`` (a server). Unset: no sink.
    sink_url: str = Field(default="", description="chdb:///dir or clickhouse://host:8123/db.")
    #: Days of telemetry the sink keeps (its TTL); older windows are read from the database.
    sink_retention_days: int = Field(default=400, ge=2, le=36_500)
    #: Rows the sink worker reads per table per cycle.
    sink_batch_rows: int = Field(default=20_000, ge=10, le=1_000_000)
    #: Pause between the worker's cycles once it has caught up.
    sink_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    #: The dashboard reads aggregates from the sink only while it is at most this far behind.
    sink_max_lag_seconds: float = Field(default=60.0, gt=0, le=86_400)
    max_event_payload_bytes: int = Field(default=1_048_576, ge=1024)
    #: Span content (messages, tool arguments and results) kept inline in an event up to
    #: this many bytes each; larger content becomes an artifact the event points to.
    otlp_inline_content_bytes: int = Field(default=16_384, ge=256, le=MAX_OTLP_INLINE_CONTENT_BYTES)
    inline_artifact_max_bytes: int = Field(default=64 * 1024, ge=0)
    #: Where artifact content too large to keep inline is stored. Unset, it follows the
    #: database: see :meth:`resolved_blob_dir`. A relative path is made absolute once, here.
    blob_dir: Path | None = Field(default=None, description="Directory of large artifact files.")
    agent_degraded_after_seconds: float = Field(default=60.0, gt=0)
    agent_failed_after_seconds: float = Field(default=300.0, gt=0)
    #: How long the HTTP API trusts a verified API key before checking it again.
    #: Revocation takes effect within this time; 0 checks the database on every request.
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    #: Largest request body the HTTP API reads (uploads included); larger ones get a 413.
    api_max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: ``flightlog db check`` compares Flightlog's own tables only. Comma-separated globs:
    #: ``db_check_include`` names other tables to compare anyway (reported as unexpected),
    #: ``db_check_exclude`` names tables, views, indexes or triggers never to compare.
    db_check_include: str = Field(default="", description="Globs of extra tables to check.")
    db_check_exclude: str = Field(default="", description="Globs of names db check skips.")
    #: Streaming read replicas (hot standbys) of the PostgreSQL database, comma-separated.
    #: Reads that may be a moment stale (lists, timelines, search, statistics, exports) go
    #: there; writes, and reads of what the same client just wrote, see the primary's data
    #: (docs/decisions/0017-read-replicas.md). PostgreSQL only.
    database_replica_urls: str = Field(
        default="", description="Comma-separated postgresql:// URLs of hot standbys."
    )
    #: A replica further behind than this serves no read that carries no position of its own.
    replica_max_lag_seconds: float = Field(default=30.0, gt=0, le=86_400)
    #: How long a replica that failed (down, refusing, not a standby) is left alone.
    replica_retry_seconds: float = Field(default=10.0, gt=0, le=3600)
    #: How often a replica's replay position and lag are read again, at most (0: every read).
    replica_check_seconds: float = Field(default=1.0, ge=0, le=3600)
    #: How long connecting to a replica may take before the read goes to the primary.
    replica_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    #: How long a statement on a replica may go unanswered before the read goes to the
    #: primary (a standby that froze or whose host went away answers nothing, and its
    #: pooled connections would wait for ever). Longer than any read a replica serves.
    replica_read_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("database_url")
    @classmethod
    def _url_must_be_supported(cls, value: str) -> str:
        DatabaseUrl.parse(value)
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_urls_must_be_postgres(cls, value: str) -> str:
        parts = split_urls(value)
        for n, part in enumerate(parts, start=1):
            replica_url(part, position=n, of=len(parts))
        return value

    @field_validator("blob_dir")
    @classmethod
    def _blob_dir_is_absolute(cls, value: Path | None) -> Path | None:
        # Resolved against the working directory when the settings are made, so a later
        # chdir (or a server started elsewhere) cannot move it.
        return None if value is None else value.expanduser().resolve()

    def resolved_blob_dir(self, database: DatabaseUrl | None = None) -> Path:
        """The blob directory for ``database`` (default: this settings' database).

        The one place that decides it: ``blob_dir`` when set, else
        :func:`default_blob_dir` of the database. Every command, the server
        and the Store ask here.
        """
        if self.blob_dir is not None:
            return self.blob_dir.expanduser().resolve()
        return default_blob_dir(database or DatabaseUrl.parse(self.database_url))

    @field_validator("sink_url")
    @classmethod
    def _sink_url_must_be_usable(cls, value: str) -> str:
        if value.strip():
            from flightlog.sink.url import SinkUrl

            SinkUrl.parse(value)  # ConfigurationError naming FLIGHTLOG_SINK_URL, no password
        return value.strip()

    def db_check_patterns(
        self, include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> NamePatterns:
        """The names ``db check`` adds or skips: these settings' globs plus the given ones."""
        from flightlog.migrations.filters import NamePatterns

        def split(value: str) -> tuple[str, ...]:
            return tuple(part.strip() for part in value.split(",") if part.strip())

        return NamePatterns(
            include=split(self.db_check_include) + tuple(include),
            exclude=split(self.db_check_exclude) + tuple(exclude),
        )

    @property
    def database(self) -> DatabaseUrl:
        """The parsed URL, which knows its async and sync driver forms, with TLS settings in it."""
        url = DatabaseUrl.parse(self.database_url)
        if url.dialect != "postgresql":
            return url
        return url.with_tls_defaults(self._tls_defaults())

    def _tls_defaults(self) -> dict[str, str | None]:
        """The TLS settings in libpq's terms, for every PostgreSQL URL Flightlog connects to."""
        return {
            "sslmode": self.ssl_mode,
            "sslrootcert": _path_or_none(self.ssl_root_cert),
            "sslcert": _path_or_none(self.ssl_cert),
            "sslkey": _path_or_none(self.ssl_key),
        }

    def with_replica_urls(self, urls: Sequence[str]) -> Settings:
        """These settings with ``urls`` as the read replicas, checked as the setting is."""
        chosen = self.model_copy(update={"database_replica_urls": ",".join(urls)})
        chosen.replica_databases  # noqa: B018 - parses each, refuses them for SQLite
        return chosen

    @property
    def replica_databases(self) -> tuple[DatabaseUrl, ...]:
        """The read replicas' parsed URLs, with the same TLS settings as the primary's.

        Refused when the database is SQLite: a SQLite file has no replicas, and
        reads that silently ignored the setting would hide the mistake.
        """
        urls = split_urls(self.database_replica_urls)
        if not urls:
            return ()
        if self.database.dialect != "postgresql":
            raise ConfigurationError(
                "Read replicas need PostgreSQL, but the database is SQLite: unset "
                "FLIGHTLOG_DATABASE_REPLICA_URLS (or --replica-url), or use a PostgreSQL database."
            )
        tls = self._tls_defaults()
        return tuple(
            replica_url(url, position=n, of=len(urls)).with_tls_defaults(tls)
            for n, url in enumerate(urls, start=1)
        )


def replica_url(raw: str, *, position: int = 1, of: int = 1) -> DatabaseUrl:
    """One read replica's URL, parsed; refused unless it is PostgreSQL's.

    A URL that cannot be parsed is refused naming the replica setting (and which of
    several), not in the words for the primary's URL, which would send the reader to
    the wrong setting."""
    try:
        url = DatabaseUrl.parse(raw)
    except ConfigurationError as exc:
        which = "The read replica URL" if of == 1 else f"Read replica URL {position} of {of}"
        raise ConfigurationError(
            f"{which} (FLIGHTLOG_DATABASE_REPLICA_URLS, --replica-url) cannot be used: "
            f"{exc.message[0].lower()}{exc.message[1:]}"
        ) from exc
    if url.dialect != "postgresql":
        raise ConfigurationError(
            f"The read replica URL {url.redacted()!r} is not PostgreSQL's: every replica "
            "(FLIGHTLOG_DATABASE_REPLICA_URLS, --replica-url) must be a postgresql:// URL of "
            "a hot standby."
        )
    return url


def split_urls(value: str) -> list[str]:
    """The URLs of a comma-separated list, blanks left out."""
    return [part.strip() for part in value.split(",") if part.strip()]


def default_blob_dir(database: DatabaseUrl) -> Path:
    """Where a database's blob files live when ``FLIGHTLOG_BLOB_DIR`` is not set.

    SQLite: beside the database file, named after it (``data/flightlog.db`` ->
    ``data/flightlog-blobs``), so the two move together and two databases in
    one directory never share (and sweep) each other's files. PostgreSQL: a
    per-user data directory named after the server and database,
    ``$XDG_DATA_HOME/flightlog/blobs/<host>-<port>-<dbname>`` (by default under
    ``~/.local/share``), with the server named as :func:`server_key` names it,
    so every spelling of one server finds the same files. That is right for
    one machine; servers on several machines must set ``FLIGHTLOG_BLOB_DIR``
    to storage they share.
    """
    name = database.url.database or ""
    if database.dialect == "sqlite":
        path = Path(name).expanduser().resolve()
        return path.with_name(f"{path.stem}-blobs")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    label = f"{server_key(database.url)}-{name}"
    return Path(data_home).expanduser().resolve() / "flightlog" / "blobs" / _safe(label)


#: What every spelling of "this machine" becomes in :func:`server_key`.
LOCAL_HOST = "localhost"
DEFAULT_POSTGRES_PORT = 5432


def server_key(url: URL) -> str:
    """``<host>-<port>`` of a PostgreSQL URL, the same however the server is written.

    Every way of reaching the server on this machine (``localhost``,
    ``127.0.0.1`` or any loopback address, ``::1``, a Unix socket directory,
    no host at all) is ``localhost``; other host names are lower-cased; a
    missing port is 5432. libpq's ``?host=`` and ``?port=`` count when the URL
    has none of its own.
    """
    host = url.host or _query_value(url, "host") or ""
    port = url.port or _query_value(url, "port") or DEFAULT_POSTGRES_PORT
    return f"{_host_key(unquote(host))}-{port}"


def _query_value(url: URL, name: str) -> str | None:
    value = url.query.get(name)
    if value is None or isinstance(value, str):
        return value
    return value[-1] if value else None


def _host_key(host: str) -> str:
    host = host.strip().lower()
    if not host or host.startswith(("/", "@")) or host == LOCAL_HOST:
        return LOCAL_HOST  # no host, or a Unix socket (a directory, or Linux's abstract one)
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return LOCAL_HOST
    except ValueError:
        pass
    return host


def _safe(label: str) -> str:
    """A name usable as one directory on any platform."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", label)


def _path_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path.expanduser().resolve())


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides on top.

    A value Flightlog cannot use (``FLIGHTLOG_POOL_SIZE=abc``,
    ``FLIGHTLOG_SSL_MODE=bogus``) raises :class:`ConfigurationError`, one
    sentence naming the variable and what it accepts, never pydantic's report.
    """
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except PydanticValidationError as exc:
        raise ConfigurationError(describe_invalid_settings(exc, clean)) from None


def describe_invalid_settings(exc: PydanticValidationError, overrides: Mapping[str, object]) -> str:
    """pydantic's errors about :class:`Settings` as one sentence a person can act on."""
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = name.lower().removeprefix("flightlog_")
        if field not in Settings.model_fields:
            parts.append(f"{name or 'a setting'}: {error['msg']}")
            continue
        shown = _shown_value(field, error.get("input"))
        if field in overrides:
            where = f"the setting {field} is {shown}"
        else:
            where = f"the environment variable {_environment_name(field)} is {shown}"
        parts.append(f"{where}, but it takes {accepts(field)}")
    fix = "; fix or unset it" if len(parts) == 1 else "; fix or unset them"
    sentence = "; ".join(parts) + fix + "."
    return sentence[:1].upper() + sentence[1:]


def _environment_name(field: str) -> str:
    prefixed = f"FLIGHTLOG_{field.upper()}"
    return f"{prefixed} (or DATABASE_URL)" if field == "database_url" else prefixed


def _shown_value(field: str, value: Any) -> str:
    if field in ("database_url", "database_replica_urls"):
        return "not a URL"  # it may hold a password
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= 60 else text[:57] + "...'"


def accepts(field: str) -> str:
    """What a setting accepts, in words, from its type and bounds."""
    info = Settings.model_fields[field]
    annotation: Any = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):  # optional: unset is always allowed
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = members[0] if len(members) == 1 else annotation
    if get_origin(annotation) is Literal:
        text = "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    elif annotation is bool:
        text = "true or false (or 1/0, yes/no, on/off)"
    elif annotation in (int, float):
        kind = "a whole number" if annotation is int else "a number"
        text = " ".join(filter(None, [kind, _bounds(info.metadata)]))
    elif annotation is Path:
        text = "a path"
    elif annotation is str:
        text = "text" + _lengths(info.metadata)
    else:  # pragma: no cover - every field's type is handled above
        text = f"a {getattr(annotation, '__name__', annotation)}"
    return text


def _constraint(metadata: list[Any], name: str) -> Any:
    """A bound pydantic keeps in a field's metadata (annotated_types' Ge, Le, MaxLen ...)."""
    return next((getattr(m, name) for m in metadata if getattr(m, name, None) is not None), None)


def _bounds(metadata: list[Any]) -> str:
    ge, gt = _constraint(metadata, "ge"), _constraint(metadata, "gt")
    le, lt = _constraint(metadata, "le"), _constraint(metadata, "lt")
    if ge is not None and le is not None:
        return f"from {ge} to {le}"
    lower = (
        f"of at least {ge}" if ge is not None else f"greater than {gt}" if gt is not None else ""
    )
    upper = f"at most {le}" if le is not None else f"less than {lt}" if lt is not None else ""
    return " and ".join(part for part in (lower, upper) if part)


def _lengths(metadata: list[Any]) -> str:
    low, high = _constraint(metadata, "min_length"), _constraint(metadata, "max_length")
    if low is not None and high is not None:
        return f" of {low} to {high} characters"
    if high is not None:
        return f" of at most {high} characters"
    if low is not None:
        return f" of at least {low} characters"
    return ""
