"""The synchronous Store: the async Store's surface, transactions, errors and tenancy, no async.

Everything runs on real databases (a SQLite file and the PostgreSQL server),
through a synchronous engine (sqlite3, psycopg 3): no event loop is involved.
"""

from __future__ import annotations

import inspect
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from flightlog import (
    InvalidTransition,
    NotFound,
    RunStatus,
    Store,
    SyncStore,
    TaskStatus,
    ValidationError,
    open_store_sync,
)
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import PermissionDenied
from flightlog.models import AgentRun, Customer, Event, MetricPoint, Task, TaskRun
from flightlog.services import tasks as task_service
from flightlog.settings import Settings
from flightlog.store.binding import Facade, Operation


def _count(store: SyncStore, model: type[object], **where: object) -> int:
    with store.reader() as s:
        statement = select(func.count()).select_from(model).filter_by(**where)  # type: ignore[arg-type]
        return int(s.scalar(statement) or 0)


def test_a_whole_task_is_recorded_with_no_async(sync_store: SyncStore) -> None:
    store = sync_store
    task = store.tasks.create(title="Build a todo app", tags=["web"], max_rounds=4)
    assert isinstance(task, Task)
    assert task.status is TaskStatus.PENDING
    run = store.runs.start(task.id, input_context={"round": 1})
    architect = store.agent_runs.start(run.id, agent_name="Architect")
    engineer = store.agent_runs.start(run.id, agent_name="Engineer", parent_id=architect.id)
    store.agent_runs.record_usage(engineer.id, tokens_in=100, tokens_out=20, cost_usd=0.01)
    store.agent_runs.finish(engineer.id, status="COMPLETED")
    store.agent_runs.finish(architect.id, status="COMPLETED")
    one = store.events.append({"event_type": "message", "run_id": run.id, "content": "hi"})
    ids = store.events.append_batch(
        [{"event_type": "log", "run_id": run.id, "content": f"line {i}"} for i in range(250)],
        chunk_size=100,
    )
    assert ids == sorted(ids)
    assert len(set(ids)) == 250
    assert one.id < ids[0]
    assert (
        store.events.ingest(
            ({"event_type": "log", "task_id": task.id} for _ in range(120)), chunk_size=50
        )
        == 120
    )
    assert (
        store.metrics.record_batch(
            [{"name": "tokens", "value": float(i), "run_id": run.id} for i in range(30)]
        )
        == 30
    )
    artifact = store.artifacts.put(task.id, "design.md", b"# Design\n", run_id=run.id)
    assert store.artifacts.read(artifact.id) == b"# Design\n"
    finished = store.runs.finish(run.id, status="COMPLETED", results={"files": 3})
    assert finished.status is RunStatus.COMPLETED

    done = store.tasks.get(task.id)
    assert (done.status, done.total_runs, done.successful_runs) == (TaskStatus.COMPLETED, 1, 1)
    assert done.max_rounds == 4
    assert store.metrics.summarize(run_id=run.id)["tokens"].count == 30
    assert _count(store, Event, run_id=run.id) >= 251
    assert [a.agent_name for a in store.agent_runs.list(run.id)] == ["Architect", "Engineer"]


def test_errors_and_tenancy_are_the_async_stores(sync_store: SyncStore, engine: Engine) -> None:
    store = sync_store
    with store.operator_transaction() as s:
        theirs_customer = Customer(name="Theirs", email=f"{uuid.uuid4().hex}@test.local")
        s.add(theirs_customer)
        s.flush()
        theirs = task_service.create_task(s, theirs_customer.id, title="not yours")
    with pytest.raises(NotFound):
        store.tasks.get(theirs.id)
    with pytest.raises(NotFound):
        store.runs.start(theirs.id)
    task = store.tasks.create(title="mine")
    store.tasks.cancel(task.id)
    with pytest.raises(InvalidTransition) as info:
        store.tasks.cancel(task.id)
    assert (info.value.from_status, info.value.to_status) == ("CANCELLED", "CANCELLED")
    with pytest.raises(TypeError):
        store.tasks.update(task.id, status="COMPLETED")  # type: ignore[call-arg]

    other = store.tasks.create(title="events")
    before = _count(store, Event, task_id=other.id)
    with pytest.raises(ValidationError, match="#3"):
        store.events.append_batch(
            [{"event_type": "log", "task_id": other.id}] * 3 + [{"event_type": ""}]
        )
    assert _count(store, Event, task_id=other.id) == before  # nothing of the batch stayed

    store.customers.suspend(reason="unpaid")
    with pytest.raises(PermissionDenied):
        store.tasks.create(title="refused while suspended")
    store.customers.reactivate()
    assert store.tasks.create(title="allowed again").title == "allowed again"


