"""``flightlog serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import typer

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    log_level: str = typer.Option("info", help="uvicorn log level: debug, info, warning, error."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboard (at /); both take API keys.

    The schema must be at head: run [bold]flightlog db upgrade[/bold] first.

    Example: [bold]flightlog api-key create --name ci && flightlog serve --port 8000[/bold]
    """
    # Imported here so that every other command starts without loading the web stack.
    import uvicorn

    from flightlog.api import create_app

    settings = settings_for(database_url)
    require_head(settings)
    typer.echo(_where(host, port))
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


def _where(host: str, port: int) -> str:
    """What to open and what to point agents at, as lines a person can copy."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    return "\n".join(
        [
            f"Flightlog at {base}",
            f"  dashboard  {base}/  (sign in with an API key: flightlog api-key create)",
            f"  API docs   {base}/docs",
            "  OpenTelemetry: point exporters here (docs/connect-agents.md):",
            f"    export OTEL_EXPORTER_OTLP_ENDPOINT={base}",
            '    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20<your API key>"',
        ]
    )
