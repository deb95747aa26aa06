"""Monthly partitions of events and metric points on PostgreSQL (issue 16, decision 0016).

Every writer makes the months it writes before it writes them: the ORM, Core
inserts, the COPY ingest path, OTLP and the importer. Rows far in the past or
future land in the two edge partitions, never lost. Concurrent writers of a new
month all succeed; a month made by a transaction that rolled back is made
again. The parent event reference, a foreign key on SQLite, is kept by
triggers on PostgreSQL: same refusals, same SET NULL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m
from flightlog.db.engine import create_sync_engine
from flightlog.db.partition_layout import ahead_slots, partition_name, slot_of
from flightlog.db.partitions import forget
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import EventType
from flightlog.errors import Conflict
from flightlog.ops.export import export_lines
from flightlog.ops.export_scope import Scope
from flightlog.ops.importer import import_lines
from flightlog.services import events as event_service
from flightlog.settings import Settings
from flightlog.store import Store, open_store_sync
from flightlog.store.sync import SyncStore
from otlp_spans import agent, chat, new_trace_id

FAR_PAST = datetime(1000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(8999, 12, 31, 23, 59, tzinfo=UTC)
#: The parent reference's refusal: the foreign key (SQLite) or its trigger (PostgreSQL).
REFUSED = r"fk_events_parent_event_id_events|FOREIGN KEY"


def _home(connection: Connection | Session, table: str, row_id: int) -> str:
    """The partition (PostgreSQL) a row is stored in."""
    sql = text(f"SELECT tableoid::regclass::text FROM {table} WHERE id = :id")
    return str(connection.execute(sql, {"id": row_id}).scalar_one())


def _exists(connection: Connection | Session, name: str) -> bool:
    return connection.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None


def _at(year: int, month: int, day: int = 10) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def test_rows_far_in_the_past_or_future_are_kept_in_the_edge_partitions(
    session: Session, dialect: str
) -> None:
    task = f.task(session)
    old = f.event(session, task, created_at=FAR_PAST)
    late = f.event(session, task, created_at=FAR_FUTURE)
    point = f.metric(session, task, recorded_at=FAR_FUTURE)
    session.expunge_all()
    assert session.get(m.Event, old.id).created_at == FAR_PAST  # type: ignore[union-attr]
    assert session.get(m.Event, late.id).created_at == FAR_FUTURE  # type: ignore[union-attr]
    assert session.get(m.MetricPoint, point.id).recorded_at == FAR_FUTURE  # type: ignore[union-attr]
    if dialect == "postgresql":
        assert _home(session, "events", old.id) == "events_before_2000"
        assert _home(session, "events", late.id) == "events_from_2100"
        assert _home(session, "metric_points", point.id) == "metric_points_from_2100"


@pytest.mark.postgres_only
async def test_every_writer_makes_the_month_it_writes(store: Store, dialect: str) -> None:
    task = await store.tasks.create(title="partitions")
    single = await store.events.append(
        {"event_type": "LOG", "task_id": task.id, "created_at": _at(2031, 1)}
    )
    small = await store.events.append_batch(
        [{"event_type": "LOG", "task_id": task.id, "created_at": _at(2031, 2)}] * 3
    )
    copied = await store.events.append_batch(
        [
            {"event_type": "LOG", "task_id": task.id, "created_at": _at(2031, 3, day)}
            for day in (1, 28)
        ]
        * 100
    )
    point = await store.metrics.record(
        {"name": "m", "value": 1, "task_id": task.id, "recorded_at": _at(2031, 4)}
    )
    points = await store.metrics.record_batch(
        [
            {"name": "m", "value": v, "task_id": task.id, "recorded_at": _at(2031, 5)}
            for v in range(300)
        ]
    )
    async with store.transaction() as s:
        core = await s.run_sync(
            event_service.append_batch,
            [{"event_type": "LOG", "customer_id": store.customer_id, "created_at": _at(2031, 6)}],
        )
    async with store.reader() as s:
        homes = {
            await s.run_sync(_home, "events", single.id),
            await s.run_sync(_home, "events", small[0]),
            await s.run_sync(_home, "events", copied[-1]),
            await s.run_sync(_home, "metric_points", point.id),
            await s.run_sync(_home, "events", core[0]),
        }
        stored = await s.scalar(
            select(func.count()).select_from(m.MetricPoint).where(m.MetricPoint.task_id == task.id)
        )
    assert homes == {
        "events_p2031_01",
        "events_p2031_02",
        "events_p2031_03",
        "metric_points_p2031_04",
        "events_p2031_06",
    }
    assert points == 300
    assert stored == 301


@pytest.mark.postgres_only
def test_otlp_spans_of_an_old_month_make_their_partition(
    sync_store: SyncStore, dialect: str
) -> None:
    trace_id = new_trace_id()
    ago = -400 * 86400.0  # a year and a month back: a month no partition was made for
    root = agent(trace_id, "planner", ago, ago + 10)
    recorded = sync_store.traces.record(
        [chat(trace_id, (10, 2), ago + 1, ago + 2, parent=root), root]
    )
    assert recorded.accepted == 2
    month = slot_of(datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=ago + 1))
    with sync_store.session() as db:
        found = db.scalars(select(m.Event.id).where(m.Event.trace_id == trace_id)).all()
        assert found
        assert {_home(db, "events", event_id) for event_id in found} == {
            partition_name("events", month)
        }


@pytest.mark.postgres_only
def test_the_importer_makes_the_months_it_loads(
    fresh_head_url: DatabaseUrl, dialect: str, tmp_path: Path, test_settings: Settings
) -> None:
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'source.db'}")
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    with open_store_sync(source.url.render_as_string(), settings=settings) as store:
        task = store.tasks.create(title="imported")
        store.events.append({"event_type": "LOG", "task_id": task.id, "created_at": _at(2032, 7)})
        store.metrics.record(
            {"name": "m", "value": 1, "task_id": task.id, "recorded_at": _at(2032, 8)}
        )
        engine = store.engine
        with engine.connect() as connection:
            lines = list(
                export_lines(connection, Scope("all"), schema_revision="0010", blob_dir=tmp_path)
            )
    target = create_sync_engine(settings, url=fresh_head_url)
    try:
        with target.begin() as connection:
            import_lines(connection, lines, blob_dir=tmp_path / "blobs")
        with target.connect() as connection:
            assert _exists(connection, "events_p2032_07")
            assert _exists(connection, "metric_points_p2032_08")
            assert connection.scalar(select(func.count()).select_from(m.Event)) >= 1
    finally:
        target.dispose()


def test_an_imported_event_whose_id_is_taken_is_refused_whatever_its_time(
    fresh_head_url: DatabaseUrl, dialect: str, tmp_path: Path, test_settings: Settings
) -> None:
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'source.db'}")
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    with open_store_sync(source.url.render_as_string(), settings=settings) as store:
        store.events.append({"event_type": "LOG", "created_at": _at(2031, 9)})
        with store.engine.connect() as connection:
            lines = list(
                export_lines(connection, Scope("all"), schema_revision="0010", blob_dir=tmp_path)
            )
    url = fresh_head_url.url.render_as_string(hide_password=False)
    with open_store_sync(url, settings=settings) as target:
        taken = target.events.append({"event_type": "LOG"})  # the same id, another month
        assert taken.id == 1
        with target.engine.begin() as connection:  # only the event's id may clash
            connection.execute(text("UPDATE customers SET email = 'target@example.test'"))
        with target.engine.begin() as connection, pytest.raises(Conflict, match="events"):
            import_lines(connection, lines, blob_dir=tmp_path / "blobs")
        with target.engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(m.Event)) == 1


def _fresh_engine(url: DatabaseUrl, settings: Settings) -> Engine:
    forget()  # as a process that never saw this database would start
    return create_sync_engine(settings, url=url)


@pytest.mark.postgres_only
def test_a_month_made_by_a_transaction_that_rolled_back_is_made_again(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    engine = _fresh_engine(fresh_head_url, test_settings)
    try:
        with Session(engine) as db:
            task = f.task(db)
            db.commit()
            task_id, customer_id = task.id, task.customer_id
        row = {"customer_id": customer_id, "task_id": task_id, "event_type": EventType.LOG}
        with Session(engine) as db:
            # Two writes: the second finds the (uncommitted) month in the catalog.
            db.add(m.Event(**row, created_at=_at(2033, 1)))
            db.flush()
            db.add(m.Event(**row, created_at=_at(2033, 1, 20)))
            db.flush()
            db.rollback()
        with Session(engine) as db:
            assert not _exists(db, "events_p2033_01")
            db.add(m.Event(**row, created_at=_at(2033, 1)))
            db.commit()
            assert _exists(db, "events_p2033_01")
    finally:
        engine.dispose()


def _drop(engine: Engine, slots: set[int]) -> None:
    with engine.begin() as connection:
        for table in ("events", "metric_points"):
            for slot in slots:
                connection.execute(text(f"DROP TABLE IF EXISTS {partition_name(table, slot)}"))
    forget()


def _all_exist(db: Session, slots: set[int]) -> bool:
    return all(
        _exists(db, partition_name(table, slot))
        for table in ("events", "metric_points")
        for slot in slots
    )


@pytest.mark.postgres_only
def test_a_missing_current_month_is_made_by_the_next_write_and_the_coming_months_follow(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    now = datetime.now(UTC)
    ahead = ahead_slots(now)
    engine = _fresh_engine(fresh_head_url, test_settings)
    try:
        _drop(engine, ahead)  # this month and the next ones
        with Session(engine, expire_on_commit=False) as db:
            task = f.task(db)
            event = f.event(db, task)  # the database clock's month
            f.metric(db, task)
            db.commit()
            assert _home(db, "events", event.id) == partition_name("events", slot_of(now))
            assert _all_exist(db, ahead)
        _drop(engine, ahead - {slot_of(now)})  # only the coming months
        with Session(engine) as db:
            # A write that also writes a task holds locks that making a partition needs:
            # the coming months are made as the next transaction begins, on their own.
            f.event(db, f.task(db))
            f.metric(db, task)
            db.commit()
        with Session(engine) as db:
            assert _all_exist(db, ahead)
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_concurrent_writers_of_a_new_month_all_succeed_and_make_it_once(
    fresh_head_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    writers = 8
    url = fresh_head_url.url.render_as_string(hide_password=False)
    forget()
    with open_store_sync(url, settings=test_settings) as first:
        task = first.tasks.create(title="race")
        customer_id = first.customer_id
    start = threading.Barrier(writers)
    failures: list[BaseException] = []
    ids: list[int] = []

    def write(n: int) -> None:
        try:
            with open_store_sync(url, settings=test_settings, customer_id=customer_id) as store:
                start.wait(timeout=60)
                at = _at(2034, 5, n + 1)
                if n % 2:
                    ids.extend(
                        store.events.append_batch(
                            [{"event_type": "LOG", "task_id": task.id, "created_at": at}] * 100
                        )
                    )
                else:
                    ids.append(
                        store.events.append(
                            {"event_type": "LOG", "task_id": task.id, "created_at": at}
                        ).id
                    )
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(ids) == len(set(ids)) == 4 * 100 + 4
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    try:
        with engine.connect() as connection:
            homes = connection.execute(
                text(
                    "SELECT tableoid::regclass::text, count(*) FROM events "
                    "WHERE created_at >= '2034-05-01' AND created_at < '2034-06-01' GROUP BY 1"
                )
            ).all()
    finally:
        engine.dispose()
    assert homes == [("events_p2034_05", len(ids))]


def test_a_parent_event_that_does_not_exist_is_refused_by_the_database(
    session: Session, dialect: str
) -> None:
    task = f.task(session)
    parent = f.event(session, task)
    f.event(session, task, parent_event_id=parent.id)
    with pytest.raises(IntegrityError, match=REFUSED), session.begin_nested():
        f.event(session, task, parent_event_id=parent.id + 10**9)
    child = f.event(session, task)
    with pytest.raises(IntegrityError, match=REFUSED), session.begin_nested():
        session.execute(
            text("UPDATE events SET parent_event_id = :p WHERE id = :id"),
            {"p": parent.id + 10**9, "id": child.id},
        )


def test_deleting_a_parent_event_leaves_its_children_without_a_parent(
    session: Session, dialect: str
) -> None:
    owner = f.customer(session)
    first, second = f.task(session, owner=owner), f.task(session, owner=owner)
    parent = f.event(session, first)
    children = [
        f.event(session, second, parent_event_id=parent.id),
        f.event(session, second, parent_event_id=parent.id, created_at=_at(2035, 1)),
    ]
    unrelated = f.event(session, second, parent_event_id=f.event(session, second).id)
    session.delete(first)  # the task's events go with it (CASCADE), the parent among them
    session.flush()
    session.expunge_all()
    for child in children:
        kept = session.get(m.Event, child.id)
        assert kept is not None
        assert kept.parent_event_id is None
    assert session.get(m.Event, unrelated.id).parent_event_id is not None  # type: ignore[union-attr]
    assert session.get(m.Event, parent.id) is None
