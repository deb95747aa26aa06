"""Batch ingest (``flightlog.ingest``): same rows as the ORM path, atomic streams, tenancy,
and a fast validator that decides exactly like the pydantic models."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, func, select, text

from flightlog import EventSeverity, EventType, MetricType, NotFound, Store, ValidationError
from flightlog.ingest import ingest_events, ingest_events_returning_ids, ingest_metrics
from flightlog.ingest._codec import POSTGRES, SQLITE, Codec
from flightlog.ingest.events import event_preparer, fast_event
from flightlog.ingest.metrics import fast_metric, metric_preparer
from flightlog.models import Event, MetricPoint, Task, TaskRun
from flightlog.services import events as event_service
from flightlog.services import metrics as metric_service

INDIA = timezone(timedelta(hours=5, minutes=30))
EVENT_COLUMNS = (
    "customer_id, task_id, run_id, agent_run_id, agent_id, parent_event_id, event_type, "
    "severity, agent_role, content, data, entity_type, entity_id, actor"
)
METRIC_COLUMNS = (
    "task_id, run_id, agent_run_id, name, metric_type, value, unit, labels, recorded_at"
)


async def _task_and_run(store: Store) -> tuple[Task, TaskRun]:
    task = await store.tasks.create(title="ingest")
    return task, await store.runs.start(task.id)


async def _event_count(store: Store, task_id: uuid.UUID) -> int:
    async with store.reader() as s:
        return int(
            await s.scalar(select(func.count(Event.id)).where(Event.task_id == task_id)) or 0
        )


async def _raw_rows(
    store: Store, table: str, columns: str, ids: list[int]
) -> list[tuple[Any, ...]]:
    """Rows exactly as stored (SQLite: the text SQLAlchemy wrote), bypassing the ORM's types."""
    async with store.reader() as s:
        stmt = text(f"SELECT {columns} FROM {table} WHERE id IN :ids ORDER BY id")
        result = await s.execute(stmt.bindparams(bindparam("ids", expanding=True)), {"ids": ids})
        return [tuple(row) for row in result.all()]


def _varied_events(task: Task, run: TaskRun) -> list[dict[str, Any]]:
    return [
        {"event_type": "LOG", "task_id": task.id, "content": "plain"},
        {"event_type": "message", "task_id": str(task.id), "run_id": run.id, "data": None},
        {
            "event_type": EventType.RESULT,
            "severity": "warning",
            "task_id": task.id,
            "run_id": str(run.id).upper(),
            "content": "naïve ✓ 日本",
            "data": {"diff": "+a\n-b", "nested": {"list": [1, 2.5, None, True]}, "ü": "é"},
            "agent_role": "Engineer",
            "entity_type": "TaskRun",
            "entity_id": str(run.id),
            "actor": "qa@example.test",
        },
        {"event_type": "ERROR", "severity": EventSeverity.CRITICAL, "data": {}, "task_id": task.id},
        {
            "event_type": "LOG",
            "task_id": task.id,
            "created_at": datetime(2030, 1, 1, 5, 30, 0, 123456, tzinfo=INDIA),
        },
    ]


async def test_ingested_events_are_stored_exactly_like_orm_written_ones(store: Store) -> None:
    task, run = await _task_and_run(store)
    batch = _varied_events(task, run)
    async with store.transaction() as s:
        orm_rows = [
            event_service.validate_event(raw).model_copy(update={"customer_id": store.customer_id})
            for raw in batch
        ]
        orm_ids = await s.run_sync(event_service.append_batch, orm_rows)
    async with store.transaction() as s:
        ingested_ids = await s.run_sync(
            ingest_events_returning_ids,
            store.customer_id,
            event_service.DEFAULT_MAX_PAYLOAD_BYTES,
            batch,
        )

    assert len(ingested_ids) == len(batch)
    assert await _raw_rows(store, "events", EVENT_COLUMNS, ingested_ids) == await _raw_rows(
        store, "events", EVENT_COLUMNS, orm_ids
    )
    async with store.reader() as s:
        loaded = {e.id: e for e in await s.scalars(select(Event).where(Event.task_id == task.id))}
    for orm_id, new_id in zip(orm_ids, ingested_ids, strict=True):
        orm, new = loaded[orm_id], loaded[new_id]
        for column in Event.__table__.columns.keys():  # noqa: SIM118
            if column not in ("id", "created_at"):
                assert getattr(new, column) == getattr(orm, column), column
        assert new.created_at.tzinfo is not None
    given_time = datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert loaded[orm_ids[4]].created_at == loaded[ingested_ids[4]].created_at == given_time
    assert loaded[ingested_ids[0]].created_at < given_time
    assert loaded[ingested_ids[2]].data == batch[2]["data"]
    assert loaded[ingested_ids[0]].customer_id == store.customer_id


