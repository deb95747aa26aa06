"""The console script run in this process, as a user runs it: exit code, stdout, stderr.

``main()`` (not Typer's ``CliRunner``) so that errors go through the CLI's own
mapping to one sentence and an exit code, exactly as in a terminal.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from flightlog.cli import main
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

Cli = Callable[..., tuple[int, str, str]]


def make_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cwd: Path) -> Cli:
    """A runner working in ``cwd``, with no database URL from the environment."""
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FLIGHTLOG_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["flightlog", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def url_of(url: DatabaseUrl) -> str:
    """The URL as a user types it (password included)."""
    return url.url.render_as_string(hide_password=False)


def one_sentence(err: str) -> str:
    """The error a user sees, joined across the console's wrapping; never a traceback."""
    assert "Traceback" not in err
    text = " ".join(err.split())
    assert text, "no error message at all"
    return text


@dataclass(frozen=True)
class CliCase:
    """The console script on a fresh database of the test's dialect (the ``cli_case`` fixture).

    The runner works in the test's directory; the CLI (``FLIGHTLOG_BLOB_DIR``) and
    the Stores a test opens with ``settings`` keep blobs in one directory, so what
    one writes the other finds and removes.
    """

    database: DatabaseUrl
    #: The database URL as a user types it after ``-d``.
    url: str
    settings: Settings
    run: Cli
    monkeypatch: pytest.MonkeyPatch

    def answer(self, text: str) -> None:
        """What the user types at the CLI's next confirmation prompt."""
        self.monkeypatch.setattr("sys.stdin", io.StringIO(text))

    def columns(self, width: int) -> None:
        """The terminal's width for the next commands (the runner starts at 200)."""
        self.monkeypatch.setenv("COLUMNS", str(width))
