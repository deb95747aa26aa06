"""``flightlog sink …`` refuses what it cannot use in one sentence that says what to do:
never a traceback, and nothing created on the way (found by an outside review)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import one_sentence
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import ConfigurationError
from flightlog.settings import Settings
from flightlog.sink.url import SinkUrl
from sink_support import Sources, environment, flightlog, module_sources


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
