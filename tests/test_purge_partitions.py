"""``flightlog purge`` drops whole months on PostgreSQL and deletes only the edge; same result
on SQLite, where everything is deleted in batches.

Two old months, an edge month the cutoff falls in, and recent rows; a deleted
customer's audit records (kept whatever their age) in the oldest month; a
recent event whose parent is purged and one whose parent is kept. The counts
(dry run and real) and the rows left are the same on both dialects; on
PostgreSQL the old months' partitions are gone (the one holding kept rows is
replaced by one holding only them, same ids) and the edge month's stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import EventType
from flightlog.ops import purge_partitions
from flightlog.ops.purge import purge
from flightlog.settings import Settings

CUTOFF = datetime(2025, 3, 15, tzinfo=UTC)
DROPPED = ("events_p2025_01", "events_p2025_02", "metric_points_p2025_01", "metric_points_p2025_02")


def _at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 8, tzinfo=UTC)


@dataclass(frozen=True)
class History:
    kept: list[int]
    orphan: int
    still_a_child: int
    kept_parent: int


def _history(engine: Engine) -> History:
    with Session(engine, expire_on_commit=False) as db:
        task = f.task(db)

        def events(month: int, day: int, count: int, **kw: Any) -> list[m.Event]:
            return [f.event(db, task, created_at=_at(month, day), **kw) for _ in range(count)]

        def points(month: int, day: int, count: int) -> None:
            for _ in range(count):
                f.metric(db, task, recorded_at=_at(month, day))

        events(1, 3, 20)
        kept = [
            m.Event(event_type=EventType.AUDIT, content="customer deleted", created_at=_at(1, d))
            for d in (5, 6)
        ]
        db.add_all(kept)
        points(1, 9, 10)
        [parent] = events(2, 2, 1)
        events(2, 10, 4)
        points(2, 11, 5)
        events(3, 1, 4)
        events(3, 20, 3)
        points(3, 2, 2)
        points(3, 25, 2)
        db.flush()
        orphan = f.event(db, task, parent_event_id=parent.id)
        child = f.event(db, task, parent_event_id=kept[0].id)
        db.commit()
        return History([e.id for e in kept], orphan.id, child.id, kept[0].id)


def _left(engine: Engine) -> tuple[list[int], list[Any], int]:
    with Session(engine) as db:
        ids = list(db.scalars(select(m.Event.id).order_by(m.Event.id)))
        parents = list(db.scalars(select(m.Event.parent_event_id).order_by(m.Event.id)))
        points = len(db.scalars(select(m.MetricPoint.id)).all())
        return ids, parents, points


def _partitions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                text(
                    "SELECT c.relname FROM pg_inherits AS i "
                    "JOIN pg_class AS c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent IN ('events'::regclass, 'metric_points'::regclass)"
                )
            ).scalars()
        )


@pytest.fixture
def engine(fresh_head_url: DatabaseUrl, test_settings: Settings) -> Any:
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    yield engine
    engine.dispose()


def test_purge_drops_old_months_whole_and_deletes_only_at_the_edge(
    engine: Engine, dialect: str
) -> None:
    history = _history(engine)
    ids_before, _, points_before = _left(engine)

    preview = purge(engine, cutoff=CUTOFF, dry_run=True)
    report = purge(engine, cutoff=CUTOFF, batch_size=3)

    # 20 + 5 + 4 events (the two kept ones stay), 10 + 5 + 2 points: exact, both ways.
    assert (preview.events, preview.metric_points) == (29, 17)
    assert (report.events, report.metric_points) == (29, 17)
    ids, parents, points = _left(engine)
    assert len(ids) == len(ids_before) - 29
    assert points == points_before - 17
    assert set(history.kept) <= set(ids)
    by_id = dict(zip(ids, parents, strict=True))
    assert by_id[history.orphan] is None  # its parent was purged
    assert by_id[history.still_a_child] == history.kept_parent
    if dialect == "postgresql":
        assert preview.partitions == report.partitions == DROPPED
        left = _partitions(engine)
        # The oldest month held kept rows: replaced by a partition of only them.
        assert "events_p2025_01" in left
        assert {"events_p2025_02", "metric_points_p2025_01", "metric_points_p2025_02"}.isdisjoint(
            left
        )
        assert {"events_p2025_03", "metric_points_p2025_03"} <= left
        with engine.connect() as connection:
            home = (
                connection.execute(text("SELECT id FROM events_p2025_01 ORDER BY id"))
                .scalars()
                .all()
            )
        assert list(home) == history.kept
    else:
        assert report.partitions == ()
    # The oldest month now holds only kept rows: nothing to drop there, in a dry run too.
    assert purge(engine, cutoff=CUTOFF, dry_run=True).partitions == ()
    again = purge(engine, cutoff=CUTOFF)
    assert (again.events, again.metric_points, again.partitions) == (0, 0, ())


@pytest.mark.postgres_only
def test_a_month_whose_locks_are_busy_is_purged_by_batches_instead(
    engine: Engine, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _history(engine)
    monkeypatch.setattr(purge_partitions, "LOCK_TIMEOUT_MS", 200)
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM events"))  # holds the table until it ends
        report = purge(engine, cutoff=CUTOFF, batch_size=4)
        reader.rollback()
    assert (report.events, report.metric_points) == (29, 17)
    assert report.partitions == ("metric_points_p2025_01", "metric_points_p2025_02")
    assert {"events_p2025_01", "events_p2025_02"} <= _partitions(engine)
    ids, parents, _ = _left(engine)
    assert set(history.kept) <= set(ids)
    assert dict(zip(ids, parents, strict=True))[history.orphan] is None
