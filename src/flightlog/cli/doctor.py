"""``flightlog doctor``: is this installation ready to use, and if not, what to do.

One command an operator runs first when something is off: the settings in
effect (the database password hidden), whether the database answers and
which server it is, the schema revision against this Flightlog's head, every
table, view, index and trigger the schema needs (``flightlog db check``'s
comparison), and whether the blob directory can be written. Each line is a
tick, or a cross with one sentence saying what to do; the exit code is 1 when
anything is wrong, so a deployment script can gate on it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from flightlog.cli.options import DatabaseUrlOption
from flightlog.db.engine import SQLITE_BEGIN_MODE, create_sync_engine, sync_session_factory
from flightlog.db.failures import driver_errors
from flightlog.db.presence import sqlite_file
from flightlog.db.replicas import sync_replicas
from flightlog.errors import ConfigurationError, FlightlogError
from flightlog.migrations.runner import Migrator
from flightlog.ops.database_health import (
    Probe,
    ReplicaProbe,
    describe_failure,
    probe,
    replica_probe,
    replica_report,
    shown_url,
)
from flightlog.schemas.health import ReplicaHealth
from flightlog.settings import Settings, get_settings, split_urls
from flightlog.store.replica_reads import primary_position_sync

console = Console(soft_wrap=True)

#: How many drift items a failed schema check names before "and N more".
_SHOWN_DRIFT = 5


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and the sentence."""

    name: str
    ok: bool
    message: str


def doctor(database_url: str | None = DatabaseUrlOption) -> None:
    """Check settings, connection, schema revision, every table/view/index, and the blob dir.

    Exit 0 when all is well, 1 (with what to do on each failed line) otherwise.

    Example: [bold]flightlog doctor --database-url postgresql://postgres@localhost/flightlog[/bold]
    """
    settings = get_settings(database_url=database_url)
    _print_settings(settings)
    checks: list[Check] = []
    found = _connection(settings, checks)
    if found is not None:
        _schema(settings, found, checks)
    checks.extend(replica_checks(settings))
    checks.append(_blob_dir(settings))
    table = Table("", "check", "result", title="Flightlog doctor", title_justify="left")
    for check in checks:
        mark = "[green]✓[/green]" if check.ok else "[bold red]✗[/bold red]"
        table.add_row(mark, check.name, escape(check.message))
    console.print(table)
    failed = [check for check in checks if not check.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} problem(s) found.[/bold red]")
        raise typer.Exit(code=1)
    console.print("[green]Everything looks right.[/green]")


def shown_settings(settings: Settings) -> dict[str, str]:
    """Every setting as text, the database URL with its password hidden."""
    shown: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "database_url":
            value = settings.database.redacted()
        elif name == "database_replica_urls":
            value = ", ".join(shown_url(url) for url in split_urls(value))
        elif name == "blob_dir":
            value = f"{settings.resolved_blob_dir()}" + ("" if value is not None else " (default)")
        shown[name] = "" if value is None else str(value)
    return shown


def _print_settings(settings: Settings) -> None:
    table = Table("setting", "environment variable", "value", title="Settings in effect")
    table.title_justify = "left"
    for name, value in shown_settings(settings).items():
        table.add_row(name, f"FLIGHTLOG_{name.upper()}", escape(value))
    console.print(table)


def _connection(settings: Settings, checks: list[Check]) -> Probe | None:
    """Connect and probe; a failure is one check saying what to look at."""
    database = settings.database
    path = sqlite_file(database)
    if path is not None and not path.is_file():
        checks.append(
            Check(
                "connection",
                False,
                f"There is no database file at {path}; run 'flightlog db upgrade' to create "
                "it, or point --database-url (FLIGHTLOG_DATABASE_URL) at the right file.",
            )
        )
        return None
    failures: tuple[type[Exception], ...] = (FlightlogError, *driver_errors())
    engine = create_sync_engine(settings)
    try:
        with sync_session_factory(engine)() as session:
            session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
            found = probe(session)
    except failures as exc:
        checks.append(
            Check(
                "connection",
                False,
                f"{describe_failure(exc, database.url).rstrip('.')}. Check the URL "
                "(--database-url or FLIGHTLOG_DATABASE_URL) and that the server is running.",
            )
        )
        return None
    finally:
        engine.dispose()
    server = "PostgreSQL" if database.dialect == "postgresql" else "SQLite"
    checks.append(
        Check(
            "connection",
            True,
            f"{database.redacted()} answered in {found.latency_ms:.1f} ms "
            f"({server} {found.server_version}).",
        )
    )
    return found


