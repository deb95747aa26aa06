"""Purge deletes only what is older than the cutoff; stats report what is there."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from flightlog import ValidationError
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import Event, MetricPoint
from flightlog.ops.purge import parse_age, purge
from flightlog.settings import Settings
from flightlog.store import open_store

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=10)


async def _history(url: DatabaseUrl, settings: Settings) -> dict[str, int]:
    async with open_store(
        url.url.render_as_string(hide_password=False), settings=settings
    ) as store:
        task = await store.tasks.create(title="old and new")
        async with store.transaction() as s:
            old_parent = Event(event_type="LOG", task_id=task.id, content="old", created_at=OLD)
            s.add(old_parent)
            await s.flush()
            child = Event(
                event_type="LOG",
                task_id=task.id,
                content="recent child of an old event",
                created_at=RECENT,
                parent_event_id=old_parent.id,
            )
            s.add_all(
                [child]
                + [Event(event_type="LOG", task_id=task.id, created_at=OLD) for _ in range(11)]
            )
            s.add_all(
                [MetricPoint(task_id=task.id, name="m", value=1, recorded_at=OLD) for _ in range(7)]
                + [MetricPoint(task_id=task.id, name="m", value=2, recorded_at=RECENT)]
            )
            await s.flush()
            return {
                "child": child.id,
                "task_events": 1 + 1 + 1 + 11,
            }  # creation, parent, child, old


def _remaining(url: DatabaseUrl, settings: Settings) -> tuple[list[datetime], list[datetime]]:
    engine = create_sync_engine(settings, url=url)
    with engine.connect() as connection:
        events = list(connection.scalars(select(Event.created_at)))
        points = list(connection.scalars(select(MetricPoint.recorded_at)))
    engine.dispose()
    return events, points


async def test_purge_deletes_only_old_rows_in_batches(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    ids = await _history(fresh_head_url, test_settings)
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    cutoff = NOW - timedelta(days=90)
    dry = purge(engine, cutoff=cutoff, dry_run=True)
    assert (dry.events, dry.metric_points) == (12, 7)
    assert len(_remaining(fresh_head_url, test_settings)[0]) == ids["task_events"]
    report = purge(engine, cutoff=cutoff, batch_size=5)
    assert (report.events, report.metric_points) == (12, 7)
    with engine.connect() as connection:
        child = connection.execute(select(Event).where(Event.id == ids["child"])).one()
    engine.dispose()
    events, points = _remaining(fresh_head_url, test_settings)
    assert len(events) == 2
    assert all(t >= cutoff for t in events)
    assert points == [RECENT]
    assert child.parent_event_id is None  # nothing dangling: the reference was cleared


@pytest.mark.parametrize("bad", ["90", "0d", "-3d", "ninety days", "5y"])
def test_ages_must_be_readable(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"e\.g\. 90d"):
        parse_age(bad)
    assert parse_age("2w") == timedelta(weeks=2)


@pytest.mark.parametrize("huge", ["99999999d", "999999999999d", "36526d", "10000000w"])
def test_seed004_purge_and_key_ages_beyond_100_years_are_refused_not_a_traceback(
    huge: str,
) -> None:
    """--older-than / --expires-in this long once overflowed the date (OverflowError)."""
    with pytest.raises(ValidationError, match=r"longer than 100 years"):
        parse_age(huge)
    assert parse_age("36525d") == timedelta(days=36525)
    assert parse_age("5217w") == timedelta(weeks=5217)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flightlog", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=300,
    )


async def test_cli_stats_json_purge_export_import(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    url = fresh_url.url.render_as_string(hide_password=False)
    Migrator(test_settings, fresh_url).upgrade("head")
    await _history(fresh_url, test_settings)
    stats = _cli("stats", "--json", "-d", url, cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    document = json.loads(stats.stdout)
    assert set(document) == {
        "busiest_agents",
        "counts",
        "database",
        "pending_approvals",
        "revision",
        "run_success_rate",
        "runs_by_status",
        "size_bytes",
        # Seed 004's get_comprehensive_stats(): store.stats()'s fields.
        "dialect",
        "pool",
        "index_usage",
        "collected_at",
    }
    assert document["counts"]["events"] == 14
    assert document["counts"]["metric_points"] == 8
    assert document["revision"] == Migrator(test_settings, fresh_url).head()
    assert document["size_bytes"] > 0
    refused = _cli("purge", "--older-than", "90d", "-d", url, cwd=tmp_path)
    assert refused.returncode != 0  # no --yes and no terminal to confirm on
    assert (
        json.loads(_cli("stats", "--json", "-d", url, cwd=tmp_path).stdout)["counts"]["events"]
        == 14
    )
    done = _cli("purge", "--older-than", "90d", "--yes", "-d", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Deleted 12 events and 7 metric points" in " ".join(done.stdout.split())
    dump = tmp_path / "dump.jsonl"
    exported = _cli("export", str(dump), "-d", url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    again = _cli("import", str(dump), "-d", url, cwd=tmp_path)
    assert again.returncode == 1
    assert "Traceback" not in again.stderr
    assert "Nothing was imported" in " ".join(again.stderr.split())
