"""The sink's TTL drops points older than FLIGHTLOG_SINK_RETENTION_DAYS; the database keeps
them. The metric name list counts every point of a customer, so the sink answers it only
while it holds all of them: otherwise the database does, with its numbers (a review found
the dashboard listing ``both (2 points)`` and no ``old_metric`` at all)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cli_runner import url_of
from flightlog.settings import Settings
from flightlog.store import open_store
from flightlog.web.session import COOKIE
from serving import serving
from sink_support import Sources, environment, flightlog, module_sources
from waiting import wait_until


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Sources]:
    yield from module_sources(tmp_path_factory, test_settings)


def _listed(base: str, key: str, path: str) -> str:
    response = httpx.get(f"{base}{path}", cookies={COOKIE: key}, timeout=60)
    assert response.status_code == 200
    return response.text


_OPTION = re.compile(r"<option value=\"([^\"]+)\"[^>]*>[^<]*\((\d+) points\)")


def _names(page: str) -> dict[str, int]:
    """The metric page's names, each with its count of points."""
    return {name: int(points) for name, points in _OPTION.findall(page)}


async def _record(url: str, old: datetime, recent: datetime, **points: int) -> str:
    """A customer's task with ``name=n`` points at ``old`` (and two ``both`` at ``recent``)."""
    async with open_store(url, upgrade=False) as store:
        task = await store.tasks.create(title="metrics")
        batch = [
            {"name": name, "value": float(i), "task_id": task.id, "recorded_at": old}
            for name, count in points.items()
            for i in range(count)
        ]
        batch += [
            {"name": "both", "value": 1.0, "task_id": task.id, "recorded_at": recent}
            for _ in range(2)
        ]
        await store.metrics.record_batch(batch)
        return (await store.api_keys.create(f"k{uuid.uuid4().hex}", scopes=["read"])).key


@pytest.mark.slow
async def test_metric_names_older_than_the_retention_are_counted_by_the_database(
    dialect: str, sources: Sources, tmp_path: Path
) -> None:
    source = sources.fresh(dialect)
    now = datetime.now(UTC)
    key = await _record(
        url_of(source), now - timedelta(days=500), now - timedelta(days=1), old_metric=5, both=5
    )
    sink = tmp_path / "sink"
    env = environment(source, f"chdb://{sink}", FLIGHTLOG_SINK_RETENTION_DAYS="400")
    done = flightlog(env, "sink", "run", "--once", "-q")
    assert done.returncode == 0, done.stderr
    with serving(url_of(source), tmp_path, env=env) as served:
        # The sink answers this process's reads once its worker thread has caught up.
        wait_until(
            lambda: "Counted by the columnar sink" in _listed(served.base, key, "/insights"),
            120,
            "the sink to answer /insights",
        )
        page = _listed(served.base, key, "/metrics")
    assert _names(page) == {"both": 7, "old_metric": 5}
