"""Defects a review found in the tracer, each on real databases: what must hold now.

An embedded tracer started before its database comes up records everything
once it does; one record that cannot be prepared does not stop the worker;
a forked child records its own runs (and never the parent's twice).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flightlog import RunStatus
from flightlog.db.engine import create_sync_engine
from flightlog.settings import Settings
from flightlog.tracing import Tracer
from pg_cluster import PrivateCluster
from tracing_support import FAST, Rows, url_text
from waiting import wait_until

TIMEOUT = 120.0


@pytest.fixture
def stopped_cluster() -> Iterator[PrivateCluster]:
    """A private cluster with a migrated database ``flightlog``, stopped."""
    own = PrivateCluster()
    try:
        own.start()
        own.create_database("flightlog")
        own.stop()
        yield own
    finally:
        own.remove()


@pytest.mark.slow
def test_embedded_tracer_started_before_its_database_records_everything_once_it_is_up(
    stopped_cluster: PrivateCluster, test_settings: Settings
) -> None:
    url = stopped_cluster.url("flightlog")
    tracer = Tracer.embedded(url_text(url), settings=test_settings, config=FAST)
    try:
        with tracer.run(title="Before the database") as run:
            assert all(run.event("log", content=f"early {i}") for i in range(20))
        wait_until(lambda: tracer.stats.failed_attempts > 0, TIMEOUT, "a failed open")
        assert tracer.stats.refused == 0, tracer.stats
        stopped_cluster.start()
        assert tracer.flush(TIMEOUT), tracer.stats
        with tracer.run(title="After the database came") as later:
            later.event("log", content="late")
        assert tracer.flush(TIMEOUT), tracer.stats
        stats = tracer.stats
        assert (stats.refused, stats.dropped, stats.pending) == (0, 0, 0), stats
        engine = create_sync_engine(test_settings, url=url)
        try:
            rows = Rows(engine)
            first = rows.run(run.id.get(TIMEOUT))
            assert first.status is RunStatus.COMPLETED
            assert [e.content for e in rows.events(run.id.get(TIMEOUT), "LOG")] == [
                f"early {i}" for i in range(20)
            ]
            assert rows.run(later.id.get(TIMEOUT)).status is RunStatus.COMPLETED
            assert len(rows.events(later.id.get(TIMEOUT), "LOG")) == 1
        finally:
            engine.dispose()
    finally:
        tracer.close(timeout=30)
