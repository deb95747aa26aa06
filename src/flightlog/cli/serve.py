"""``flightlog serve``: the HTTP API under uvicorn, in one process or several."""

from __future__ import annotations

import os

import typer

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
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
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboard (at /); both take API keys.

    The schema must be at head: run [bold]flightlog db upgrade[/bold] first.

    Example: [bold]flightlog api-key create --name ci && flightlog serve --port 8000[/bold]
    """
    # Imported here so that every other command starts without loading the web stack.
    import uvicorn

    settings = settings_for(database_url)
    require_head(settings)
    count = workers if workers is not None else default_workers(settings)
    typer.echo(_where(host, port, count, settings))
    if count == 1:
        from flightlog.api import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    from flightlog.api.served import FACTORY, settings_to_environment

    # Spawned workers cannot be handed an app object: each imports the factory and
    # builds its own app (and engine) from the settings resolved here.
    settings_to_environment(settings)
    uvicorn.run(FACTORY, factory=True, workers=count, host=host, port=port, log_level=log_level)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        found: int | None = counter()
        return found or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def default_workers(settings: Settings) -> int:
    """1 on SQLite, the CPU count on PostgreSQL.

    SQLite lets one connection write at a time, across processes too: more
    workers on one file would add processes that wait on each other's writes
    (reads would still spread). PostgreSQL takes writers concurrently, so a
    process per core uses the machine.
    """
    return cpu_count() if settings.database.dialect == "postgresql" else 1


def _where(host: str, port: int, workers: int, settings: Settings) -> str:
    """What to open and what to point agents at, as lines a person can copy."""
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
            f"  dashboard  {base}/  (sign in with an API key: flightlog api-key create)",
            f"  API docs   {base}/docs",
            "  OpenTelemetry: point exporters here (docs/connect-agents.md):",
            f"    export OTEL_EXPORTER_OTLP_ENDPOINT={base}",
            '    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20<your API key>"',
        ]
    )