async def test_ingested_metrics_are_stored_exactly_like_orm_written_ones(store: Store) -> None:
    task, run = await _task_and_run(store)
    india = INDIA
    batch: list[dict[str, Any]] = [
        {
            "name": "cpu",
            "value": 1,
            "task_id": task.id,
            "recorded_at": datetime(2030, 1, 1, tzinfo=UTC),
        },
        {"name": "cpu", "value": 2.5, "run_id": run.id, "unit": "%", "labels": {"host": "a"}},
        {
            "name": "latency",
            "value": -0.125,
            "metric_type": "timer",
            "task_id": str(task.id),
            "recorded_at": datetime(2030, 1, 1, 5, 30, 0, 123456, tzinfo=india),
        },
    ]
    before = datetime.now(UTC) - timedelta(minutes=5)
    async with store.transaction() as s:
        await s.run_sync(metric_service.record_batch, [batch[0], batch[2]])
        await s.run_sync(ingest_metrics, store.customer_id, [batch[0], batch[2]])
        await s.run_sync(ingest_metrics, store.customer_id, [batch[1]])
    async with store.reader() as s:
        points = list(
            await s.scalars(
                select(MetricPoint).where(MetricPoint.task_id == task.id).order_by(MetricPoint.id)
            )
        )
        clocked = await s.scalar(select(MetricPoint).where(MetricPoint.run_id == run.id))
    ids = [p.id for p in points]
    raw = await _raw_rows(store, "metric_points", METRIC_COLUMNS, ids)
    assert raw[:2] == raw[2:]
    assert [(p.value, p.recorded_at) for p in points[2:]] == [
        (1.0, datetime(2030, 1, 1, tzinfo=UTC)),
        (-0.125, datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ]
    assert points[3].metric_type is MetricType.TIMER
    assert clocked is not None
    assert clocked.labels == {"host": "a"}
    assert clocked.recorded_at > before


def _stream(task_id: uuid.UUID, count: int, bad_at: int | None = None) -> Iterator[dict[str, Any]]:
    for i in range(count):
        event: dict[str, Any] = {"event_type": "LOG", "task_id": task_id, "content": f"e{i}"}
        if i == bad_at:
            event["severity"] = "LOUD"
        yield event


async def test_invalid_row_in_the_last_chunk_leaves_nothing_written(store: Store) -> None:
    task, _ = await _task_and_run(store)
    before = await _event_count(store, task.id)
    with pytest.raises(ValidationError) as caught:
        async with store.transaction() as s:
            await s.run_sync(
                ingest_events,
                store.customer_id,
                event_service.DEFAULT_MAX_PAYLOAD_BYTES,
                _stream(task.id, 35, bad_at=34),
                chunk_size=10,
            )
    assert "#34" in str(caught.value)
    assert caught.value.details["index"] == 34
    assert await _event_count(store, task.id) == before


async def test_a_failed_stream_is_undone_even_if_the_caller_carries_on(store: Store) -> None:
    task, _ = await _task_and_run(store)
    before = await _event_count(store, task.id)
    async with store.transaction() as s:
        with pytest.raises(ValidationError, match="#25"):
            await s.run_sync(
                ingest_events,
                store.customer_id,
                event_service.DEFAULT_MAX_PAYLOAD_BYTES,
                _stream(task.id, 30, bad_at=25),
                chunk_size=10,
            )
        assert (
            await s.run_sync(
                ingest_events,
                store.customer_id,
                event_service.DEFAULT_MAX_PAYLOAD_BYTES,
                _stream(task.id, 3),
            )
            == 3
        )
    assert await _event_count(store, task.id) == before + 3


async def test_the_source_is_streamed_not_materialised(store: Store) -> None:
    task, _ = await _task_and_run(store)
    endless = _stream(task.id, 10**12, bad_at=45)
    with pytest.raises(ValidationError, match="#45"):
        async with store.transaction() as s:
            await s.run_sync(
                ingest_events,
                store.customer_id,
                event_service.DEFAULT_MAX_PAYLOAD_BYTES,
                endless,
                chunk_size=20,
            )
    assert next(endless)["content"] == "e60"


async def test_many_chunks_are_written_in_order_with_their_ids(store: Store) -> None:
    task, _ = await _task_and_run(store)
    async with store.transaction() as s:
        ids = await s.run_sync(
            ingest_events_returning_ids,
            store.customer_id,
            event_service.DEFAULT_MAX_PAYLOAD_BYTES,
            _stream(task.id, 2345),
            chunk_size=500,
        )
    assert ids == sorted(ids)
    assert len(set(ids)) == 2345
    async with store.reader() as s:
        rows = (await s.execute(select(Event.id, Event.content).where(Event.id.in_(ids)))).all()
    assert sorted(rows) == [(i, f"e{n}") for n, i in enumerate(ids)]
    async with store.transaction() as s:
        assert (
            await s.run_sync(
                ingest_events, store.customer_id, event_service.DEFAULT_MAX_PAYLOAD_BYTES, iter(())
            )
            == 0
        )


async def test_another_customers_ids_in_a_later_chunk_reject_everything(
    store: Store, other: Store
) -> None:
    task, run = await _task_and_run(store)
    theirs = await other.tasks.create(title="theirs")
    their_run = await other.runs.start(theirs.id)
    before = await _event_count(store, task.id)
    events = itertools.chain(
        _stream(task.id, 25), [{"event_type": "LOG", "task_id": task.id, "run_id": their_run.id}]
    )
    with pytest.raises(NotFound):
        async with store.transaction() as s:
            await s.run_sync(
                ingest_events,
                store.customer_id,
                event_service.DEFAULT_MAX_PAYLOAD_BYTES,
                events,
                chunk_size=10,
            )
    points = [
        {"name": "m", "value": 1.0, "run_id": run.id},
        {"name": "m", "value": 2.0, "task_id": theirs.id},
    ]
    with pytest.raises(NotFound):
        async with store.transaction() as s:
            await s.run_sync(ingest_metrics, store.customer_id, points)
    assert await _event_count(store, task.id) == before
    async with store.reader() as s:
        assert (
            await s.scalar(select(func.count(MetricPoint.id)).where(MetricPoint.run_id == run.id))
            == 0
        )


async def test_a_missing_parent_event_is_not_found_and_nothing_is_written(store: Store) -> None:
    task, _ = await _task_and_run(store)
    before = await _event_count(store, task.id)
    with pytest.raises(NotFound):
        async with store.transaction() as s:
            await s.run_sync(
                ingest_events,
                store.customer_id,
                event_service.DEFAULT_MAX_PAYLOAD_BYTES,
                [
                    {"event_type": "LOG", "task_id": task.id},
                    {"event_type": "LOG", "task_id": task.id, "parent_event_id": 10**12},
                ],
            )
    assert await _event_count(store, task.id) == before


async def test_points_need_a_task_or_run_and_name_their_index(store: Store) -> None:
    task, _ = await _task_and_run(store)
    points = [{"name": "ok", "value": 1.0, "task_id": task.id}, {"name": "orphan", "value": 1.0}]
    with pytest.raises(ValidationError, match="#1") as caught:
        async with store.transaction() as s:
            await s.run_sync(ingest_metrics, store.customer_id, points)
    assert caught.value.details["index"] == 1


# --- the fast validators decide exactly like the models -------------------------------------

CUSTOMER = uuid.UUID("01234567-89ab-7def-8123-456789abcdef")


class DriverUUID(uuid.UUID):
    """Like asyncpg's own UUID: a subclass, which is what ids read back on PostgreSQL are."""


ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
AWARE = st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=ZONES)
EVENT_IDS = ("customer_id", "task_id", "run_id", "agent_run_id", "agent_id")
UUID_OK = st.one_of(
    st.none(),
    st.uuids(),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: DriverUUID(int=u.int)),
)
UUID_ANY = UUID_OK | st.uuids().map(lambda u: u.hex) | st.text(max_size=40) | st.integers()
UUID_ANY |= st.uuids().map(lambda u: "{" + str(u) + "}")
JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
OBJECTS = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=3),
)
NUMBERS = st.one_of(
    st.floats(),
    st.integers(),
    st.integers(min_value=2**60),
    st.booleans(),
    st.sampled_from(["1.5", " 2 ", "nan", "x"]),
    st.none(),
)
TIMES = st.one_of(
    st.none(),
    st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1)),
    AWARE,
    # At and past the ends of the accepted range, where converting to UTC can overflow.
    st.datetimes(datetime(1, 1, 1), datetime(1000, 1, 2), timezones=ZONES),
    st.datetimes(datetime(8999, 12, 30), datetime(9999, 12, 31), timezones=ZONES),
    st.sampled_from(["2030-01-01T00:00:00Z", "yesterday"]),
    st.integers(0, 2**31),
)


