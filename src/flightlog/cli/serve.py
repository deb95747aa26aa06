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
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
