"""``flightlog sink run|status|verify``: the columnar telemetry sink (docs/sink.md)."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.errors import ConfigurationError, FlightlogError
from flightlog.settings import Settings
from flightlog.sink.url import SinkUrl

if TYPE_CHECKING:
    from flightlog.sink.backend import SinkBackend

console = Console(soft_wrap=True)
app = typer.Typer(
    help="The columnar telemetry sink: copy committed telemetry into ClickHouse, see its lag "
    "(docs/sink.md).\n\nExample: [bold]flightlog sink status[/bold]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

SinkUrlOption = typer.Option(
    None,
    "--sink-url",
    help="chdb:///dir or clickhouse://user:password@host:8123/db (default: FLIGHTLOG_SINK_URL).",
    show_default=False,
)


def _settings(database_url: str | None, sink_url: str | None) -> Settings:
    settings = settings_for(database_url)
    if sink_url is not None:
        from flightlog.sink.url import SinkUrl

        SinkUrl.parse(sink_url)  # a bad one is refused in one sentence, as in the environment
        settings = settings.model_copy(update={"sink_url": sink_url.strip()})
    if not settings.sink_url:
        raise ConfigurationError(
            "No sink is configured: set FLIGHTLOG_SINK_URL (or --sink-url) to chdb:///dir or "
            "clickhouse://user:password@host:8123/database."
        )
    return settings


def _open(url: SinkUrl) -> SinkBackend:
    """The sink's backend (its refusals are printed as text by ``flightlog.cli.app.main``)."""
    from flightlog.sink.backend import open_backend

    return open_backend(url)


def _require_directory(url: SinkUrl) -> None:
    """Reading a chdb sink that was never made must not make its directory."""
    from flightlog.sink.backend import not_made

    if url.path is not None and not url.path.is_dir():
        raise not_made(url)


def _line(report: object) -> str:
    from flightlog.sink.worker import CycleReport

    assert isinstance(report, CycleReport)
    copied = ", ".join(f"{name} +{n:,}" for name, n in report.copied.items() if n)
    removed = ", ".join(f"{name} -{n:,}" for name, n in report.removed.items() if n)
    parts = [f"cycle {report.cycle}", copied or "nothing new"]
    if removed:
        parts.append(f"removed {removed}")
    parts.append("caught up" if report.caught_up else "more to copy")
    return "  ".join(parts)


def run(
    once: bool = typer.Option(
        False, "--once", help="Copy everything committed so far, sweep once, then exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No line per cycle."),
    database_url: str | None = DatabaseUrlOption,
    sink_url: str | None = SinkUrlOption,
) -> None:
    """Tail committed events, agent runs, task runs and metric points into the sink.

    Stop it at any moment (Ctrl-C, SIGTERM, even kill -9): it starts again from the
    positions it saved in the sink, and the tables keep one copy of each row. A
    chdb sink has one owner process: not while [bold]flightlog serve[/bold] owns it.

    Example: [bold]FLIGHTLOG_SINK_URL=chdb:///var/lib/flightlog/sink flightlog sink run[/bold]
    """
    from flightlog.db.engine import create_sync_engine
    from flightlog.sink.status import write_status_file
    from flightlog.sink.url import SinkUrl
    from flightlog.sink.worker import SinkWorker

    settings = _settings(database_url, sink_url)
    require_head(settings)
    url = SinkUrl.parse(settings.sink_url)
    backend = _open(url)
    engine = create_sync_engine(settings)
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    try:
        worker = SinkWorker(
            backend,
            engine,
            batch_rows=settings.sink_batch_rows,
            retention_days=settings.sink_retention_days,
        )
        start = worker.start()
        console.print(
            f"sink {url.redacted()}: from event {start.tailed['events']:,}, "
            f"metric point {start.tailed['metric_points']:,} (cycle {start.cycle})"
        )
        if once:
            for report in worker.catch_up():
                write_status_file(url, worker.progress, report)
                console.print(_line(report), highlight=False)
                if stop.is_set():
                    break
            return
        restart = False
        pause = FIRST_PAUSE_SECONDS
        while not stop.is_set():
            try:
                if restart:
                    worker.start()  # the saved positions again: nothing half-copied is lost
                    restart = False
                    console.print("the database and the sink answer again: copying", style="green")
                report = worker.cycle()
            except Exception as exc:
                if not _passing(exc):
                    raise
                restart = True
                console.print(
                    f"[yellow]Waiting:[/yellow] {escape(_reason(exc))}; trying again in "
                    f"{pause:.0f} s (Ctrl-C to stop)",
                    highlight=False,
                )
                stop.wait(pause)
                pause = min(pause * 2, LAST_PAUSE_SECONDS)
                continue
            pause = FIRST_PAUSE_SECONDS
            write_status_file(url, worker.progress, report)
            if not quiet and report.total:
                console.print(_line(report), highlight=False)
            if report.caught_up:
                stop.wait(settings.sink_poll_seconds)
    finally:
        backend.close()
        engine.dispose()


