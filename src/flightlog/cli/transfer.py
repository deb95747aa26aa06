"""``flightlog export`` and ``flightlog import``: move data between databases as JSON Lines."""

from __future__ import annotations

import contextlib
import io
import sys
import uuid
from pathlib import Path
from typing import TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.db.engine import create_sync_engine
from flightlog.errors import MigrationError, ValidationError
from flightlog.migrations.runner import Migrator
from flightlog.ops.export import export_to, export_to_file
from flightlog.ops.export_scope import Scope
from flightlog.ops.importer import import_lines, verify_export_file
from flightlog.ops.read_target import run_read
from flightlog.services.blobs import BlobStaging

console = Console(stderr=True)


def _scope(customer: str | None, project: str | None, task: str | None) -> Scope:
    given = [
        (kind, value)
        for kind, value in (("customer", customer), ("project", project), ("task", task))
        if value
    ]
    if len(given) > 1:
        raise ValidationError("Give at most one of --customer, --project and --task.")
    if not given:
        return Scope("all")
    kind, value = given[0]
    try:
        return Scope(kind, uuid.UUID(value))  # type: ignore[arg-type]
    except ValueError:
        raise ValidationError(f"--{kind} expects an id (a UUID), got {value!r}.") from None


def _utf8(stream: TextIO) -> None:
    """The format is UTF-8 whatever the locale says (the checksum is over UTF-8 bytes)."""
    if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower() not in ("utf-8", "utf8"):
        with contextlib.suppress(io.UnsupportedOperation, ValueError):
            stream.reconfigure(encoding="utf-8")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def export(
    output: Path = typer.Argument(..., help="File to write, or '-' for standard output."),
    database_url: str | None = DatabaseUrlOption,
    customer: str | None = typer.Option(None, help="Export one customer (its id)."),
    project: str | None = typer.Option(None, help="Export one project (its id)."),
    task: str | None = typer.Option(None, help="Export one task and its subtasks (its id)."),
) -> None:
    """Export everything, or one customer, project or task, as versioned JSON Lines.

    Example: [bold]flightlog export backup.jsonl --project 01a2…[/bold]
    """
    settings = settings_for(database_url)
    migrator = Migrator(settings)
    revision = migrator.current()
    if revision is None:
        raise MigrationError(f"No Flightlog schema at {migrator.url.redacted()}.")
    scope = _scope(customer, project, task)

    def exported(engine: Engine) -> int:
        with _progress() as bar, engine.connect() as connection:
            job = bar.add_task("exporting", total=None)

            def advance(table: str, rows: int) -> None:
                bar.update(job, advance=rows, description=f"exported {table}")

            if str(output) == "-":
                _utf8(sys.stdout)
                return export_to(
                    connection,
                    scope,
                    sys.stdout,
                    schema_revision=revision,
                    blob_dir=settings.resolved_blob_dir(),
                    progress=advance,
                )
            return export_to_file(
                connection,
                scope,
                output,
                schema_revision=revision,
                blob_dir=settings.resolved_blob_dir(),
                progress=advance,
            )

    # On a read replica when one is fit; a file (written whole or not at all) is written
    # again on the primary if the replica fails part-way, standard output cannot be.
    rows = run_read(settings, exported, repeatable=str(output) != "-")
    console.print(f"[green]Exported {rows:,} rows[/green] ({scope.kind}) to {output}")


def import_(
    source: Path = typer.Argument(..., help="A file written by 'flightlog export'."),
    database_url: str | None = DatabaseUrlOption,
    allow_unverified: bool = typer.Option(
        False,
        "--allow-unverified",
        help="Also import a version 1 file, which has no record count or checksum to check.",
    ),
) -> None:
    """Import an export file into a database at head, all or nothing.

    The file is checked first (its trailer's record count and checksum, and
    nothing after it); a truncated or altered file is refused before the
    database is touched. A database that does not exist yet (a new SQLite
    file) or holds no schema is then created and upgraded to head; one at an
    older schema is refused.

    Example: [bold]flightlog import backup.jsonl -d postgresql://postgres@localhost/flightlog[/bold]
    """
    if not source.is_file():
        raise ValidationError(f"No such file: {source}; give the path of an export file.")
    verify_export_file(source, allow_unverified=allow_unverified)
    settings = settings_for(database_url, create=True)
    migrator = Migrator(settings)
    current, head = migrator.current(), migrator.head()
    if current is None:
        migrator.upgrade("head")
    elif current != head:
        raise MigrationError(
            f"The database is at {current}, not {head}: "
            "run 'flightlog db upgrade' before importing."
        )
    engine = create_sync_engine(settings)
    blob_dir = settings.resolved_blob_dir()
    try:
        # Blob files wait in a staging directory until the rows are committed; leaving the
        # block without a publish (any error, the commit's included) removes them.
        with BlobStaging(blob_dir) as staging:
            with _progress() as bar, engine.begin() as connection, source.open("rb") as f:
                job = bar.add_task("importing", total=None)
                result = import_lines(
                    connection,
                    f,
                    blob_dir=blob_dir,
                    staging=staging,
                    allow_unverified=allow_unverified,
                    progress=lambda table, rows: bar.update(
                        job, advance=rows, description=f"imported {table}"
                    ),
                )
            staging.publish()
    finally:
        engine.dispose()
    console.print(f"[green]Imported {result.total:,} rows[/green] into {migrator.url.redacted()}")
