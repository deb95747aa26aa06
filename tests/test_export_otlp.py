"""Export/import of what OpenTelemetry ingest records (issue 12), on both dialects.

A customer's export carries its sessions and its span ledger (``otlp_spans``)
with the runs, agent runs and events the spans became, so an imported
database is the same record: the same sessions, trace and span ids, and a
ledger under which re-sent spans change nothing and a span still waiting for
its parent is attached when the parent finally comes. A task export carries
the sessions its runs belong to and its runs' ledger rows; the operator's
model prices travel only in a whole-database export.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli_runner import url_of
from flightlog import Conflict
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import Base, Customer, OtlpSpan
from flightlog.ops.export_scope import NEVER_EXPORTED, Scope, build_filters
from flightlog.ops.jsonl_format import RowDigest, dumps
from flightlog.otlp.spans import Span
from flightlog.settings import Settings
from flightlog.store.sync import SyncStore, open_store_sync
from otlp_spans import Team, agent, new_trace_id, shape, team, tool
from postgres_server import PostgresServer
from test_export_import import _export, _import

OPERATOR_TABLES = {"model_prices"}


@pytest.fixture
def settings(test_settings: Settings, tmp_path: Path) -> Settings:
    return test_settings.model_copy(update={"blob_dir": tmp_path / "blobs"})


@pytest.fixture
def target_url(
    dialect: str, tmp_path: Path, postgres_server: PostgresServer | None, settings: Settings
) -> Iterator[DatabaseUrl]:
    """A second empty database of the dialect at head: where exports are imported."""
    if dialect == "sqlite":
        url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'target.db'}")
    elif postgres_server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    else:
        url = postgres_server.create_database("flightlog_target")
    Migrator(settings, url).upgrade("head")
    yield url
    if dialect != "sqlite" and postgres_server is not None:
        postgres_server.drop_database(url)


@dataclass(frozen=True)
class Recorded:
    """What the source database holds: three traces in two sessions and one waiting span."""

    customer_id: uuid.UUID
    alpha: tuple[Team, Team]
    beta: Team
    waiting_parent: Span
    waiting_child: Span

    @property
    def teams(self) -> tuple[Team, ...]:
        return (*self.alpha, self.beta)


def _record(url: DatabaseUrl, settings: Settings) -> Recorded:
    """Traces of one customer (and one of another customer, which no export of it carries)."""
    orphan = new_trace_id()
    parent = agent(
        orphan,
        "late",
        0,
        10,
        attributes={"gen_ai.conversation.id": "conv-3", "flightlog.task": "G"},
    )
    recorded = Recorded(
        customer_id=uuid.uuid4(),
        alpha=(team("conv-1", title="Alpha"), team("conv-2", title="Alpha")),
        beta=team("conv-1", title="Beta"),
        waiting_parent=parent,
        waiting_child=tool(
            orphan,
            "probe",
            1,
            2,
            parent=parent,
            # Values JSON must carry exactly across dialects while the span waits.
            attributes={"probe.ratio": 0.1, "probe.big": 2**62 + 1, "probe.text": "ünï\u2028"},
        ),
    )
    with open_store_sync(url_of(url), settings=settings) as store:
        for one in recorded.teams:
            assert store.traces.record(one.in_end_order()).accepted == len(one.spans)
        assert store.traces.record([recorded.waiting_child]).waiting == 1
        with store.transaction() as session:
            other = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
            session.add(other)
            session.flush()
            other_id = other.id
        SyncStore(store.engine, settings, other_id).traces.record(
            team("conv-1", title="Alpha").in_end_order()
        )
        return replace(recorded, customer_id=store.customer_id)


def _rows(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines[1:-1]]


def _of(lines: list[str], table: str) -> list[dict[str, Any]]:
    return [row["row"] for row in _rows(lines) if row["table"] == table]


def _file(lines: list[str], keep: set[str]) -> list[str]:
    """The export with only the rows of ``keep``'s tables, under a trailer that fits them."""
    digest = RowDigest()
    kept = [line for line in lines[1:-1] if json.loads(line)["table"] in keep]
    for line in kept:
        digest.add(line.encode("utf-8"))
    return [lines[0], *kept, dumps(digest.trailer())]


def _count(url: DatabaseUrl, settings: Settings, column: Any = None) -> int:
    """Ledger rows; given ``column``, those where it is not SQL NULL (as the ledger counts)."""
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            counted = func.count() if column is None else func.count(column)
            return int(connection.scalar(select(counted).select_from(OtlpSpan)) or 0)
    finally:
        engine.dispose()