def replica_checks(settings: Settings) -> list[Check]:
    """One line per read replica: a standby within the lag limit, or what to look at.

    The same rules as the reads (:func:`flightlog.ops.database_health.replica_report`):
    a line is a tick exactly when this installation would send reads there.
    """
    try:
        urls = settings.replica_databases
    except ConfigurationError as exc:
        return [Check("read replicas", False, exc.message)]
    if not urls:
        return []
    failures: tuple[type[Exception], ...] = (FlightlogError, *driver_errors())
    replicas = sync_replicas(settings)
    assert replicas is not None
    primary = create_sync_engine(settings)
    try:
        try:
            position: int | None = primary_position_sync(primary)
        except failures:
            position = None
        checks = []
        for replica in replicas.replicas:
            found: ReplicaProbe | BaseException
            try:
                with Session(replica.engine) as session:
                    found = replica_probe(session)
            except failures as exc:
                found = exc
            checks.append(_replica_check(replica_report(replicas, replica, found, position)))
        return checks
    finally:
        primary.dispose()
        for replica in replicas.replicas:
            replica.engine.dispose()


def _replica_check(report: ReplicaHealth) -> Check:
    name = f"read replica {report.database}"
    if report.serving:
        behind = "" if report.behind_bytes is None else f"{report.behind_bytes:,} bytes, "
        return Check(
            name,
            True,
            f"A hot standby, replayed to {report.replay_position} ({behind}"
            f"{report.lag_seconds or 0:.1f} s behind); stale-tolerant reads go there.",
        )
    if not report.reachable:
        what = "check the URL (FLIGHTLOG_DATABASE_REPLICA_URLS) and that the standby runs"
    elif not report.standby:
        what = "point FLIGHTLOG_DATABASE_REPLICA_URLS at hot standbys only"
    else:
        what = "check the standby's replication (pg_stat_replication on the primary)"
    reason = (report.error or "it cannot serve reads").rstrip(".")
    return Check(name, False, f"{reason}; {what}. Reads go to the primary meanwhile.")


def _schema(settings: Settings, found: Probe, checks: list[Check]) -> None:
    """The revision against head, then every object the schema needs (as ``db check``)."""
    migrator = Migrator(settings)
    head = migrator.head()
    known = {rev.revision for rev in migrator.history()}
    if found.revision is None:
        checks.append(
            Check(
                "schema revision",
                False,
                "No Flightlog schema in this database; run 'flightlog db upgrade'.",
            )
        )
        return
    if found.revision not in known:
        checks.append(
            Check(
                "schema revision",
                False,
                f"The database is at {found.revision}, which this Flightlog (head {head}) does "
                "not know: a newer Flightlog migrated it; upgrade Flightlog.",
            )
        )
        return
    if found.revision != head:
        checks.append(
            Check(
                "schema revision",
                False,
                f"The database is at {found.revision} but this Flightlog needs {head}; "
                "run 'flightlog db upgrade'.",
            )
        )
        return
    checks.append(Check("schema revision", True, f"At head ({head})."))
    drift = migrator.check()
    if not drift:
        checks.append(
            Check("tables, views, indexes", True, "Every table, view, index and trigger is there.")
        )
        return
    named = ", ".join(f"{item.operation} {item.detail}" for item in drift[:_SHOWN_DRIFT])
    more = f" and {len(drift) - _SHOWN_DRIFT} more" if len(drift) > _SHOWN_DRIFT else ""
    checks.append(
        Check(
            "tables, views, indexes",
            False,
            f"The schema differs from what Flightlog {head} needs ({named}{more}); see "
            "'flightlog db check', and recreate what is missing (or restore from a backup).",
        )
    )


def _blob_dir(settings: Settings) -> Check:
    """Whether large artifacts can be written: the directory, or where it will be created."""
    directory = settings.resolved_blob_dir()
    if directory.exists() and not directory.is_dir():
        return Check(
            "blob directory",
            False,
            f"{directory} is a file, not a directory; set FLIGHTLOG_BLOB_DIR to a directory.",
        )
    if directory.is_dir():
        try:
            with tempfile.TemporaryFile(dir=directory, prefix=".flightlog-doctor-"):
                pass
        except OSError as exc:
            return Check(
                "blob directory",
                False,
                f"Cannot write to {directory} ({exc.strerror or exc}); give this user write "
                "access to it or set FLIGHTLOG_BLOB_DIR to a writable directory.",
            )
        return Check("blob directory", True, f"{directory} is writable.")
    parent = _nearest_existing(directory)
    if not parent.is_dir():
        return Check(
            "blob directory",
            False,
            f"{directory} cannot be created: {parent} is a file; set FLIGHTLOG_BLOB_DIR to a "
            "directory that can be.",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        return Check(
            "blob directory",
            False,
            f"{directory} does not exist and cannot be created ({parent} is not writable); "
            "create it or set FLIGHTLOG_BLOB_DIR to a writable directory.",
        )
    return Check(
        "blob directory", True, f"{directory} will be created with the first large artifact."
    )


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")
