"""Rules the database keeps itself (migration 0009), on both dialects, for raw SQL too.

Seed 003's ``updated_at`` triggers, seed 004's refusal of dependency cycles
and its partial indexes on the queues, each exercised with the SQL another
tool (or a person at ``psql``) would send, not only through Flightlog's services.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Uuid, bindparam, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import ApprovalStatus, RunStatus, TaskStatus
from flightlog.errors import ValidationError
from flightlog.services import recommendations as recommendation_service
from flightlog.services import runs as run_service
from flightlog.services import task_dependencies
from flightlog.services import tasks as task_service
from flightlog.services._common import is_dependency_cycle, translate_integrity_error
from flightlog.settings import Settings

OLD = datetime(2020, 1, 1, tzinfo=UTC)
#: The text SQLAlchemy's SQLite DATETIME and ``utcnow()`` write: microseconds, no zone.
SQLITE_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


@pytest.fixture
def committing_engine(db_url: DatabaseUrl, test_settings: Settings) -> Iterator[Engine]:
    """An engine whose transactions really commit: PostgreSQL's ``now()`` is per transaction."""
    engine = create_sync_engine(test_settings, url=db_url)
    yield engine
    engine.dispose()


def _uuid(name: str) -> Any:
    return bindparam(name, type_=Uuid())


def _updated_at(connection: Connection, table: str, row_id: uuid.UUID) -> Any:
    stmt = text(f"SELECT updated_at FROM {table} WHERE id = :id").bindparams(_uuid("id"))
    return connection.execute(stmt, {"id": row_id}).scalar_one()


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        assert SQLITE_TIMESTAMP.fullmatch(value), value
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def test_seed003_updated_at_is_set_by_the_database_for_raw_sql_updates(
    committing_engine: Engine, dialect: str
) -> None:
    """A raw UPDATE that does not name updated_at gets the database's current time."""
    with Session(committing_engine, expire_on_commit=False) as session:
        owner = f.customer(session)
        customer_id, task_id = owner.id, f.task(session, owner).id
        session.commit()
    try:
        # A statement that gives updated_at a value of its own keeps it.
        with committing_engine.begin() as connection:
            for table, row_id in (("tasks", task_id), ("customers", customer_id)):
                connection.execute(
                    text(f"UPDATE {table} SET updated_at = :old WHERE id = :id").bindparams(
                        _uuid("id"), bindparam("old", type_=m.Task.updated_at.type)
                    ),
                    {"id": row_id, "old": OLD},
                )
        with committing_engine.connect() as connection:
            assert _as_utc(_updated_at(connection, "tasks", task_id)) == OLD
        before = datetime.now(UTC) - timedelta(seconds=5)
        with committing_engine.begin() as connection:
            connection.execute(
                text("UPDATE tasks SET priority = 7 WHERE id = :id").bindparams(_uuid("id")),
                {"id": task_id},
            )
            connection.execute(
                text("UPDATE customers SET name = 'Raw Co 2' WHERE id = :id").bindparams(
                    _uuid("id")
                ),
                {"id": customer_id},
            )
        with committing_engine.connect() as connection:
            for table, row_id in (("tasks", task_id), ("customers", customer_id)):
                touched = _as_utc(_updated_at(connection, table, row_id))
                assert before <= touched <= datetime.now(UTC) + timedelta(seconds=5), table

        # The ORM's own onupdate and the trigger agree: what the ORM read back is stored.
        with Session(committing_engine, expire_on_commit=False) as session:
            task = session.get_one(m.Task, task_id)
            task.priority = 9
            session.commit()
            orm_value = task.updated_at
        with committing_engine.connect() as connection:
            stored = _updated_at(connection, "tasks", task_id)
            assert _as_utc(stored) == orm_value
            assert orm_value > OLD
    finally:
        with committing_engine.begin() as connection:
            connection.execute(
                text("DELETE FROM customers WHERE id = :id").bindparams(_uuid("id")),
                {"id": customer_id},
            )


@pytest.mark.sqlite_only  # PostgreSQL has no recursive_triggers; its trigger is BEFORE UPDATE
def test_seed003_updated_at_trigger_cannot_loop_with_recursive_triggers_on(
    committing_engine: Engine, dialect: str
) -> None:
    """With recursive triggers turned on, the AFTER UPDATE trigger still ends at once."""
    with committing_engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA recursive_triggers = ON")
        try:
            customer = f.customer(Session(bind=connection))
            for _ in range(3):  # within one statement's millisecond and across them
                connection.execute(
                    text("UPDATE customers SET name = name || '!' WHERE id = :id").bindparams(
                        _uuid("id")
                    ),
                    {"id": customer.id},
                )
            assert SQLITE_TIMESTAMP.fullmatch(_updated_at(connection, "customers", customer.id))
            connection.execute(
                text("DELETE FROM customers WHERE id = :id").bindparams(_uuid("id")),
                {"id": customer.id},
            )
        finally:
            connection.exec_driver_sql("PRAGMA recursive_triggers = OFF")


def _add_edge(session: Session, task_id: uuid.UUID, depends_on_id: uuid.UUID) -> None:
    session.execute(
        text(
            "INSERT INTO task_dependencies (task_id, depends_on_id) VALUES (:task, :depends_on)"
        ).bindparams(_uuid("task"), _uuid("depends_on")),
        {"task": task_id, "depends_on": depends_on_id},
    )


