"""``flightlog stats``: what a Flightlog database holds."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.cli.report import render_stats
from flightlog.db.engine import SQLITE_BEGIN_MODE, create_sync_engine, sync_session_factory
from flightlog.errors import MigrationError
from flightlog.migrations.runner import Migrator
from flightlog.ops.database_health import statistics
from flightlog.ops.database_report import DatabaseStats
from flightlog.ops.read_target import run_read
from flightlog.schemas.health import DatabaseStatistics
from flightlog.services.index_usage import NOT_TRACKED, index_usage
from flightlog.settings import Settings

console = Console()

#: The fields of the human summary (the JSON has the pool and index usage too).
_SUMMARY = set(DatabaseStats.__dataclass_fields__)


def stats(
    database_url: str | None = DatabaseUrlOption,
    as_json: bool = typer.Option(False, "--json", help="Stable machine-readable output."),
    indexes: bool = typer.Option(
        False,
        "--indexes",
        help="Every index's scans, size and usage category (UNUSED … HIGH_USAGE on "
        "PostgreSQL; NOT TRACKED on SQLite, which counts no scans) instead of the summary.",
    ),
) -> None:
    """Counts per entity, run outcomes, busiest agents, pending approvals, size and revision.

    --json adds this process's connection pool and every index's usage
    (store.stats() gives the same from Python, GET /health?detail=true over HTTP).

    Example: [bold]flightlog stats --json[/bold]
    """
    settings = settings_for(database_url)
    migrator = Migrator(settings)
    revision = migrator.current()
    if revision is None:
        raise MigrationError(
            f"No Flightlog schema at {migrator.url.redacted()}. Run 'flightlog db upgrade' first."
        )
    if indexes:
        _show_indexes(settings, as_json=as_json)
        return

    def counted(engine: Engine) -> DatabaseStatistics:
        with sync_session_factory(engine)() as session:
            session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})  # no write lock
            return statistics(session, url=engine.url, pool=engine.pool)

    found = run_read(settings, counted)  # on a read replica when one is fit
    if as_json:
        typer.echo(json.dumps(found.model_dump(mode="json"), sort_keys=True))
        return
    render_stats(console, DatabaseStats(**found.model_dump(include=_SUMMARY)))


def _show_indexes(settings: Settings, *, as_json: bool) -> None:
    """``stats --indexes``: :func:`~flightlog.services.index_usage.index_usage`, table or JSON."""
    engine = create_sync_engine(settings)
    try:
        with sync_session_factory(engine)() as session:
            session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
            found = index_usage(session)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([asdict(row) for row in found], sort_keys=True))
        return
    table = Table("table", "index", "scans", "size", "usage", title="Index usage")
    for row in found:
        scans = "-" if row.scans is None else f"{row.scans:,}"
        size = "-" if row.size_bytes is None else f"{row.size_bytes:,} B"
        table.add_row(row.table, row.index, scans, size, row.category)
    console.print(table)
    if any(row.category == NOT_TRACKED for row in found):
        console.print("SQLite keeps no index usage counters: scans are not tracked there.")