def _texts(limit: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.text(max_size=limit + 2), st.integers(), st.binary(max_size=3))


def _enum_spellings(enum_cls: Any) -> st.SearchStrategy[Any]:
    values = [m.value for m in enum_cls]
    titled = [f" {v.title()} " for v in values]
    return st.sampled_from([*enum_cls, *values, *(v.lower() for v in values), *titled, " Nope "])


def _enum_inputs(enum_cls: Any) -> st.SearchStrategy[Any]:
    return _enum_spellings(enum_cls) | st.text(max_size=8) | st.none() | st.integers(-2, 2)


def _inputs(required: dict[str, Any], plausible: dict[str, Any], wild: dict[str, Any]) -> Any:
    """Mostly well-typed rows (with values at and past the limits), and rows of anything."""
    return st.one_of(
        st.fixed_dictionaries(required, optional=plausible),
        st.builds(
            lambda fields, extra: {**fields, **extra},
            st.fixed_dictionaries({}, optional=wild),
            st.fixed_dictionaries({}, optional={"colour": st.just("blue")}),
        ),
    )


EVENT_INPUTS = _inputs(
    {"event_type": _enum_spellings(EventType)},
    {
        "severity": _enum_spellings(EventSeverity),
        "content": st.none() | st.text(max_size=60),
        "data": st.none() | st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=5),
        "agent_role": st.none() | st.text(min_size=95, max_size=101),
        "entity_type": st.none() | st.text(max_size=65),
        "entity_id": st.none() | st.text(min_size=60, max_size=65),
        "actor": st.none() | st.text(max_size=20),
        "parent_event_id": st.none() | st.integers(),
        "created_at": st.none() | AWARE,
        "trace_id": st.none() | st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
        "span_id": st.none() | st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
        **{name: UUID_OK for name in EVENT_IDS},
    },
    {
        "event_type": _enum_inputs(EventType),
        "severity": _enum_inputs(EventSeverity),
        "content": _texts(40),
        "data": OBJECTS,
        "agent_role": _texts(100),
        "entity_type": _texts(64),
        "entity_id": _texts(64),
        "actor": _texts(255),
        "parent_event_id": st.one_of(
            st.none(),
            st.integers(),
            st.integers(2**63 - 2, 2**64),
            st.booleans(),
            st.floats(),
            st.just("7"),
        ),
        "created_at": TIMES,
        # Near misses: upper case, a trailing newline (Python's "$" would allow it), length.
        "trace_id": st.sampled_from(["A" * 32, "a" * 32 + "\n", "a" * 31, 7, None]),
        "span_id": st.sampled_from(["F" * 16, "f" * 16 + "\n", "f" * 17, b"f" * 16, None]),
        **{name: UUID_ANY for name in EVENT_IDS},
    },
)
METRIC_INPUTS = _inputs(
    {
        "name": st.text(min_size=0, max_size=3) | st.text(min_size=254, max_size=256),
        "value": NUMBERS,
    },
    {
        "metric_type": _enum_spellings(MetricType),
        "unit": st.none() | st.text(max_size=33),
        "labels": st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4),
        "recorded_at": st.none() | AWARE,
        "task_id": UUID_OK,
        "run_id": UUID_OK,
        "agent_run_id": UUID_OK,
    },
    {
        "name": _texts(255),
        "value": NUMBERS,
        "metric_type": _enum_inputs(MetricType),
        "unit": _texts(32),
        "labels": OBJECTS,
        "recorded_at": TIMES,
        **{name: UUID_ANY for name in ("task_id", "run_id", "agent_run_id")},
    },
)


