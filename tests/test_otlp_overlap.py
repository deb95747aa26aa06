"""Concurrent span ingest on PostgreSQL overlaps up to a short tail (decision 0024).

Each test holds one request's transaction open on purpose (``first``: spans
recorded, not committed) and sends a second request from another thread. What
the second may do meanwhile is the behaviour: a request for other traces and
other tasks commits; one for the same task writes everything and then waits
only for the task's row lock, where its runs are numbered; one naming the
same new title waits for that title's creation. SQLite has one writer, so
these exist on PostgreSQL only.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from flightlog.db.urls import DatabaseUrl
from flightlog.models import (
    DEFERRABLE_FOREIGN_KEYS,
    AgentSession,
    Event,
    OtlpSpan,
    Task,
    TaskRun,
)
from flightlog.otlp.ingest import SpansRecorded, record_spans
from flightlog.otlp.spans import Span
from flightlog.services._dialect import NAME_LOCKS
from flightlog.services.run_endings import cancel_task
from flightlog.settings import Settings
from flightlog.store.facades import otlp_limits
from flightlog.store.sync import SyncStore, open_store_sync
from otlp_spans import team
from waiting import wait_until

pytestmark = pytest.mark.postgres_only

WAIT_SECONDS = 30


@pytest.fixture
def pg_store(fresh_head_url: DatabaseUrl, test_settings: Settings) -> Iterator[SyncStore]:
    url = fresh_head_url.url.render_as_string(hide_password=False)
    with open_store_sync(url, settings=test_settings, upgrade=False) as store:
        yield store


@dataclass
class Second:
    """A request recorded on a thread of its own, committed when it can be."""

    done: threading.Event = field(default_factory=threading.Event)
    result: SpansRecorded | None = None
    error: BaseException | None = None
    backend_pid: int | None = None


def send_second(store: SyncStore, spans: list[Span]) -> Second:
    second = Second()

    def run() -> None:
        try:
            with store.transaction() as session:
                second.backend_pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                second.result = record_spans(
                    session, store.customer_id, otlp_limits(store), spans=spans
                )
        except BaseException as exc:  # reported by the test, not lost on the thread
            second.error = exc
        finally:
            second.done.set()

    threading.Thread(target=run, daemon=True).start()
    return second


@contextmanager
def first_open(store: SyncStore, spans: list[Span]) -> Iterator[Session]:
    """Record ``spans`` in a transaction kept open until the block ends (then committed)."""
    with store.transaction() as session:
        result = record_spans(session, store.customer_id, otlp_limits(store), spans=spans)
        assert not result.rejected
        assert result.accepted == len(spans)
        yield session


def waiting_statement(store: SyncStore, second: Second) -> str | None:
    """The statement the second request's connection is blocked in, if it is blocked on a lock."""
    if second.backend_pid is None:
        return None
    with store.engine.connect() as connection:
        row = connection.execute(
            text("SELECT wait_event_type, query FROM pg_stat_activity WHERE pid = :pid"),
            {"pid": second.backend_pid},
        ).one_or_none()
    return str(row.query) if row is not None and row.wait_event_type == "Lock" else None


def runs_of(store: SyncStore, title: str) -> list[tuple[uuid.UUID, int]]:
    with store.engine.connect() as connection:
        return [
            (row.task_id, row.run_number)
            for row in connection.execute(
                select(TaskRun.task_id, TaskRun.run_number)
                .join(Task, Task.id == TaskRun.task_id)
                .where(Task.customer_id == store.customer_id, Task.title == title)
                .order_by(TaskRun.run_number)
            )
        ]


def test_a_request_for_other_traces_and_tasks_commits_while_another_is_open(
    dialect: str, pg_store: SyncStore
) -> None:
    """Before, one lock per customer held every request until the open one ended."""
    with first_open(pg_store, team("conv-first", title="first workflow").in_end_order()):
        second = send_second(pg_store, team("conv-second", title="second workflow").in_end_order())
        assert second.done.wait(WAIT_SECONDS), "the second request waited for the first"
        assert second.error is None, second.error
        assert second.result is not None
        assert second.result.accepted == 7
    assert len(runs_of(pg_store, "second workflow")) == 1
    assert len(runs_of(pg_store, "first workflow")) == 1


