"""The ``metric_points`` indexes after migration 0007 (issue 13, item 5), on both dialects.

0007 drops the two global indexes (``name, recorded_at`` and ``recorded_at``);
its downgrade restores them exactly, and neither direction touches a row. The
reads that remain still reach their rows through an index: a task's or a run's
series, summary and buckets use the task/run-prefixed composites, and the
purge's batches walk the primary key and stop at the batch size instead of
reading and sorting every old row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.ops.purge import oldest_batch
from flightlog.services import metrics as metric_service
from flightlog.settings import Settings

DROPPED = {"ix_metric_points_name_recorded", "ix_metric_points_recorded_at"}
KEPT = {
    "ix_metric_points_task_name_recorded",
    "ix_metric_points_run_name_recorded",
    "ix_metric_points_agent_run_id",
}
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _index_definitions(engine: Engine) -> dict[str, str]:
    """Each index on ``metric_points`` with the SQL the database holds for it."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'metric_points' AND sql IS NOT NULL"
                )
            )
        else:
            rows = connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename = 'metric_points' AND indexname <> 'pk_metric_points'"
                )
            )
        return {str(name): str(sql) for name, sql in rows}


def _points(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    m.MetricPoint.id,
                    m.MetricPoint.task_id,
                    m.MetricPoint.run_id,
                    m.MetricPoint.name,
                    m.MetricPoint.value,
                    m.MetricPoint.labels,
                    m.MetricPoint.recorded_at,
                ).order_by(m.MetricPoint.id)
            )
        ]


def test_0007_round_trip_keeps_every_point_and_restores_the_indexes_exactly(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    migrator = Migrator(test_settings, fresh_url)
    migrator.upgrade("0006")
    engine = create_sync_engine(test_settings, url=fresh_url)
    try:
        with Session(engine) as db, db.begin():
            run = f.run(db)
            db.add_all(
                m.MetricPoint(
                    task_id=run.task_id,
                    run_id=run.id if i % 2 else None,
                    name=("cpu", "tokens")[i % 2],
                    value=i / 4,
                    labels={"i": i},
                    recorded_at=T0 + timedelta(seconds=i),
                )
                for i in range(50)
            )
        before = _index_definitions(engine)
        points = _points(engine)
        assert set(before) == KEPT | DROPPED
        assert len(points) == 50

        migrator.upgrade("0007")
        after = _index_definitions(engine)
        assert set(after) == KEPT
        assert after == {name: sql for name, sql in before.items() if name in KEPT}
        assert _points(engine) == points

        migrator.downgrade("0006")
        assert _index_definitions(engine) == before
        assert _points(engine) == points

        migrator.upgrade("head")
        assert set(_index_definitions(engine)) == KEPT
        assert _points(engine) == points
        assert migrator.check() == []
    finally:
        engine.dispose()


@contextmanager
def _selects_on_metric_points(connection: Connection) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT that reads ``metric_points`` on this connection while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "metric_points" in statement:
            seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


def _plan(session: Session, statement: str, parameters: Any) -> str:
    """The plan of one statement as sent; PostgreSQL is told to avoid sequential scans.

    A table of a few hundred rows would be scanned whole by PostgreSQL whatever
    its indexes: with ``enable_seqscan`` off it takes the best index path there
    is, and shows a sequential scan only when no index can serve the query.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        # The table is partitioned by month (migration 0010): each partition's index is named
        # after the partition; the plan says which of the table's indexes it is.
        parents = dict(
            connection.exec_driver_sql(
                "SELECT c.relname, p.relname FROM pg_inherits AS i "
                "JOIN pg_class AS c ON c.oid = i.inhrelid "
                "JOIN pg_class AS p ON p.oid = i.inhparent WHERE c.relkind = 'i'"
            ).all()
        )
        plan = "\n".join(str(row[0]) for row in rows)
        return re.sub(r"\w+", lambda word: parents.get(word[0], word[0]), plan)
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _full_scan(plan: str) -> bool:
    return "Seq Scan on metric_points" in plan or "SCAN metric_points\n" in plan + "\n"


def _metric_history(session: Session) -> tuple[uuid.UUID, m.TaskRun]:
    owner = f.customer(session)
    run = f.run(session, f.task(session, owner))
    session.add_all(
        m.MetricPoint(
            task_id=run.task_id,
            run_id=run.id if i % 2 else None,
            name=("cpu", "tokens", "latency")[i % 3],
            value=float(i),
            recorded_at=T0 + timedelta(seconds=i),
        )
        for i in range(300)
    )
    session.flush()
    if session.connection().dialect.name == "postgresql":
        # Statistics of the rows above (ANALYZE counts this transaction's own rows;
        # they are rolled back with it), as autovacuum would have them.
        session.execute(text("ANALYZE metric_points"))
    return owner.id, run


def test_metric_reads_use_the_task_and_run_indexes(session: Session, dialect: str) -> None:
    customer_id, run = _metric_history(session)
    reads: list[tuple[str, str, Callable[[], object]]] = []
    for scope, index in (
        ({"task_id": run.task_id}, "ix_metric_points_task_name_recorded"),
        ({"run_id": run.id}, "ix_metric_points_run_name_recorded"),
    ):
        reads += [
            (
                index,
                "series",
                lambda scope=scope: metric_service.series(session, customer_id, "cpu", **scope),
            ),
            (
                index,
                "summary",
                lambda scope=scope: metric_service.summarize(session, customer_id, **scope),
            ),
            (
                index,
                "buckets",
                lambda scope=scope: metric_service.buckets(
                    session, customer_id, "cpu", bucket_seconds=60, **scope
                ),
            ),
        ]
    for index, name, read in reads:
        with _selects_on_metric_points(session.connection()) as statements:
            assert read()
        assert statements, name
        for statement, parameters in statements:
            plan = _plan(session, statement, parameters)
            assert index in plan, f"{name}: {statement}\n{plan}"
            assert not DROPPED & set(plan.split()), plan
            assert not _full_scan(plan), plan


def test_purge_batches_walk_the_primary_key_and_stop_at_the_batch_size(
    session: Session, dialect: str
) -> None:
    _metric_history(session)
    table = m.MetricPoint.__table__
    batch = oldest_batch(table, table.c.recorded_at, T0 + timedelta(seconds=100), 25)
    with _selects_on_metric_points(session.connection()) as statements:
        assert len(session.execute(batch).all()) == 25
    [(statement, parameters)] = statements
    plan = _plan(session, statement, parameters)
    if dialect == "sqlite":
        # The rowid order is the id order: no sort, so the walk stops at the LIMIT.
        assert plan.strip() == "SCAN metric_points", plan
    else:
        # Index Only Scan where the key holds the partition's time (migration 0010).
        assert re.search(r"Index (Only )?Scan using pk_metric_points", plan), plan
        assert "Sort" not in plan, plan