def _decision(prepare: Any, raw: Any) -> tuple[Any, ...]:
    try:
        return ("ok", prepare(raw, 7))
    except ValidationError as exc:
        return ("invalid", exc.message, exc.details)


def _event_by_model(codec: Codec, limit: int, raw: Any) -> tuple[Any, ...]:
    try:
        valid = event_service.validate_event(raw, max_payload_bytes=limit, index=7)
    except ValidationError as exc:
        return ("invalid", exc.message, exc.details)
    # A valid model can still hold what JSON cannot (an infinite float): both paths refuse it.
    return _decision(event_preparer(codec, CUSTOMER, limit), valid)


def _metric_by_model(codec: Codec, raw: Any) -> tuple[Any, ...]:
    try:
        valid = metric_service.validate_metric(raw, index=7)
    except ValidationError as exc:
        return ("invalid", exc.message, exc.details)
    return _decision(metric_preparer(codec), valid)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=EVENT_INPUTS, limit=st.integers(1, 400), codec=st.sampled_from([POSTGRES, SQLITE]))
def test_fast_event_validation_decides_like_new_event(
    raw: dict[str, Any], limit: int, codec: Codec
) -> None:
    assert _decision(event_preparer(codec, CUSTOMER, limit), raw) == _event_by_model(
        codec, limit, raw
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=METRIC_INPUTS, codec=st.sampled_from([POSTGRES, SQLITE]))
def test_fast_metric_validation_decides_like_new_metric(raw: dict[str, Any], codec: Codec) -> None:
    assert _decision(metric_preparer(codec), raw) == _metric_by_model(codec, raw)