def test_a_transaction_composes_services_and_rolls_back_as_one(sync_store: SyncStore) -> None:
    store = sync_store

    def abandoned() -> None:
        with store.transaction() as s:
            task_service.create_task(s, store.customer_id, title="never stored")
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandoned()
    assert store.tasks.list(limit=10).items == []
    with store.transaction() as s:
        first = task_service.create_task(s, store.customer_id, title="first")
        task_service.create_task(s, store.customer_id, title="second", depends_on=[first.id])
    assert [t.title for t in store.tasks.list(limit=10).items] == ["second", "first"]


def test_a_plain_session_loads_relationships_on_access(sync_store: SyncStore) -> None:
    store = sync_store
    task = store.tasks.create(title="seed 001 style")
    run = store.runs.start(task.id)
    store.agent_runs.start(run.id, agent_name="Architect")
    store.events.append({"event_type": "message", "task_id": task.id, "content": "hello"})
    with store.session() as db:
        found = db.query(Task).filter(Task.customer_id == store.customer_id).one()
        assert [r.id for r in found.runs] == [run.id]
        assert [a.agent_name for a in found.runs[0].agent_runs] == ["Architect"]
        assert found.agent_runs[0].task.title == "seed 001 style"
        messages = db.scalars(found.events.select().where(Event.event_type == "MESSAGE"))
        assert [e.content for e in messages] == ["hello"]
        found.description = "changed in my own session"
        db.commit()
    assert store.tasks.get(task.id).description == "changed in my own session"


def _facades(store: object) -> dict[str, object]:
    return {name: value for name, value in vars(store).items() if isinstance(value, Facade)}


def test_every_async_operation_has_the_same_sync_signature(
    sync_store: SyncStore, test_settings: Settings, tmp_path: Path
) -> None:
    # Never connected: only the async Store's faces are read.
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'faces.db'}")
    async_store = Store(engine, test_settings, sync_store.customer_id)
    sync_facades, async_facades = _facades(sync_store), _facades(async_store)
    assert sync_facades.keys() == async_facades.keys()
    assert len(sync_facades) == 22
    compared = 0
    for name, facade in sync_facades.items():
        assert type(facade) is type(async_facades[name])  # one declaration, two faces
        for attribute, declared in vars(type(facade)).items():
            if not isinstance(declared, Operation):
                continue
            sync_method = getattr(facade, attribute)
            async_method = getattr(async_facades[name], attribute)
            assert not inspect.iscoroutinefunction(sync_method), f"{name}.{attribute}"
            assert inspect.iscoroutinefunction(async_method), f"{name}.{attribute}"
            service = inspect.signature(declared.service)
            expected = service.replace(
                parameters=list(service.parameters.values())[declared.stripped :]
            )
            assert inspect.signature(sync_method) == expected, f"{name}.{attribute}"
            assert inspect.signature(async_method) == expected, f"{name}.{attribute}"
            compared += 1
    assert compared > 120