def test_seed004_database_refuses_a_raw_insert_that_closes_a_dependency_cycle(
    session: Session, dialect: str
) -> None:
    owner = f.customer(session)
    a, b, c, d = (f.task(session, owner).id for _ in range(4))
    # A diamond is not a cycle: a -> b -> d and a -> c -> d.
    for task_id, depends_on_id in ((a, b), (b, d), (a, c), (c, d)):
        _add_edge(session, task_id, depends_on_id)
    for closing in ((d, a), (d, b), (b, a)):
        with pytest.raises(IntegrityError) as refused, session.begin_nested():
            _add_edge(session, *closing)
        assert is_dependency_cycle(refused.value)
        translated = translate_integrity_error(refused.value, what="the dependency")
        assert isinstance(translated, ValidationError)
        assert "cycle" in str(translated)
    # An UPDATE that turns an edge around into a cycle is refused as well.
    with pytest.raises(IntegrityError) as refused, session.begin_nested():
        session.execute(
            text(
                "UPDATE task_dependencies SET task_id = :d, depends_on_id = :a "
                "WHERE task_id = :c AND depends_on_id = :d2"
            ).bindparams(_uuid("d"), _uuid("a"), _uuid("c"), _uuid("d2")),
            {"d": d, "a": a, "c": c, "d2": d},
        )
    assert is_dependency_cycle(refused.value)
    count = session.scalar(text("SELECT count(*) FROM task_dependencies"))
    assert count == 4
    assert [t.id for t in task_service.dependencies(session, owner.id, a)] == sorted([b, c])


def test_seed004_database_cycle_refusal_is_the_services_validation_error(
    session: Session, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the service's own check miss a cycle (a race), the trigger's refusal is the
    same ValidationError the check raises, never a driver error."""
    owner = f.customer(session)
    a, b = (f.task(session, owner).id for _ in range(2))
    task_service.add_dependency(session, owner.id, a, b)
    monkeypatch.setattr(task_dependencies, "_reaches", lambda *args: False)
    with pytest.raises(ValidationError, match="would create a cycle"), session.begin_nested():
        task_service.add_dependency(session, owner.id, b, a)


@contextmanager
def _statements(connection: Connection, table: str) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT reading ``table`` on this connection while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


def _plan(session: Session, statement: str, parameters: Any) -> str:
    """The plan of the statement as the service sent it (PostgreSQL told to avoid seq scans)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(str(row[0]) for row in rows)
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _analyze(session: Session, *tables: str) -> None:
    for table in tables:
        session.execute(text(f"ANALYZE {table}"))


def _uses(session: Session, table: str, call: Callable[[], object], index: str) -> None:
    with _statements(session.connection(), table) as seen:
        call()
    assert seen, f"the service read nothing from {table}"
    statement, parameters = seen[0]
    plan = _plan(session, statement, parameters)
    assert index in plan, plan


def test_seed004_ready_queue_reads_the_pending_tasks_partial_index(
    session: Session, dialect: str
) -> None:
    # A queue worth an index: the owner has hundreds of pending tasks, so reading the first
    # five in priority order from the partial index beats fetching and sorting all of them
    # (with a handful, the planner may fairly pick ix_tasks_customer_status_created instead).
    statuses = [TaskStatus.COMPLETED] * 3 + [TaskStatus.RUNNING] + [TaskStatus.PENDING] * 4
    owner = f.customer(session)
    for i in range(480):
        f.task(session, owner, status=statuses[i % len(statuses)], priority=i % 5)
    _analyze(session, "tasks", "task_dependencies")
    _uses(
        session,
        "tasks",
        lambda: task_service.ready_tasks(session, owner.id, limit=5),
        "ix_tasks_pending",
    )


def test_seed004_queued_run_lookup_reads_the_queued_runs_partial_index(
    session: Session, dialect: str
) -> None:
    task = f.task(session)
    for number in range(1, 40):
        f.run(session, task, run_number=number, status=RunStatus.COMPLETED)
    f.run(session, task, run_number=40, status=RunStatus.PENDING)
    _analyze(session, "task_runs")
    found: list[m.TaskRun | None] = []
    _uses(
        session,
        "task_runs",
        lambda: found.append(run_service.queued_run(session, task.id)),
        "ix_task_runs_queued",
    )
    assert [run.run_number if run else None for run in found] == [40]


def test_seed004_approval_queue_reads_the_pending_approvals_partial_index(
    session: Session, dialect: str
) -> None:
    owner = f.customer(session)
    recommendation = f.recommendation(session, owner)
    for i in range(40):
        status = ApprovalStatus.PENDING if i % 8 == 0 else ApprovalStatus.APPROVED
        session.add(
            m.Approval(recommendation_id=recommendation.id, customer_id=owner.id, status=status)
        )
    session.flush()
    _analyze(session, "approvals", "recommendations")
    _uses(
        session,
        "approvals",
        lambda: recommendation_service.pending_approvals(session, owner.id),
        "ix_approvals_pending",
    )
    pending = recommendation_service.pending_approvals(session, owner.id)
    assert len(pending) == 5
    assert all(a.status is ApprovalStatus.PENDING for a in pending)
    stmt = select(m.Approval.id).where(m.Approval.customer_id == owner.id)
    assert len(session.scalars(stmt).all()) == 40