def test_ordinary_rows_take_the_fast_path() -> None:
    task = DriverUUID(int=uuid.uuid4().int)
    event = {
        "event_type": "LOG",
        "task_id": task,
        "content": "x",
        "data": {"a": 1},
        "agent_role": "QA",
        "created_at": datetime.now(UTC),
    }
    point = {"name": "tokens", "value": 3, "task_id": str(task), "recorded_at": datetime.now(UTC)}
    for codec in (POSTGRES, SQLITE):
        assert fast_event(event, codec, codec.encode_uuid(CUSTOMER), 1024) is not None
        assert fast_event({**event, "severity": "warning"}, codec, None, 1024) is not None
        assert fast_metric(point, codec) is not None


def test_remembered_label_sets_never_mix_up_values_or_order() -> None:
    prepare = metric_preparer(SQLITE)
    task = uuid.uuid4()
    sets = [
        {"host": "a", "role": "qa"},
        {"role": "qa", "host": "a"},
        {"host": "a", "role": "qa"},
        {"n": 1},
        {"n": True},
        {"n": 1.0},
        {"host": "b", "role": "qa"},
    ]
    stored = [prepare({"name": "m", "value": 1, "task_id": task, "labels": s}, 0)[7] for s in sets]
    assert stored == [json.dumps(s) for s in sets]