def test_threads_share_one_sync_store(fresh_url: DatabaseUrl, test_settings: Settings) -> None:
    settings = test_settings.model_copy(update={"database_url": fresh_url.url})
    url = fresh_url.url.render_as_string(hide_password=False)
    with open_store_sync(url, settings=settings) as store:
        task = store.tasks.create(title="shared")
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for round_ in range(5):
                    run = store.runs.start(task.id) if worker == 0 and round_ == 0 else None
                    store.events.append_batch(
                        [
                            {"event_type": "log", "task_id": task.id, "content": f"{worker}.{i}"}
                            for i in range(20)
                        ]
                    )
                    store.metrics.record_batch(
                        [{"name": f"w{worker}", "value": float(round_), "task_id": task.id}]
                    )
                    if run is not None:
                        store.runs.finish(run.id, status="COMPLETED")
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert _count(store, Event, task_id=task.id, event_type="LOG") == 8 * 5 * 20
        assert _count(store, MetricPoint, task_id=task.id) == 8 * 5
        assert _count(store, TaskRun, task_id=task.id) == 1
        assert store.tasks.get(task.id).total_runs == 1
        assert _count(store, AgentRun, task_id=task.id) == 0


def test_values_json_cannot_hold_are_validation_errors_and_write_nothing(
    sync_store: SyncStore,
) -> None:
    from datetime import date
    from decimal import Decimal

    for bad in ({"x": Decimal("1.5")}, {"x": date(2026, 1, 1)}, {"x": {1, 2}}, {"x": object()}):
        with pytest.raises(ValidationError, match="cannot be stored as JSON"):
            sync_store.tasks.create(title="not json", config=bad)
    assert sync_store.tasks.list(limit=10).items == []


def test_artifact_names_every_face_can_carry(sync_store: SyncStore) -> None:
    task = sync_store.tasks.create(title="names")
    for bad in (".", "..", "line\nbreak", "tab\there", "bell\x07"):
        with pytest.raises(ValidationError):
            sync_store.artifacts.put(task.id, bad, b"x")
    assert sync_store.artifacts.latest(task.id) == []
    for good in ("a/../b", "./x", "...", "notes v1.md", "ü/ß"):
        assert sync_store.artifacts.put(task.id, good, b"x").name == good


async def test_the_async_store_refuses_values_json_cannot_hold_alike(store: Store) -> None:
    from datetime import date
    from decimal import Decimal

    for bad in ({"x": Decimal("1.5")}, {"x": date(2026, 1, 1)}, {"x": {1, 2}}):
        with pytest.raises(ValidationError, match="cannot be stored as JSON"):
            await store.tasks.create(title="not json", config=bad)
    assert (await store.tasks.list(limit=10)).items == []


def test_an_open_session_does_not_hold_up_writers(
    fresh_url: DatabaseUrl, test_settings: Settings
) -> None:
    """On SQLite the user session begins DEFERRED: reading in it takes no write lock."""
    settings = test_settings.model_copy(update={"sqlite_busy_timeout_ms": 200})
    url = fresh_url.url.render_as_string(hide_password=False)
    with open_store_sync(url, settings=settings) as store:
        task = store.tasks.create(title="read in a session")
        with store.session() as db:
            assert db.query(Task).count() == 1  # a read transaction is open from here on
            store.tasks.update(task.id, description="written meanwhile")
            db.rollback()
            stored = db.get(Task, task.id)
            assert stored is not None
            assert stored.description == "written meanwhile"


@pytest.mark.postgres_only
def test_a_nul_psycopg_refuses_in_a_batch_is_a_validation_error(sync_store: SyncStore) -> None:
    task = sync_store.tasks.create(title="nul")
    with pytest.raises(ValidationError, match="cannot be stored"):
        sync_store.events.append_batch(
            [{"event_type": "log", "task_id": task.id, "content": "a\x00b"}]
        )
    assert _count(sync_store, Event, task_id=task.id, event_type="LOG") == 0


def test_a_nan_in_a_json_field_is_a_validation_error(sync_store: SyncStore) -> None:
    with pytest.raises(ValidationError, match="JSON"):
        sync_store.tasks.create(title="nan", config={"x": float("nan")})
    assert sync_store.tasks.list(limit=10).items == []
