"""Export/import: lossless across dialects, scoped, atomic, versioned."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flightlog import Conflict, ValidationError
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import Base, Event
from flightlog.ops.export import export_lines
from flightlog.ops.export_scope import Scope
from flightlog.ops.importer import import_lines
from flightlog.settings import Settings
from flightlog.store import open_store
from postgres_server import PostgresServer


async def _populate(url: DatabaseUrl, settings: Settings) -> dict[str, uuid.UUID]:
    """A small but complete history: subtasks, nested agents, parent events, big blobs."""
    async with open_store(
        url.url.render_as_string(hide_password=False), settings=settings
    ) as store:
        epic = await store.tasks.create(
            title="Epic", tags=["ünïcode", "x"], config={"b": 1, "a": 2}
        )
        child = await store.tasks.create(title="Story", parent_task_id=epic.id)
        other = await store.tasks.create(title="Unrelated", depends_on=[child.id])
        run = await store.runs.start(child.id, plan={"steps": [1, 2.5]}, await_plan_approval=True)
        await store.runs.approve_plan(run.id, decided_by="alice", comment="go")
        lead = await store.agent_runs.start(run.id, agent_name="TeamLeader")
        eng = await store.agent_runs.start(run.id, agent_name="Engineer", parent_id=lead.id)
        await store.agent_runs.finish(eng.id, tokens_in=11, tokens_out=7, cost_usd="0.123456")
        first = await store.events.append(
            {
                "event_type": "MESSAGE",
                "task_id": child.id,
                "data": {"nested": {"k": [1, None, True]}},
            }
        )
        await store.events.append(
            {
                "event_type": "RESULT",
                "task_id": child.id,
                "parent_event_id": first.id,
                "content": "done",
            }
        )
        await store.metrics.record_batch(
            [
                {
                    "name": "cpu",
                    "value": v,
                    "task_id": child.id,
                    "run_id": run.id,
                    "recorded_at": datetime(2030, 1, 1, 0, 0, v, 123456, tzinfo=UTC),
                }
                for v in range(3)
            ]
        )
        await store.artifacts.put(child.id, "notes.md", b"small")
        await store.artifacts.put(child.id, "model.bin", bytes(range(256)) * 400)
        await store.runs.finish(run.id, results={"ok": True})
        return {
            "epic": epic.id,
            "child": child.id,
            "other": other.id,
            "customer": store.customer_id,
        }


ALL = Scope("all")


def _export(url: DatabaseUrl, settings: Settings, scope: Scope = ALL) -> list[str]:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            lines = list(
                export_lines(connection, scope, schema_revision="0003", blob_dir=settings.blob_dir)
            )
    finally:
        engine.dispose()
    return lines


def _import(url: DatabaseUrl, settings: Settings, lines: list[str]) -> int:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.begin() as connection:
            return import_lines(connection, lines, blob_dir=settings.blob_dir).total
    finally:
        engine.dispose()


def _rows(lines: list[str]) -> set[str]:
    return set(lines[1:])


async def test_round_trip_sqlite_to_postgres_and_back_is_lossless(
    tmp_path: Path, postgres_server: PostgresServer | None, test_settings: Settings
) -> None:
    if postgres_server is None:
        pytest.fail("this test needs PostgreSQL (set FLIGHTLOG_TEST_POSTGRES_URL)")
    sqlite_settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs-a"})
    pg_settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs-b"})
    back_settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs-c"})
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'source.db'}")
    target = postgres_server.create_database("flightlog_roundtrip")
    back = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'back.db'}")
    await _populate(source, sqlite_settings)
    first = _export(source, sqlite_settings)
    for url, settings in ((target, pg_settings), (back, back_settings)):
        Migrator(settings, url).upgrade("head")
    assert _import(target, pg_settings, first) == len(first) - 2  # the header and trailer
    second = _export(target, pg_settings)
    assert _import(back, back_settings, second) == len(second) - 2
    third = _export(back, back_settings)
    postgres_server.drop_database(target)
    assert _rows(first) == _rows(second) == _rows(third)
    tables = {json.loads(line)["table"] for line in first[1:-1]}
    assert {"tasks", "task_runs", "agent_runs", "events", "metric_points", "artifacts"} <= tables
    assert list((tmp_path / "blobs-b").glob("??/*"))  # the large blob travelled as a file


async def test_identity_continues_after_import(
    fresh_head_url: DatabaseUrl, tmp_path: Path, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'src.db'}")
    ids = await _populate(source, settings)
    lines = _export(source, settings)
    _import(fresh_head_url, settings, lines)
    async with open_store(
        fresh_head_url.url.render_as_string(hide_password=False),
        settings=settings,
        customer_id=ids["customer"],
    ) as store:
        new = await store.events.append({"event_type": "LOG", "task_id": ids["child"]})
    engine = create_sync_engine(settings, url=fresh_head_url)
    with engine.connect() as connection:
        imported_max = connection.scalar(select(func.max(Event.id)).where(Event.id < new.id))
    engine.dispose()
    assert imported_max is not None
    assert new.id > imported_max


async def test_task_scope_holds_the_task_tree_and_what_it_needs(
    fresh_head_url: DatabaseUrl, tmp_path: Path, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'src.db'}")
    ids = await _populate(source, settings)
    lines = _export(source, settings, Scope("task", ids["epic"]))
    header = json.loads(lines[0])
    assert header["scope"] == {"kind": "task", "id": str(ids["epic"])}
    rows = [json.loads(x) for x in lines[1:-1]]
    task_ids = {row["row"]["id"] for row in rows if row["table"] == "tasks"}
    assert task_ids == {str(ids["epic"]), str(ids["child"])}  # the subtree, not "Unrelated"
    assert _import(fresh_head_url, settings, lines) == len(lines) - 2


async def test_import_is_atomic_on_a_corrupt_file(
    fresh_head_url: DatabaseUrl, tmp_path: Path, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'src.db'}")
    await _populate(source, settings)
    lines = _export(source, settings)
    corrupt = [*lines[: len(lines) - 3], '{"table": "events", "row": {"id": 1', *lines[-3:]]
    with pytest.raises(ValidationError, match=f"line {len(lines) - 2}"):
        _import(fresh_head_url, settings, corrupt)
    unknown_version = [lines[0].replace('"version":2', '"version":99'), *lines[1:]]
    with pytest.raises(ValidationError, match="version 99"):
        _import(fresh_head_url, settings, unknown_version)
    engine = create_sync_engine(settings, url=fresh_head_url)
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            assert connection.scalar(select(func.count()).select_from(table)) == 0, table.name
    engine.dispose()
    _import(fresh_head_url, settings, lines)
    with pytest.raises(Conflict, match="Nothing was imported"):
        _import(fresh_head_url, settings, lines)  # the same ids again


def test_export_of_unknown_scope_id_is_not_found(
    db_url: DatabaseUrl, test_settings: Settings
) -> None:
    from flightlog import NotFound

    with pytest.raises(NotFound):
        _export(db_url, test_settings, Scope("task", uuid.uuid4()))
