"""``flightlog sink …`` refuses what it cannot use in one sentence that says what to do:
never a traceback, and nothing created on the way (found by an outside review)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import one_sentence
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import ConfigurationError
from flightlog.settings import Settings
from flightlog.sink.url import SinkUrl
from pg_cluster import free_port
from sink_support import Sources, environment, flightlog, module_sources
from waiting import wait_until


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Sources]:
    yield from module_sources(tmp_path_factory, test_settings)


@pytest.fixture(scope="module")
def source(sources: Sources) -> DatabaseUrl:
    """A migrated SQLite database: these refusals come before any row is read."""
    return sources.fresh("sqlite")


#: What chdb (or the status file) would have made in a directory it was given.
_MADE = ("data", "metadata", "store", "flightlog-sink-status.json")


@pytest.mark.parametrize(
    "spelling", ["chdb:///", "chdb:////", "chdb:///.", "chdb:///..", "chdb:///?database=x"]
)
def test_a_chdb_url_naming_the_filesystem_root_is_refused(spelling: str) -> None:
    with pytest.raises(ConfigurationError, match="names no directory"):
        SinkUrl.parse(spelling)


@pytest.mark.parametrize("command", ["run", "status", "verify"])
def test_the_cli_refuses_the_root_as_a_chdb_directory_before_making_anything(
    source: DatabaseUrl, command: str
) -> None:
    """Never run without the fix against / itself: the refusal comes from the URL alone."""
    before = {name: (Path("/") / name).exists() for name in _MADE}
    for env, args in (
        (environment(source, "chdb:///"), ()),
        (environment(source, "chdb:///ok"), ("--sink-url", "chdb:///")),
    ):
        done = flightlog(env, "sink", command, *args, "--once" if command == "run" else "--json")
        assert done.returncode == 1
        message = one_sentence(done.stderr)
        assert "names no directory but the filesystem root" in message
    assert {name: (Path("/") / name).exists() for name in _MADE} == before


def _without(module: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``flightlog *args`` in a process where ``module`` cannot be imported (as if the
    ``sink`` extra were not installed: a None in sys.modules fails its import)."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; sys.argv = ['flightlog', *{list(args)!r}]; "
        "from flightlog.cli.app import main; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("module", "sink"),
    [("chdb", "chdb"), ("clickhouse_connect", "chdb"), ("clickhouse_connect", "clickhouse")],
)
def test_without_the_sink_extra_the_cli_says_to_install_it(
    source: DatabaseUrl, tmp_path: Path, module: str, sink: str
) -> None:
    url = f"chdb://{tmp_path / 'sink'}" if sink == "chdb" else "clickhouse://u:p@127.0.0.1:1/db"
    done = _without(module, environment(source, url), "sink", "run", "--once")
    assert done.returncode == 1, done.stderr
    message = one_sentence(done.stderr)
    assert f"needs the {module} package" in message
    assert "pip install 'flightlog[sink]'" in message


def test_a_chdb_directory_that_cannot_be_made_is_named_in_one_sentence(
    source: DatabaseUrl, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for path, reason in (
        (a_file, "File exists"),
        (a_file / "sink", "Not a directory"),
        (Path("/proc/sink"), ""),
    ):
        done = flightlog(environment(source, f"chdb://{path}"), "sink", "run", "--once")
        assert done.returncode == 1
        message = one_sentence(done.stderr)
        assert f"The chdb sink directory {path} cannot be made or used ({reason}" in message
        assert "give FLIGHTLOG_SINK_URL a directory this user can create and write" in message


@pytest.mark.parametrize("command", ["status", "verify"])
def test_reading_a_chdb_sink_never_made_says_so_and_makes_nothing(
    source: DatabaseUrl, tmp_path: Path, command: str
) -> None:
    missing, empty = tmp_path / "never", tmp_path / "empty"
    empty.mkdir()
    for path in (missing, empty):
        done = flightlog(environment(source, f"chdb://{path}"), "sink", command)
        assert done.returncode == 1
        message = one_sentence(done.stderr)
        assert f"The sink chdb://{path}?database=flightlog holds nothing yet" in message
        assert "run flightlog sink run first" in message
    assert not missing.exists()


@pytest.fixture
def http_service(tmp_path: Path) -> Iterator[int]:
    """A real HTTP server that is not ClickHouse (Python's http.server), on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port), 30, "http.server to listen")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_url_at_another_http_service_is_one_sentence_naming_it(
    source: DatabaseUrl, http_service: int
) -> None:
    url = f"clickhouse://writer:s3cret@127.0.0.1:{http_service}/db"
    done = flightlog(environment(source, url), "sink", "status")
    assert done.returncode == 1
    message = one_sentence(done.stderr)
    assert message == (
        f"Error: The service at 127.0.0.1:{http_service} (clickhouse://writer@127.0.0.1:"
        f"{http_service}/db) is not a ClickHouse server's HTTP interface (it answered HTTP "
        "501): point FLIGHTLOG_SINK_URL at ClickHouse's HTTP port (8123, or 8443 with "
        "clickhouses://)."
    )
    assert "s3cret" not in done.stderr


def test_an_unreachable_server_is_one_clean_sentence(source: DatabaseUrl) -> None:
    port = free_port()
    done = flightlog(
        environment(source, f"clickhouse://u:p@127.0.0.1:{port}/db"), "sink", "run", "--once"
    )
    assert done.returncode == 1
    assert one_sentence(done.stderr) == (
        f"Error: The ClickHouse server clickhouse://u@127.0.0.1:{port}/db did not answer at "
        f"127.0.0.1:{port} (connection refused); start it or fix the host and port in "
        "FLIGHTLOG_SINK_URL."
    )


@pytest.mark.parametrize(
    ("spelling", "said"),
    [
        ("chdb:///tmp/s?foo=bar", "has a parameter the sink does not know (foo)"),
        ("clickhouse://u:p@h:8123/db?databse=x", "the sink does not know (databse)"),
        ("clickhouse://u:p@h:8123/db?database=x", "names two databases ('db' in its path, 'x'"),
    ],
)
def test_unknown_parameters_and_two_databases_are_refused(spelling: str, said: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(said)):
        SinkUrl.parse(spelling)


def test_the_database_may_be_given_once_either_way() -> None:
    assert SinkUrl.parse("clickhouse://u:p@h:8123/db?database=db").database == "db"
    assert SinkUrl.parse("clickhouse://u:p@h:8123?database=x").database == "x"
    assert SinkUrl.parse("chdb:///tmp/s?database=x").database == "x"
