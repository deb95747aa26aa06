"""Issue 10's CLI hardening: relative downgrade targets, and no databases made by accident."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from cli_runner import Cli, make_cli
from cli_runner import one_sentence as _one_sentence
from cli_runner import url_of as _url
from flightlog import ConfigurationError, MigrationError, open_store
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.ops.jsonl_format import FORMAT_NAME, FORMAT_VERSION, RowDigest, dumps
from flightlog.settings import Settings, get_settings
from postgres_server import PostgresServer, _conninfo


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return make_cli(monkeypatch, capsys, tmp_path)


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


# --- No database is created by accident -------------------------------------------------

#: Commands that only read (or change what is there): none may create a database.
READ_ONLY_COMMANDS: list[tuple[str, ...]] = [
    ("db", "current"),
    ("db", "check"),
    ("db", "downgrade", "-1", "--yes"),
    ("db", "downgrade", "base", "--yes"),
    ("stats",),
    ("stats", "--json"),
    ("export", "out.jsonl"),
    ("export", "-"),
    ("purge", "--older-than", "90d", "--yes"),
    ("purge", "--older-than", "90d", "--dry-run"),
    ("api-key", "list"),
    ("api-key", "create", "--name", "ci"),
    ("api-key", "revoke", "fl_00000000"),
    ("serve", "--port", "1"),
]


def _tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture
def missing_url(
    dialect: str, tmp_path: Path, postgres_server: PostgresServer | None
) -> DatabaseUrl:
    """A database that does not exist: a SQLite path in missing directories, or a
    PostgreSQL database name that was never created."""
    if dialect == "sqlite":
        return DatabaseUrl.parse(f"sqlite:///{tmp_path / 'no' / 'such' / 'flightlog.db'}")
    if postgres_server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    return DatabaseUrl.parse(
        postgres_server.url.url.set(database=f"flightlog_missing_{uuid.uuid4().hex[:12]}")
    )


def _postgres_database_exists(server: PostgresServer, url: DatabaseUrl) -> bool:
    with psycopg.connect(_conninfo(server.url)) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.url.database,)
        ).fetchone()
    return found is not None


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_read_only_commands_never_create_a_database(
    command: tuple[str, ...],
    missing_url: DatabaseUrl,
    tmp_path: Path,
    postgres_server: PostgresServer | None,
    cli: Cli,
) -> None:
    before = _tree(tmp_path)
    code, _, err = cli(*command, "-d", _url(missing_url))
    assert code != 0
    message = _one_sentence(err)
    assert _tree(tmp_path) == before  # no file, no directory
    if missing_url.dialect == "sqlite":
        assert "No Flightlog database at" in message
        assert "flightlog db upgrade" in message
    else:
        assert postgres_server is not None
        assert f'database "{missing_url.url.database}" does not exist' in message
        assert not _postgres_database_exists(postgres_server, missing_url)


async def test_open_store_without_upgrade_refuses_a_missing_database(
    missing_url: DatabaseUrl, tmp_path: Path, test_settings: Settings
) -> None:
    before = _tree(tmp_path)
    with pytest.raises(MigrationError, match=r"flightlog db upgrade|Cannot reach the database"):
        async with open_store(_url(missing_url), settings=test_settings, upgrade=False):
            pass
    assert _tree(tmp_path) == before


@pytest.mark.sqlite_only
async def test_starting_the_app_on_a_missing_database_creates_nothing(
    dialect: str, missing_url: DatabaseUrl, tmp_path: Path, test_settings: Settings
) -> None:
    from flightlog.api import create_app

    before = _tree(tmp_path)
    app = create_app(test_settings.model_copy(update={"database_url": _url(missing_url)}))
    with pytest.raises(MigrationError, match="No Flightlog database"):
        async with app.router.lifespan_context(app):
            pass
    assert _tree(tmp_path) == before


#: Commands that may create a database, each given what it needs to get that far.
CREATING_COMMANDS: list[tuple[str, ...]] = [
    ("db", "upgrade"),
    ("demo",),
    ("seed",),
    ("import", "dump.jsonl"),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", READ_ONLY_COMMANDS + CREATING_COMMANDS, ids=" ".join)
def test_an_uncreatable_path_is_one_sentence(
    dialect: str, command: tuple[str, ...], tmp_path: Path, cli: Cli
) -> None:
    empty_export = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "scope": {"kind": "all"}}
    (tmp_path / "dump.jsonl").write_text(f"{dumps(empty_export)}\n{dumps(RowDigest().trailer())}\n")
    (tmp_path / "a-file").write_text("not a directory")
    before = _tree(tmp_path)
    code, _, err = cli(*command, "-d", f"sqlite:///{tmp_path / 'a-file' / 'flightlog.db'}")
    assert code == 1
    message = _one_sentence(err)
    assert "a-file" in message
    assert _tree(tmp_path) == before


@pytest.mark.sqlite_only
def test_upgrade_creates_the_database_and_its_directories(
    dialect: str, tmp_path: Path, test_settings: Settings, cli: Cli
) -> None:
    url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'new' / 'dir' / 'flightlog.db'}")
    code, _, err = cli("db", "upgrade", "-d", _url(url))
    assert code == 0, err
    assert Migrator(test_settings, url).current() == Migrator(test_settings, url).head()
    code, out, err = cli("db", "current", "-d", _url(url))
    assert code == 0, err
    assert "(head)" in out


def test_import_creates_and_upgrades_a_new_database(
    fresh_url: DatabaseUrl, tmp_path: Path, test_settings: Settings, cli: Cli
) -> None:
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'source.db'}")
    assert cli("db", "upgrade", "-d", _url(source))[0] == 0
    code, _, err = cli("export", "dump.jsonl", "-d", _url(source))
    assert code == 0, err
    if fresh_url.dialect == "sqlite":
        fresh_url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'new' / 'restored.db'}")
    code, _, err = cli("import", "dump.jsonl", "-d", _url(fresh_url))
    assert code == 0, err
    migrator = Migrator(test_settings, fresh_url)
    assert migrator.current() == migrator.head()


# --- A bad setting in the environment is one sentence -----------------------------------

#: A variable, a value it refuses, and what the sentence must say it takes.
BAD_SETTINGS = [
    (
        "FLIGHTLOG_SSL_MODE",
        "bogus",
        "takes one of disable, allow, prefer, require, verify-ca, verify-full",
    ),
    ("FLIGHTLOG_POOL_SIZE", "abc", "takes a whole number from 1 to 500"),
    ("FLIGHTLOG_ECHO_SQL", "maybe", "takes true or false"),
]
EVERY_COMMAND = [("db", "history"), *READ_ONLY_COMMANDS, *CREATING_COMMANDS]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=" ".join)
@pytest.mark.parametrize(("variable", "value", "takes"), BAD_SETTINGS, ids=lambda v: str(v)[:20])
def test_a_bad_setting_in_the_environment_is_one_sentence(
    command: tuple[str, ...],
    variable: str,
    value: str,
    takes: str,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 10 review: every command names the variable, its value and what it accepts, in
    one sentence and exit 1, instead of pydantic's traceback; nothing is created."""
    empty_export = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "scope": {"kind": "all"}}
    (tmp_path / "dump.jsonl").write_text(f"{dumps(empty_export)}\n{dumps(RowDigest().trailer())}\n")
    before = _tree(tmp_path)
    monkeypatch.setenv(variable, value)
    code, _, err = cli(*command)
    assert code == 1
    message = _one_sentence(err)
    assert message.startswith(
        f"Error: The environment variable {variable} is {value!r}, but it {takes}"
    )
    assert message.endswith("; fix or unset it.")
    assert _tree(tmp_path) == before


