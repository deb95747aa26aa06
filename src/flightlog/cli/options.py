"""Options shared by several commands, and the process-wide CLI state."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from flightlog.db.presence import require_existing_database
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings, get_settings


@dataclass
class CliState:
    """Flags set on the root command that every sub-command honours."""

    debug: bool = False


STATE = CliState()

DatabaseUrlOption = typer.Option(
    None,
    "--database-url",
    "-d",
    help="sqlite:///path.db or postgresql://user@host/db "
    "(default: FLIGHTLOG_DATABASE_URL, DATABASE_URL, then sqlite:///./flightlog.db).",
    show_default=False,
)


def settings_for(database_url: str | None, *, create: bool = False) -> Settings:
    """Settings from the environment, with the command line's URL on top.

    Unless the command is one that creates databases (``create=True``: db
    upgrade, demo, seed, import), a SQLite file that does not exist is refused
    here, before anything could create it or its directory. An in-memory
    database (``sqlite:///:memory:``) is refused by every command.
    """
    settings = get_settings(database_url=database_url)
    if not create or settings.database.is_memory:
        # A command's in-memory database would be gone when it ends: refused, with why.
        require_existing_database(settings.database)
    return settings


def require_head(settings: Settings) -> None:
    """Refuse to work on a database whose schema is not at this version's head."""
    Migrator(settings).require_head()