def _counts(url: DatabaseUrl, settings: Settings) -> dict[str, int]:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            return {
                table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _spans_named(teams: tuple[Team, ...], *prefixes: str) -> set[tuple[str, str]]:
    return {
        (span.trace_id, span.span_id)
        for one in teams
        for span in one.spans
        if span.name.startswith(prefixes)
    }


def test_a_customer_export_carries_its_sessions_trace_ids_and_span_ledger(
    fresh_url: DatabaseUrl, target_url: DatabaseUrl, settings: Settings
) -> None:
    recorded = _record(fresh_url, settings)
    teams = recorded.teams
    scope = Scope("customer", recorded.customer_id)
    lines = _export(fresh_url, settings, scope)

    # The file: the customer's two sessions, its runs in them with their trace and root span,
    # agent runs and model/tool events with their span, and its whole ledger (one span waiting).
    sessions = {row["id"]: row["external_id"] for row in _of(lines, "sessions")}
    assert sorted(sessions.values()) == ["conv-1", "conv-2"]
    runs = _of(lines, "task_runs")
    assert sorted(
        (sessions[run["session_id"]], run["trace_id"], run["span_id"]) for run in runs
    ) == (
        sorted(
            (name, one.trace_id, one.root.span_id)
            for name, one in zip(("conv-1", "conv-2", "conv-1"), teams, strict=True)
        )
    )
    steps = {(row["trace_id"], row["span_id"]) for row in _of(lines, "agent_runs")}
    assert steps == _spans_named(teams, "invoke_agent")
    calls = {
        (row["trace_id"], row["span_id"])
        for row in _of(lines, "events")
        if row["event_type"] in ("MODEL_CALL", "TOOL_CALL")
    }
    assert calls == _spans_named(teams, "chat", "execute_tool")
    ledger = _of(lines, "otlp_spans")
    assert len(ledger) == sum(len(one.spans) for one in teams) + 1
    assert [row["span_id"] for row in ledger if row["pending"] is not None] == [
        recorded.waiting_child.span_id
    ]
    owners = {row["row"].get("customer_id") for row in _rows(lines)} - {None}
    assert owners <= {str(recorded.customer_id)}  # nothing of the other customer
    assert not _of(lines, "model_prices")

    # Imported into an empty database: row for row the same (every column of every table),
    # and the ledger's recorded spans are SQL NULL there too, so one span still waits.
    assert _import(target_url, settings, lines) == len(lines) - 2
    assert _rows(_export(target_url, settings, scope)) == _rows(lines)
    assert _count(target_url, settings, OtlpSpan.pending) == 1
    assert _count(fresh_url, settings, OtlpSpan.pending) == 1

    source_url, imported_url = url_of(fresh_url), url_of(target_url)
    customer = recorded.customer_id
    with (
        open_store_sync(source_url, settings=settings, customer_id=customer) as source,
        open_store_sync(imported_url, settings=settings, customer_id=customer) as imported,
    ):
        for one in teams:
            assert shape(imported, one.trace_id) == shape(source, one.trace_id)
        assert imported.sessions.list() == source.sessions.list()
        assert imported.traces.get(recorded.waiting_child.trace_id).waiting_spans == 1
        # The same spans sent again to the imported database: every one a duplicate.
        for spans in [one.in_end_order() for one in teams] + [[recorded.waiting_child]]:
            result = imported.traces.record(spans)
            assert (result.accepted, result.duplicates, result.waiting) == (0, len(spans), 0)
    assert _rows(_export(target_url, settings, scope)) == _rows(lines)  # nothing changed

    # The waiting span's parent arrives at last: both are recorded, in a new session.
    with open_store_sync(imported_url, settings=settings, customer_id=customer) as imported:
        assert imported.traces.record([recorded.waiting_parent]).accepted == 1
        trace = imported.traces.get(recorded.waiting_child.trace_id)
        assert trace.run is not None
        assert trace.waiting_spans == 0
        assert recorded.waiting_child.span_id in {event.span_id for event in trace.events}
        assert {s.external_id for s in imported.sessions.list()} == {"conv-1", "conv-2", "conv-3"}


def test_a_task_export_carries_the_sessions_and_ledger_rows_of_its_runs(
    fresh_url: DatabaseUrl, target_url: DatabaseUrl, settings: Settings
) -> None:
    recorded = _record(fresh_url, settings)
    customer, beta = recorded.customer_id, recorded.beta
    with open_store_sync(url_of(fresh_url), settings=settings, customer_id=customer) as source:
        run = source.traces.get(beta.trace_id).run
        assert run is not None
        assert run.session_id is not None
        expected = shape(source, beta.trace_id)
    scope = Scope("task", run.task_id)
    lines = _export(fresh_url, settings, scope)

    assert [row["id"] for row in _of(lines, "sessions")] == [str(run.session_id)]  # not conv-2
    ledger = _of(lines, "otlp_spans")
    assert sorted(row["span_id"] for row in ledger) == sorted(span.span_id for span in beta.spans)
    assert all(row["pending"] is None and row["run_id"] == str(run.id) for row in ledger)
    assert not _of(lines, "model_prices")

    assert _import(target_url, settings, lines) == len(lines) - 2
    assert _rows(_export(target_url, settings, scope)) == _rows(lines)
    assert _count(target_url, settings, OtlpSpan.pending) == 0
    with open_store_sync(url_of(target_url), settings=settings, customer_id=customer) as imported:
        assert shape(imported, beta.trace_id) == expected
        [session] = imported.sessions.list()
        assert (session.id, session.external_id, session.run_count) == (run.session_id, "conv-1", 1)
        result = imported.traces.record(beta.in_end_order())
        assert (result.accepted, result.duplicates) == (0, len(beta.spans))


def test_model_prices_travel_in_a_whole_database_export_only(
    fresh_url: DatabaseUrl, target_url: DatabaseUrl, settings: Settings
) -> None:
    recorded = _record(fresh_url, settings)
    with open_store_sync(url_of(fresh_url), settings=settings) as store:
        store.model_prices.set(model="house-model", input_usd_per_mtok=1, output_usd_per_mtok=2)
    whole = _export(fresh_url, settings, Scope("all"))
    assert [row["model"] for row in _of(whole, "model_prices")] == ["house-model"]
    assert len(_of(whole, "sessions")) == 3  # both customers'
    customer = _export(fresh_url, settings, Scope("customer", recorded.customer_id))
    assert not _of(customer, "model_prices")

    assert _import(target_url, settings, whole) == len(whole) - 2
    assert _rows(_export(target_url, settings, Scope("all"))) == _rows(whole)
    assert _count(target_url, settings, OtlpSpan.pending) == 1
    with open_store_sync(url_of(target_url), settings=settings) as imported:
        [price] = imported.model_prices.list(origin="operator")
        assert (price.model, price.input_usd_per_mtok) == ("house-model", Decimal(1))


def test_every_table_but_the_operators_belongs_to_a_customer_scope() -> None:
    """A new table must be given a place in each scope (or be declared the operator's, or
    never exported)."""
    owner = uuid.uuid4()
    customer = build_filters(Scope("customer", owner), customer_id=owner).where
    assert set(customer) == set(Base.metadata.tables) - OPERATOR_TABLES - NEVER_EXPORTED
    everything = build_filters(Scope("all"), customer_id=None).where
    assert set(everything) == set(Base.metadata.tables) - NEVER_EXPORTED
    for kind in ("project", "task"):
        scoped = build_filters(Scope(kind, uuid.uuid4()), customer_id=owner).where
        assert {"sessions", "task_runs", "otlp_spans"} <= set(scoped)
        assert not OPERATOR_TABLES & set(scoped)


def test_a_clash_with_the_target_names_its_table_and_imports_nothing(
    fresh_url: DatabaseUrl, target_url: DatabaseUrl, settings: Settings
) -> None:
    """The target already holds the customer, and a session of the same conversation that its
    own spans made there (another id, the same customer and external id)."""
    recorded = _record(fresh_url, settings)
    lines = _export(fresh_url, settings, Scope("customer", recorded.customer_id))
    _import(target_url, settings, _file(lines, {"customers"}))
    with open_store_sync(
        url_of(target_url), settings=settings, customer_id=recorded.customer_id
    ) as store:
        store.traces.record(team("conv-1", title="Alpha").in_end_order())
    before = _counts(target_url, settings)
    tables = {row["table"] for row in _rows(lines)}
    for file, table, says in (
        (lines, "customers", "customers"),
        (_file(lines, tables - {"customers"}), "sessions", "external_id"),
    ):
        with pytest.raises(Conflict) as refused:
            _import(target_url, settings, file)
        assert f"(table {table})" in str(refused.value)
        assert says in str(refused.value)
        assert "Nothing was imported" in str(refused.value)
        assert _counts(target_url, settings) == before


def test_the_ledger_crosses_dialects_unchanged(
    tmp_path: Path, postgres_server: PostgresServer | None, settings: Settings
) -> None:
    """SQLite -> PostgreSQL -> SQLite: the same rows each way, the waiting span still waiting
    (SQL NULL kept apart from JSON), and the spans sent again are duplicates at the end."""
    if postgres_server is None:
        pytest.fail("this test needs PostgreSQL (set FLIGHTLOG_TEST_POSTGRES_URL)")
    source = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'source.db'}")
    middle = postgres_server.create_database("flightlog_otlp_crossing")
    back = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'back.db'}")
    recorded = _record(source, settings)
    scope = Scope("customer", recorded.customer_id)
    exports = [_export(source, settings, scope)]
    try:
        for url in (middle, back):
            Migrator(settings, url).upgrade("head")
            assert _import(url, settings, exports[-1]) == len(exports[-1]) - 2
            assert _count(url, settings, OtlpSpan.pending) == 1
            exports.append(_export(url, settings, scope))
    finally:
        postgres_server.drop_database(middle)
    assert _rows(exports[0]) == _rows(exports[1]) == _rows(exports[2])
    with open_store_sync(
        url_of(back), settings=settings, customer_id=recorded.customer_id
    ) as store:
        for one in recorded.teams:
            assert store.traces.record(one.in_end_order()).duplicates == len(one.spans)
        assert store.traces.record([recorded.waiting_parent]).accepted == 1
        trace = store.traces.get(recorded.waiting_child.trace_id)
        assert trace.waiting_spans == 0
        [probe] = [
            event for event in trace.events if event.span_id == recorded.waiting_child.span_id
        ]
        assert probe.event_type.value == "TOOL_CALL"