def test_a_request_for_the_same_task_waits_only_for_the_numbering_tail(
    dialect: str, pg_store: SyncStore
) -> None:
    pg_store.tasks.create(title="shared")  # made before, so neither request makes it
    first_team, second_team = team(title="shared"), team(title="shared")
    with first_open(pg_store, first_team.in_end_order()):
        second = send_second(pg_store, second_team.in_end_order())
        # It is held where its runs are numbered: its events and ledger rows are written.
        wait_until(
            lambda: "FOR NO KEY UPDATE" in (waiting_statement(pg_store, second) or ""),
            WAIT_SECONDS,
            "the second request to wait on the task's row lock",
        )
        assert not second.done.is_set()
    assert second.done.wait(WAIT_SECONDS)
    assert second.error is None, second.error
    runs = runs_of(pg_store, "shared")
    assert [number for _, number in runs] == [1, 2]
    assert len({task_id for task_id, _ in runs}) == 1
    with pg_store.engine.connect() as connection:
        for member in (first_team, second_team):
            events = connection.scalar(
                select(func.count()).select_from(Event).where(Event.trace_id == member.trace_id)
            )
            assert events == 5  # three chat spans and two tool spans


def test_two_requests_naming_the_same_new_title_make_one_task(
    dialect: str, pg_store: SyncStore
) -> None:
    with first_open(pg_store, team(title="brand new").in_end_order()):
        second = send_second(pg_store, team(title="brand new").in_end_order())
        wait_until(
            lambda: "pg_advisory_xact_lock" in (waiting_statement(pg_store, second) or ""),
            WAIT_SECONDS,
            "the second request to wait for the title being created",
        )
    assert second.done.wait(WAIT_SECONDS)
    assert second.error is None, second.error
    runs = runs_of(pg_store, "brand new")
    assert [number for _, number in runs] == [1, 2]
    assert len({task_id for task_id, _ in runs}) == 1


def test_two_requests_starting_the_same_conversation_share_one_session(
    dialect: str, pg_store: SyncStore
) -> None:
    """The second insert finds the first's session (ON CONFLICT) and widens its times."""
    for title in ("left", "right"):
        pg_store.tasks.create(title=title)
    with first_open(pg_store, team("one conversation", title="left").in_end_order()):
        second = send_second(pg_store, team("one conversation", title="right").in_end_order())
        wait_until(
            lambda: "pg_advisory_xact_lock" in (waiting_statement(pg_store, second) or ""),
            WAIT_SECONDS,
            "the second request to wait for the conversation the first is making",
        )
    assert second.done.wait(WAIT_SECONDS)
    assert second.error is None, second.error
    with pg_store.engine.connect() as connection:
        sessions = connection.execute(
            select(AgentSession.id).where(
                AgentSession.customer_id == pg_store.customer_id,
                AgentSession.external_id == "one conversation",
            )
        ).all()
        assert len(sessions) == 1
        linked = connection.scalars(
            select(TaskRun.session_id)
            .join(Task, Task.id == TaskRun.task_id)
            .where(Task.customer_id == pg_store.customer_id)
        ).all()
    assert linked == [sessions[0].id, sessions[0].id]


def test_a_task_cancelled_while_a_request_waits_takes_none_of_its_spans(
    dialect: str, pg_store: SyncStore
) -> None:
    """The run service cancels the task (its lock does not wait for span requests that
    merely hold the task); the request, held at its tail until the cancel commits, finds
    it cancelled there and refuses the trace."""
    task = pg_store.tasks.create(title="to be cancelled")
    trace = team(title="to be cancelled")
    with pg_store.transaction() as session:
        cancel_task(session, pg_store.customer_id, task.id)
        second = send_second(pg_store, trace.in_end_order())
        wait_until(
            lambda: "FOR NO KEY UPDATE" in (waiting_statement(pg_store, second) or ""),
            WAIT_SECONDS,
            "the second request to wait on the task's row lock",
        )
    assert second.done.wait(WAIT_SECONDS)
    assert second.error is None, second.error
    assert second.result is not None
    assert len(second.result.rejected) == 7
    assert all("cancelled meanwhile" in r.reason for r in second.result.rejected)
    with pg_store.engine.connect() as connection:
        for model in (Event, OtlpSpan):
            left = connection.scalar(
                select(func.count()).select_from(model).where(model.trace_id == trace.trace_id)
            )
            assert left == 0, model.__name__
    assert runs_of(pg_store, "to be cancelled") == []


