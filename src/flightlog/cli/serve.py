"""``flightlog serve``: the HTTP API under uvicorn, in one process or several."""

from __future__ import annotations

import os

import typer

from flightlog.cli.local_sign_in import sign_in_lines
from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.cli.pool_budget import pool_budget_warning
from flightlog.errors import ConfigurationError
from flightlog.settings import Settings


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="Worker processes, each with its own connection pool. Default: 1 on SQLite "
        "(one file takes one writer at a time, so more processes only queue), "
        "the number of CPU cores on PostgreSQL.",
        show_default=False,
    ),
    log_level: str = typer.Option("info", help="uvicorn log level: debug, info, warning, error."),
    sign_in_link: bool = typer.Option(
        True,
        "--sign-in-link/--no-sign-in-link",
        help="Print a one-time link that signs a browser on this machine into the dashboard "
        "(written to the database; works once, for 10 minutes).",
    ),
    database_url: str | None = DatabaseUrlOption,
    replica_url: list[str] = typer.Option(
        [],
        "--replica-url",
        help="A read replica (hot standby) of the PostgreSQL database; repeat for several. "
        "Default: FLIGHTLOG_DATABASE_REPLICA_URLS (comma-separated).",
        show_default=False,
    ),
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboard (at /); both take API keys.

    Prints where the dashboard is and a one-time link that signs a browser on this
    machine in (as the demo's customer when the demo is in the database, else the
    default customer). The schema must be at head: run [bold]flightlog db upgrade[/bold] first.

    Example: [bold]flightlog serve --port 8000[/bold]
    """
    settings = settings_for(database_url)
    # Checked before serving: replicas of a SQLite database are refused here, not at startup.
    settings = settings.with_replica_urls(replica_url) if replica_url else settings
    settings.replica_databases  # noqa: B018
    require_head(settings)
    run_server(
        settings,
        host,
        port,
        workers,
        log_level,
        sign_in_link=sign_in_link,
        database_url=database_url,
    )


def run_server(
    settings: Settings,
    host: str,
    port: int,
    workers: int | None,
    log_level: str,
    *,
    sign_in_link: bool,
    database_url: str | None = None,
) -> None:
    """Print where everything is (and the sign-in link), then serve until stopped.

    ``database_url`` is the one the person typed, for the commands printed.
    """
    # Imported here so that every other command starts without loading the web stack.
    import uvicorn

    count = workers if workers is not None else default_workers(settings)
    refuse_workers_sharing_chdb(settings, count)
    sign_in = sign_in_lines(settings, host, port, database_url) if sign_in_link else []
    typer.echo(_where(host, port, count, settings, sign_in))
    budget = pool_budget_warning(settings, count)
    if budget is not None:
        typer.echo(budget)
    if count == 1:
        from flightlog.api.served import serving_app
        from flightlog.web.sink_reads import start_sink

        app = serving_app(settings)
        sink = start_sink(app, settings)  # a chdb sink is tailed and read in this process
        try:
            uvicorn.run(app, host=host, port=port, log_level=log_level)
        finally:
            if sink is not None:
                sink.stop()
        return
    from flightlog.api.served import FACTORY, preload, settings_to_environment
    from flightlog.cli.worker_listeners import serve_workers

    # Workers are not handed an app object: each calls the factory and builds its own
    # app (and engine) from the settings resolved here. They are forked with
    # everything an app needs already imported (worker_listeners.forked_workers).
    settings_to_environment(settings)
    preload()
    config = uvicorn.Config(
        FACTORY, factory=True, workers=count, host=host, port=port, log_level=log_level
    )
    serve_workers(config)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        found: int | None = counter()
        return found or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _chdb_sink(settings: Settings) -> bool:
    return settings.sink_url.startswith("chdb:")


def refuse_workers_sharing_chdb(settings: Settings, workers: int) -> None:
    """A chdb sink has one owner process, which must also answer the dashboard: one worker."""
    if workers > 1 and _chdb_sink(settings):
        raise ConfigurationError(
            f"A chdb sink (FLIGHTLOG_SINK_URL=chdb:...) is owned by one process, so flightlog "
            f"serve runs one worker with it, not {workers}: drop --workers, or use a ClickHouse "
            "server sink (clickhouse://...) with flightlog sink run to serve from several."
        )


def default_workers(settings: Settings) -> int:
    """1 on SQLite or with a chdb sink (one owner process), the CPU count on PostgreSQL.

    SQLite lets one connection write at a time, across processes too: more
    workers on one file would add processes that wait on each other's writes
    (reads would still spread). PostgreSQL takes writers concurrently, so a
    process per core uses the machine.
    """
    if _chdb_sink(settings):
        return 1
    return cpu_count() if settings.database.dialect == "postgresql" else 1


_KEY_ONLY = "  sign in    with an API key (flightlog api-key create --customer EMAIL)"


def _where(host: str, port: int, workers: int, settings: Settings, sign_in: list[str]) -> str:
    """What to open and what to point agents at, as lines a person can copy (never wrapped)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    processes = "1 process" if workers == 1 else f"{workers} processes"
    note = ""
    if workers > 1 and settings.database.dialect == "sqlite":
        note = " (one SQLite file: their writes take turns)"
    return "\n".join(
        [
            f"Flightlog at {base}",
            f"  workers    {processes}{note}",
            f"  dashboard  {base}/",
            *(sign_in or [_KEY_ONLY]),
            f"  API docs   {base}/docs",
            "  OpenTelemetry: point exporters here (docs/connect-agents.md):",
            f"    export OTEL_EXPORTER_OTLP_ENDPOINT={base}",
            '    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20<your API key>"',
        ]
    )