#: How long the long-running tailer waits after a failure, doubling up to the last.
FIRST_PAUSE_SECONDS = 1.0
LAST_PAUSE_SECONDS = 30.0


def _passing(exc: BaseException) -> bool:
    """Whether ``exc`` says the database or the sink cannot serve right now (a restart, a
    network cut): worth waiting out. A second owner of a chdb directory, a bug or a bad
    setting is not, and ends the command."""
    from flightlog.db.failures import database_unreachable
    from flightlog.sink.backend import SinkBusy, SinkUnavailable

    if isinstance(exc, SinkBusy):
        return False
    return isinstance(exc, SinkUnavailable) or database_unreachable(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FlightlogError):
        return exc.message
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    database_url: str | None = DatabaseUrlOption,
    sink_url: str | None = SinkUrlOption,
) -> None:
    """How far behind the sink is: committed rows it has not copied yet, and seconds.

    With a chdb sink owned by another process (serve or sink run), the owner's
    last saved progress (its status file) is read instead of the directory.

    Example: [bold]flightlog sink status --json[/bold]
    """
    from flightlog.db.engine import create_sync_engine
    from flightlog.sink.backend import SinkBusy, require_made
    from flightlog.sink.progress import load
    from flightlog.sink.status import lag, read_status_file
    from flightlog.sink.url import SinkUrl

    settings = _settings(database_url, sink_url)
    url = SinkUrl.parse(settings.sink_url)
    _require_directory(url)
    owner: int | None = None
    try:
        backend = _open(url)
    except SinkBusy as busy:
        owner = int(busy.details.get("pid") or 0) or None
        found = read_status_file(url)
        if found is None:
            raise
        progress = found
    else:
        try:
            require_made(backend)
            progress = load(backend)
        finally:
            backend.close()
    engine = create_sync_engine(settings)
    try:
        behind = lag(engine, progress, datetime.now(UTC))
    finally:
        engine.dispose()
    body = {
        "sink": url.redacted(),
        "owner_pid": owner,
        "cycle": behind.cycle,
        "positions": behind.positions,
        "rows_behind": behind.rows,
        "seconds_behind": None if behind.seconds is None else round(behind.seconds, 3),
    }
    if as_json:
        typer.echo(json.dumps(body))
        return
    table = Table(title=f"Sink {url.redacted()}" + (f" (owned by pid {owner})" if owner else ""))
    table.add_column("table")
    table.add_column("copied up to id", justify="right")
    table.add_column("rows behind", justify="right")
    for name, position in behind.positions.items():
        table.add_row(name, f"{position:,}", f"{behind.rows[name]:,}")
    console.print(table)
    seconds = "never caught up" if behind.seconds is None else f"{behind.seconds:,.1f} s"
    console.print(f"seconds behind: {seconds} (cycle {behind.cycle})")


def verify(
    database_url: str | None = DatabaseUrlOption,
    sink_url: str | None = SinkUrlOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Compare every sink table's row count and checksum with the database's (exit 1 if any
    differs). Run it on a quiet database; a chdb sink must not be owned by another process.

    Example: [bold]flightlog sink run --once && flightlog sink verify[/bold]
    """
    from flightlog.db.engine import create_sync_engine
    from flightlog.sink.backend import require_made
    from flightlog.sink.url import SinkUrl
    from flightlog.sink.verify import verify as compare

    settings = _settings(database_url, sink_url)
    url = SinkUrl.parse(settings.sink_url)
    _require_directory(url)
    backend = _open(url)
    engine = create_sync_engine(settings)
    try:
        require_made(backend)
        checks = compare(backend, engine, settings.sink_retention_days)
    finally:
        backend.close()
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "table": c.table,
                        "primary_rows": c.primary_rows,
                        "sink_rows": c.sink_rows,
                        "primary_checksum": c.primary_checksum,
                        "sink_checksum": c.sink_checksum,
                        "matches": c.matches,
                    }
                    for c in checks
                ]
            )
        )
    else:
        table = Table(title="Sink vs database")
        for column in ("table", "database rows", "sink rows", "checksums", ""):
            table.add_column(column)
        for c in checks:
            same = "equal" if c.primary_checksum == c.sink_checksum else "differ"
            table.add_row(
                c.table,
                f"{c.primary_rows:,}",
                f"{c.sink_rows:,}",
                same,
                "ok" if c.matches else "MISMATCH",
            )
        console.print(table)
    if not all(c.matches for c in checks):
        raise typer.Exit(1)


app.command("run")(run)
app.command("status")(status)
app.command("verify")(verify)