def test_the_references_to_a_run_are_the_only_deferrable_constraints(
    dialect: str, pg_store: SyncStore
) -> None:
    """What migration 0012 made deferrable is what the models declare, and span ingest defers
    by those names."""
    with pg_store.engine.connect() as connection:
        found = {
            (str(row.conname), str(row.relname))
            for row in connection.execute(
                text(
                    "SELECT c.conname, r.relname FROM pg_constraint AS c "
                    "JOIN pg_class AS r ON r.oid = c.conrelid "
                    "WHERE c.condeferrable AND NOT r.relispartition"
                )
            )
        }
    assert found == set(DEFERRABLE_FOREIGN_KEYS.items())
    assert set(DEFERRABLE_FOREIGN_KEYS.values()) == {
        "events",
        "agent_runs",
        "otlp_spans",
        "artifacts",
    }


def test_an_embedders_own_deferred_constraints_stay_deferred(
    dialect: str, pg_store: SyncStore
) -> None:
    """Spans recorded in a team's own transaction defer and check only Flightlog's
    references: a row of the team's that waits for its parent until the commit still can."""
    with pg_store.engine.begin() as connection:
        connection.execute(text("CREATE TABLE team_parent (id integer PRIMARY KEY)"))
        connection.execute(
            text(
                "CREATE TABLE team_child (parent integer "
                "REFERENCES team_parent DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    trace = team("embedded conversation", title="embedded")
    with pg_store.engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(text("INSERT INTO team_child VALUES (1)"))  # its parent comes later
        embedded = SyncStore(
            pg_store.engine, pg_store.settings, pg_store.customer_id, connection=connection
        )
        result = embedded.traces.record(trace.in_end_order())
        assert result.rejected == []
        connection.execute(text("INSERT INTO team_parent VALUES (1)"))
        transaction.commit()
    assert [number for _, number in runs_of(pg_store, "embedded")] == [1]


def test_a_request_of_many_traces_runs_alone_on_one_lock(dialect: str, pg_store: SyncStore) -> None:
    """More traces than NAME_LOCKS: one exclusive lock for the customer's span requests,
    not a lock per trace that could fill PostgreSQL's lock table."""
    pg_store.tasks.create(title="many")
    many = [span for _ in range(NAME_LOCKS + 8) for span in team(None, title="many").spans]
    with first_open(pg_store, many) as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pg_store.engine.connect() as connection:
            advisory = connection.execute(
                text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND locktype = 'advisory'"),
                {"pid": pid},
            ).scalar_one()
        assert advisory == 1
        second = send_second(pg_store, team(None, title="many").in_end_order())
        wait_until(
            lambda: "pg_advisory_xact_lock" in (waiting_statement(pg_store, second) or ""),
            WAIT_SECONDS,
            "the second request to wait for the customer's lock",
        )
    assert second.done.wait(WAIT_SECONDS)
    assert second.error is None, second.error
    assert [number for _, number in runs_of(pg_store, "many")] == list(range(1, NAME_LOCKS + 10))


def test_a_run_starts_while_span_requests_hold_its_task(dialect: str, pg_store: SyncStore) -> None:
    """Span requests hold their tasks FOR KEY SHARE until they commit; the run service's
    lock does not wait for that (a steady stream of them would starve it)."""
    task = pg_store.tasks.create(title="busy")
    with pg_store.transaction() as session:
        session.execute(
            select(Task.id).where(Task.id == task.id).with_for_update(read=True, key_share=True)
        ).one()
        started = threading.Event()

        def start() -> None:
            pg_store.runs.start(task.id)
            started.set()

        threading.Thread(target=start, daemon=True).start()
        assert started.wait(WAIT_SECONDS), "the run waited for the span request's share lock"
    assert [number for _, number in runs_of(pg_store, "busy")] == [1]
