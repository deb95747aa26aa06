"""What the columnar sink's tests share: sources on both dialects, the CLI in a process, a probe.

chdb allows one process per data directory and one directory per process for the
life of the process, so no test opens chdb in the pytest worker itself: the sink
runs in ``flightlog sink …`` processes, and what a test asks of the sink directly
goes through ``tests/tools/sink_probe.py`` in a process of its own.

The PostgreSQL source is a database in a cluster of the module's own
(:class:`pg_cluster.PrivateCluster`): the commit watermark waits for every older
transaction of the *cluster* to end, and on the shared server other tests hold
transactions open for as long as they run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cli_runner import url_of
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.settings import Settings
from pg_cluster import PrivateCluster

TOOLS = Path(__file__).parent / "tools"
#: A cycle of the worker copies at most this many rows per table: many cycles, many
#: moments for a kill to land in.
SMALL_BATCH = "40"


class Sources:
    """Migrated empty databases to copy from, per dialect; PostgreSQL in a private cluster."""

    def __init__(self, tmp: Path, settings: Settings) -> None:
        self.tmp = tmp
        self.settings = settings
        self.cluster: PrivateCluster | None = None
        self._template: dict[str, DatabaseUrl] = {}
        self._count = 0

    def fresh(self, dialect: str) -> DatabaseUrl:
        self._count += 1
        if dialect == "sqlite":
            url = DatabaseUrl.parse(f"sqlite:///{self.tmp / f'source{self._count}.db'}")
            Migrator(self.settings, url).upgrade("head")
            return url
        if self.cluster is None:
            self.cluster = PrivateCluster()
            self.cluster.start()
        url = self.cluster.create_database(f"source{self._count}")
        Migrator(self.settings, url).upgrade("head")
        return url

    def remove(self) -> None:
        if self.cluster is not None:
            self.cluster.remove()


def module_sources(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[Sources]:
    """Body of a module's ``sources`` fixture: fresh sources, the private cluster removed after."""
    found = Sources(tmp_path_factory.mktemp("sink-sources"), settings)
    yield found
    found.remove()


def environment(database: DatabaseUrl, sink_url: str, **extra: str) -> dict[str, str]:
    """A process environment with only these Flightlog settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
    env.update(
        {
            "FLIGHTLOG_DATABASE_URL": url_of(database),
            "FLIGHTLOG_SINK_URL": sink_url,
            "FLIGHTLOG_SINK_POLL_SECONDS": "0.2",
            "FLIGHTLOG_SINK_RETENTION_DAYS": "3650",
            **extra,
        }
    )
    return env


def flightlog(
    env: Mapping[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``flightlog *args`` in a process of its own; its exit code is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", "flightlog", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(env: Mapping[str, str], *args: str, log: Path) -> subprocess.Popen[str]:
    """``flightlog *args`` left running, its output in ``log``."""
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flightlog", *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def verified(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """``flightlog sink verify --json``: every table's counts and checksums on both sides."""
    done = flightlog(env, "sink", "verify", "--json")
    assert done.returncode in (0, 1), done.stderr
    checks: list[dict[str, Any]] = json.loads(done.stdout)
    return checks


def probe(sink_url: str, questions: list[dict[str, Any]]) -> list[Any]:
    """Answers of the sink's aggregates to ``questions``, from a process that owns the sink."""
    done = subprocess.run(
        [sys.executable, str(TOOLS / "sink_probe.py"), sink_url],
        input=json.dumps(questions),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers: list[Any] = json.loads(done.stdout)
    return answers