def test_flightlog_serve_reports_a_bad_setting_in_one_sentence(tmp_path: Path) -> None:
    """The console script itself, in its own process, as an operator starts the server."""
    script = Path(sys.executable).parent / "flightlog"
    env = {
        **os.environ,
        "FLIGHTLOG_POOL_SIZE": "abc",
        "FLIGHTLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'flightlog.db'}",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [str(script), "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert _one_sentence(result.stderr) == (
        "Error: The environment variable FLIGHTLOG_POOL_SIZE is 'abc', but it takes a whole "
        "number from 1 to 500; fix or unset it."
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_get_settings_raises_configuration_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one place the translation happens, for the Python API too (open_store, create_app)."""
    monkeypatch.setenv("FLIGHTLOG_SSL_MODE", "bogus")
    monkeypatch.setenv("FLIGHTLOG_POOL_TIMEOUT_SECONDS", "-1")
    with pytest.raises(ConfigurationError) as raised:
        get_settings()
    assert raised.value.message == (
        "The environment variable FLIGHTLOG_SSL_MODE is 'bogus', but it takes one of disable, "
        "allow, prefer, require, verify-ca, verify-full; the environment variable "
        "FLIGHTLOG_POOL_TIMEOUT_SECONDS is '-1', but it takes a number greater than 0; "
        "fix or unset them."
    )
    monkeypatch.delenv("FLIGHTLOG_SSL_MODE")
    monkeypatch.delenv("FLIGHTLOG_POOL_TIMEOUT_SECONDS")
    with pytest.raises(ConfigurationError, match="The setting pool_size is '0', but it takes"):
        get_settings(pool_size=0)
