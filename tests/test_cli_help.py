"""Every command's ``--help`` shows an example a person can copy (issue 6's manners)."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from flightlog.cli.app import app


def _paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every group and command below ``command``, as the words that name it."""
    found = [path] if path else []
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        found.extend(_paths(sub, (*path, name)))
    return found


def test_every_command_and_group_shows_an_example_in_its_help() -> None:
    paths = _paths(typer.main.get_command(app))
    assert ("serve",) in paths
    assert ("api-key", "create") in paths
    runner = CliRunner()
    missing = []
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        if "Example" not in result.output:
            missing.append(" ".join(path))
    assert missing == []
