"""Run every kind of statement the sink generates on chdb, and record each one as sent.

``python tests/tools/sink_contract_probe.py DIR`` owns a chdb sink in ``DIR`` (chdb: one
directory per process, so not in pytest's process), drives the schema, inserts,
progress, sweeps and every aggregate through :class:`ChdbBackend`, and prints JSON:
``statements`` (each SQL text with its parameters and how clickhouse-connect's
``bind_query`` binds them under two server time zones, as ClickHouseServerBackend's
``command``/``raw_query`` do) and ``checks`` (what the statements returned).
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.binding import bind_query

from flightlog.errors import ConfigurationError
from flightlog.sink import aggregates, progress
from flightlog.sink import rows as source
from flightlog.sink.backend import ensure_schema
from flightlog.sink.chdb_backend import ChdbBackend
from flightlog.sink.schema import (
    AGENT_RUNS,
    BOOKKEEPING,
    EVENTS,
    METRIC_POINTS,
    TASK_RUNS,
    create_database,
    create_table,
    staging_name,
)
from flightlog.sink.statements import (
    READ,
    Insert,
    Statement,
    count_live,
    fingerprints,
    fingerprints_of,
    insert,
    open_ids,
    rows_page,
    tombstones,
)
from flightlog.sink.url import SinkUrl

CUSTOMER = uuid.UUID("0190aaaa-0000-7000-8000-000000000001")
TASK = uuid.UUID("0190aaaa-0000-7000-8000-0000000000a1")
RUN = uuid.UUID("0190aaaa-0000-7000-8000-0000000000b1")
ODD = "it's a \\ back\tslash\nline, ünï"
#: Two days ago at midnight: inside the retention (older rows are dropped as they are inserted).
BASE = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)


class Recording(ChdbBackend):
    """chdb, noting every statement it is given (as a server backend would be given it)."""

    sent: list[dict[str, Any]] = []

    def _note(self, statement: Statement, payload: str | None = None) -> None:
        params = dict(statement.params)
        bound = [
            bind_query(statement.sql, params or None, tz) for tz in (UTC, ZoneInfo("Asia/Tokyo"))
        ]
        self.sent.append(
            {
                "sql": statement.sql,
                "params": params,
                "bound": [[str(sql), dict(values)] for sql, values in bound],
                "payload": payload,
            }
        )

    def command(self, statement: Statement) -> None:
        self._note(statement)
        super().command(statement)

    def insert(self, batch: Insert) -> None:
        self._note(Statement(batch.sql), batch.payload)
        super().insert(batch)

    def select(self, statement: Statement) -> list[list[Any]]:
        self._note(statement)
        return super().select(statement)


def _agent_run(agent_id: uuid.UUID, started: datetime, tokens: int, status: str) -> list[Any]:
    values = [
        agent_id,
        CUSTOMER,
        started,
        TASK,
        RUN,
        None,
        None,
        ODD,
        status,
        None,
        None,
        None,
        None,
        tokens,
        2 * tokens,
        Decimal("0.123456"),
        {"b": 1, "a": [ODD]},
        None,
        None,
    ]
    return source.encode(AGENT_RUNS, values)


def _legacy_metric_points(backend: ChdbBackend, database: str) -> list[list[Any]]:
    """A sink made before metric points were keyed by task and name: that table as an
    earlier version created it, holding a point with a task, one without (two versions)
    and one deleted. The live points, as ``rows_page`` should read them back after the
    rebuild."""
    backend.command(Statement(create_database(database)))
    old = create_table(database, replace(METRIC_POINTS, key=("customer_id", "time")), 30)
    backend.command(Statement(old))
    with_task = source.encode(
        METRIC_POINTS, [3, CUSTOMER, BASE, TASK, RUN, None, ODD, "GAUGE", 1.5, None, {}]
    )
    without = source.encode(
        METRIC_POINTS, [4, CUSTOMER, BASE, None, None, None, "b", "GAUGE", 2.0, "ms", {"k": 1}]
    )
    deleted = source.encode(
        METRIC_POINTS, [5, CUSTOMER, BASE, TASK, None, None, "c", "GAUGE", 3.0, None, {}]
    )
    older = [*without[:8], 0.5, *without[9:]]
    rows = [
        source.sink_row(with_task, 1),
        source.sink_row(older, 1),
        source.sink_row(without, 2),
        source.sink_row(deleted, 1),
    ]
    backend.insert(insert(database, "metric_points", METRIC_POINTS.all_columns, rows))
    tomb = [5, str(CUSTOMER), deleted[2], 0, 2, 1]
    columns = ("id", "customer_id", "time", *BOOKKEEPING)
    backend.insert(insert(database, "metric_points", columns, [tomb]))
    return [with_task, without]


#: The customer of the task runs a sink made before the derived columns held.
LEGACY_CUSTOMER = uuid.UUID("0190aaaa-0000-7000-8000-000000000002")


def _legacy_task_runs(backend: ChdbBackend, database: str) -> None:
    """A sink made before task runs had derived columns: that table as an earlier
    version created it (no derived columns, no comment), holding a finished run, an
    open one, one that ended before 1970 and one that ends after 2106."""
    old = create_table(database, replace(TASK_RUNS, derived=()), 30)
    backend.command(Statement(old))
    ends = [
        ("COMPLETED", BASE + timedelta(seconds=90, microseconds=750_000), 90.75),
        ("RUNNING", None, None),
        ("TIMEOUT", datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), 7200.0),
        ("CANCELLED", datetime(2200, 1, 1, tzinfo=UTC), 0.2),
    ]
    rows = []
    for n, (status, completed, duration) in enumerate(ends, start=1):
        run_id = uuid.UUID(f"0190aaaa-0000-7000-8000-0000000000c{n}")
        values = [run_id, LEGACY_CUSTOMER, BASE, TASK, n, status, None, None, BASE, completed]
        values += [duration, 0, 0, Decimal("0"), None, None, BASE]
        rows.append(source.sink_row(source.encode(TASK_RUNS, values), 1))
    backend.insert(insert(database, "task_runs", TASK_RUNS.all_columns, rows))


def main() -> None:
    directory = Path(sys.argv[1])
    url = SinkUrl.parse(f"chdb://{directory}?database=contract")
    backend = Recording(url)
    checks: dict[str, Any] = {}
    database = url.database
    legacy = _legacy_metric_points(backend, database)
    _legacy_task_runs(backend, database)
    # Rebuilds that table with the declared key; the highest id it held (5, deleted) is
    # where the worker tails it again from.
    checks["rebuilt"] = ensure_schema(backend, 30)
    # What a rebuild stopped after its EXCHANGE leaves: the old table, as staging.
    backend.command(
        Statement(f"CREATE TABLE {database}.{staging_name(METRIC_POINTS)} (x UInt8) ENGINE = Log")
    )
    checks["rebuilt_again"] = ensure_schema(backend, 30)  # the same retention: no ALTER
    ensure_schema(backend, 45)  # another: MODIFY TTL
    checks["layout"] = dict(
        backend.select(
            Statement(
                f"SELECT name, sorting_key FROM system.tables WHERE database = '{database}' "
                "FORMAT JSONCompact"
            )
        )
    )
    checks["rebuilds"] = sum(s["sql"].startswith("EXCHANGE TABLES") for s in Recording.sent)
    checks["comments"] = dict(
        backend.select(
            Statement(
                f"SELECT name, comment FROM system.tables WHERE database = '{database}' "
                "FORMAT JSONCompact"
            )
        )
    )
    checks["derived"] = backend.select(
        Statement(
            "SELECT run_number, status, completed_second, outcome, duration_bin "
            f"FROM {database}.task_runs FINAL WHERE customer_id = '{LEGACY_CUSTOMER}' "
            f"ORDER BY run_number {READ}"
        )
    )
    checks["base_second"] = int(BASE.timestamp())
    kept = backend.select(rows_page(database, METRIC_POINTS, 0, 10))
    checks["legacy_kept"] = [source.canonical(METRIC_POINTS, row) for row in kept] == legacy
    checks["legacy_versions"] = backend.select(
        Statement(f"SELECT id, _version FROM {database}.metric_points FINAL ORDER BY id {READ}")
    )
    # Hidden as the sweep hides a deleted point: a tombstone at the key the sink holds it at
    # (one of them without a task: a NULL in the key).
    held = backend.select(fingerprints(database, METRIC_POINTS, 0, 9))
    checks["legacy_held"] = [row[:-1] for row in held]
    gone = [[int(row[0]), *row[1:-1]] for row in held]
    backend.insert(tombstones(database, METRIC_POINTS, gone, 2))
    checks["legacy_after_tombstones"] = backend.select(count_live(database, METRIC_POINTS))[0][0]
    checks["ttl"] = backend.select(
        Statement(
            f"SELECT engine_full FROM system.tables WHERE database = '{database}' "
            "AND name = 'events' FORMAT JSONCompact"
        )
    )[0][0]

    # Events and metric points: written twice (a replay after kill -9) stay one row each.
    event = source.encode(
        EVENTS,
        [
            7,
            CUSTOMER,
            BASE,
            TASK,
            RUN,
            None,
            None,
            None,
            "LOG",
            "INFO",
            ODD,
            ODD,
            {"z": 1.5, "a": None},
            None,
            None,
            None,
            None,
            None,
        ],
    )
    for _ in range(2):
        backend.insert(insert(database, "events", EVENTS.all_columns, [source.sink_row(event, 1)]))
    point = source.encode(
        METRIC_POINTS,
        [9, CUSTOMER, BASE, TASK, RUN, None, ODD, "GAUGE", float("nan"), "ms", {"k": ODD}],
    )
    backend.insert(
        insert(database, "metric_points", METRIC_POINTS.all_columns, [source.sink_row(point, 1)])
    )
    checks["events_after_replay"] = backend.select(count_live(database, EVENTS))[0][0]
    read_back = backend.select(rows_page(database, EVENTS, 0, 10))
    checks["event_round_trip"] = source.canonical(EVENTS, read_back[0]) == event
    metric_back = backend.select(rows_page(database, METRIC_POINTS, 0, 10))
    checks["metric_round_trip"] = source.canonical(METRIC_POINTS, metric_back[0]) == point

    # Agent runs: the highest version wins, a tombstone hides the row, open ids are found.
    first, second = uuid.uuid4(), uuid.uuid4()
    rows = [
        source.sink_row(_agent_run(first, BASE + timedelta(minutes=1), 10, "RUNNING"), 3),
        source.sink_row(_agent_run(first, BASE + timedelta(minutes=1), 99, "COMPLETED"), 5),
        source.sink_row(_agent_run(first, BASE + timedelta(minutes=1), 50, "RUNNING"), 4),
        source.sink_row(_agent_run(second, BASE + timedelta(hours=2), 7, "RUNNING"), 3),
    ]
    backend.insert(insert(database, "agent_runs", AGENT_RUNS.all_columns, rows))
    checks["open_ids"] = sorted(row[0] for row in backend.select(open_ids(database, AGENT_RUNS)))
    checks["open_expected"] = [str(second)]
    live = backend.select(rows_page(database, AGENT_RUNS, "", 10))
    checks["newest_version_tokens"] = {row[0]: row[13] for row in live}
    backend.insert(tombstones(database, AGENT_RUNS, [[str(second), str(CUSTOMER), rows[3][2]]], 6))
    checks["after_tombstone"] = [row[0] for row in backend.select(count_live(database, AGENT_RUNS))]
    checks["fingerprints"] = backend.select(fingerprints(database, AGENT_RUNS, "", None))
    checks["expected_fingerprint"] = [str(first), source.fingerprint(rows[1][:-3])]
    checks["fingerprints_of"] = backend.select(
        fingerprints_of(database, AGENT_RUNS, [str(first), str(second), str(uuid.uuid4())])
    )

    # Progress: saved after the rows, loaded back.
    state = progress.Progress()
    state.tailed["events"] = 7
    state.sweeps["agent_runs"] = str(first)
    state.cycle = 12
    state.caught_up_at = BASE
    backend.insert(progress.save(database, state, BASE + timedelta(seconds=1)))
    loaded = progress.load(backend)
    checks["progress"] = [
        loaded.tailed,
        loaded.sweeps,
        loaded.cycle,
        loaded.caught_up_at.isoformat(),
    ]

    # Every aggregate, on these rows (the database comparison is tests/test_sink_aggregates.py).
    run = source.encode(
        TASK_RUNS,
        [
            RUN,
            CUSTOMER,
            BASE,
            TASK,
            1,
            "COMPLETED",
            None,
            None,
            BASE,
            BASE + timedelta(seconds=5),
            5.0,
            1,
            2,
            Decimal("0.5"),
            None,
            None,
            BASE,
        ],
    )
    backend.insert(insert(database, "task_runs", TASK_RUNS.all_columns, [source.sink_row(run, 1)]))
    usage = aggregates.usage(backend, CUSTOMER, since=BASE, bucket_seconds=3600, buckets=24)
    checks["usage"] = [
        (u.start.isoformat(), u.group, u.agent_runs, u.tokens_in, str(u.cost_usd)) for u in usage
    ]
    outcomes = aggregates.run_outcomes(
        backend, CUSTOMER, since=BASE, bucket_seconds=3600, buckets=2
    )
    checks["outcomes"] = [(o.start.isoformat(), o.completed, o.success_rate) for o in outcomes]
    durations = aggregates.run_durations(backend, CUSTOMER, since=BASE)
    checks["durations"] = [(d.low_seconds, d.runs) for d in durations if d.runs]
    # Windows outside what completed_second holds are asked of completed_at itself.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    checks["outcomes_epoch"] = [
        (o.start.isoformat(), o.timed_out)
        for o in aggregates.run_outcomes(
            backend, LEGACY_CUSTOMER, since=epoch - timedelta(hours=1), bucket_seconds=3600
        )
    ]
    checks["outcomes_2200"] = [
        (o.start.isoformat(), o.cancelled)
        for o in aggregates.run_outcomes(
            backend,
            LEGACY_CUSTOMER,
            since=datetime(2199, 12, 31, 23, tzinfo=UTC),
            bucket_seconds=3600,
        )
    ]
    checks["durations_epoch"] = [
        (d.low_seconds, d.runs, d.failed)
        for d in aggregates.run_durations(
            backend, LEGACY_CUSTOMER, since=epoch - timedelta(seconds=1), until=epoch
        )
        if d.runs
    ]
    checks["durations_from_epoch"] = [
        (d.low_seconds, d.runs)
        for d in aggregates.run_durations(backend, LEGACY_CUSTOMER, since=epoch)
        if d.runs
    ]
    checks["durations_from_1970"] = [
        (d.low_seconds, d.runs)
        for d in aggregates.run_durations(
            backend, LEGACY_CUSTOMER, since=epoch + timedelta(seconds=1)
        )
        if d.runs
    ]
    names = aggregates.metric_names(backend, CUSTOMER)
    checks["names"] = [(n.name, n.points, n.unit) for n in names]
    summary = aggregates.metric_summary(backend, CUSTOMER, task_id=TASK, names=[ODD, "x'y"])
    checks["summary"] = {k: [v.count, str(v.last)] for k, v in summary.items()}
    buckets = aggregates.metric_buckets(
        backend,
        CUSTOMER,
        ODD,
        bucket_seconds=60,
        run_id=RUN,
        since=BASE,
        until=BASE + timedelta(days=1),
    )
    checks["buckets"] = [(b.start.isoformat(), b.count) for b in buckets]

    try:
        ChdbBackend(SinkUrl.parse(f"chdb://{directory}-other"))
    except ConfigurationError as exc:
        checks["second_directory"] = exc.message
    backend.close()
    print(json.dumps({"statements": Recording.sent, "checks": checks}, default=str))


if __name__ == "__main__":
    main()
