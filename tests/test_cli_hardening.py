"""Issue 10's CLI hardening: relative downgrade targets, and no databases made by accident."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flightlog.cli import main
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """The console script's ``main()`` in this process: exit code, stdout, stderr."""
    monkeypatch.chdir(tmp_path)
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


def _url(url: DatabaseUrl) -> str:
    return url.url.render_as_string(hide_password=False)


def _one_sentence(err: str) -> str:
    """The error a user sees, joined across the console's wrapping; never a traceback."""
    assert "Traceback" not in err
    text = " ".join(err.split())
    assert text, "no error message at all"
    return text


def test_downgrade_takes_relative_targets_and_upgrades_back(
    fresh_url: DatabaseUrl, test_settings: Settings, cli: Cli
) -> None:
    url = _url(fresh_url)
    migrator = Migrator(test_settings, fresh_url)
    revisions = [rev.revision for rev in reversed(migrator.history())]  # oldest first
    head = migrator.head()
    assert revisions[-1] == head
    assert len(revisions) >= 3
    assert cli("db", "upgrade", "-d", url)[0] == 0

    code, out, err = cli("db", "downgrade", "-1", "--yes", "-d", url)
    assert code == 0, err
    assert migrator.current() == revisions[-2]
    assert f"{head} -> {revisions[-2]}" in out

    code, _, err = cli("db", "downgrade", "--yes", "-d", url, "-2")  # after the options too
    assert code == 0, err
    assert migrator.current() == (revisions[-4] if len(revisions) >= 4 else None)

    code, _, err = cli("db", "upgrade", "-d", url)
    assert code == 0, err
    assert migrator.current() == head
    assert migrator.check() == []


def test_downgrade_refuses_unknown_targets_in_one_sentence(
    fresh_url: DatabaseUrl, test_settings: Settings, cli: Cli
) -> None:
    url = _url(fresh_url)
    assert cli("db", "upgrade", "-d", url)[0] == 0
    head = Migrator(test_settings, fresh_url).head()
    too_far = f"-{len(Migrator(test_settings, fresh_url).history()) + 3}"
    code, _, err = cli("db", "downgrade", too_far, "--yes", "-d", url)
    assert code == 1
    assert "flightlog db history" in _one_sentence(err)
    code, _, err = cli("db", "downgrade", "nosuchrev", "--yes", "-d", url)
    assert code == 1
    assert "flightlog db history" in _one_sentence(err)
    # A misspelt option is not taken for a revision.
    code, _, err = cli("db", "downgrade", "--yse", "-d", url)
    assert code == 2
    assert "neither a revision nor an option" in _one_sentence(err)
    assert Migrator(test_settings, fresh_url).current() == head
