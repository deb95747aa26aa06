"""The two sink backends run the same generated statements: a contract proved on chdb.

No ClickHouse server runs here (Debian's is from 2018). ClickHouseServerBackend hands
each statement's SQL and parameters to clickhouse-connect's ``command``/``raw_query``,
which bind them with ``bind_query`` and send the result over HTTP; ChdbBackend binds
with the same ``bind_query`` and runs the result in-process. So one probe process
(tests/tools/sink_contract_probe.py, chdb cannot live in pytest's process) drives
every kind of statement through chdb and records each as sent; the tests check that
each binds to the same text whatever the server's time zone (no value depends on it)
and that chdb gave the answers the sink relies on. The HTTP transport itself is
not exercised (docs/sink.md says so); its failure path is, against a closed port.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flightlog.errors import ConfigurationError
from flightlog.sink.backend import SinkUnavailable
from flightlog.sink.schema import TABLES, TASK_RUNS, schema_statements
from flightlog.sink.server_backend import ClickHouseServerBackend, client_arguments
from flightlog.sink.url import SinkUrl
from pg_cluster import free_port
from sink_support import TOOLS


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("contract") / "sink"
    done = subprocess.run(
        [sys.executable, str(TOOLS / "sink_contract_probe.py"), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _kinds(statements: list[dict[str, Any]]) -> set[str]:
    return {" ".join(s["sql"].split()[:2]).upper() for s in statements}


def test_every_statement_binds_the_same_whatever_the_servers_time_zone(
    probed: dict[str, Any],
) -> None:
    statements = probed["statements"]
    assert {
        "CREATE DATABASE",
        "CREATE TABLE",
        "ALTER TABLE",
        "INSERT INTO",
        "SELECT ENGINE_FULL",
    } <= _kinds(statements)
    for sent in statements:
        in_utc, in_tokyo = sent["bound"]
        assert in_utc == in_tokyo, sent["sql"]
        assert in_utc[0] == sent["sql"].rstrip(";"), "binding must not splice values into the SQL"
        assert sorted(in_utc[1]) == sorted(f"param_{name}" for name in sent["params"])
        for value in sent["params"].values():
            assert isinstance(value, (str, int, list)), (sent["sql"], value)


def test_the_schema_is_replacing_merge_trees_by_month_and_customer_with_the_retention(
    probed: dict[str, Any],
) -> None:
    ddl = schema_statements("db", 30)
    for table in TABLES:
        create = next(s for s in ddl if f"db.{table.name} (" in s)
        assert "ENGINE = ReplacingMergeTree(_version, _deleted)" in create
        assert "PARTITION BY toYYYYMM(time)" in create
        by_task = table.name == "metric_points"
        key = "customer_id, task_id, name, time, id" if by_task else "customer_id, time, id"
        assert f"ORDER BY ({key})" in create
        assert ("SETTINGS allow_nullable_key = 1" in create) is by_task  # a point's task: NULL
        assert "TTL time + toIntervalDay(30)" in create
    # Created at 30 days, then asked for 45: the table's TTL was changed, not left.
    assert "TTL time + toIntervalDay(45)" in probed["checks"]["ttl"]
    alters = [s["sql"] for s in probed["statements"] if s["sql"].startswith("ALTER")]
    assert len(alters) == len(TABLES)


def test_a_sink_made_with_another_key_is_rebuilt_with_its_live_rows(
    probed: dict[str, Any],
) -> None:
    """Metric points keyed by (customer, time) before: rebuilt keyed by task and name, once,
    keeping the newest version of each live point and none of the deleted one, and a
    rebuild's leftover staging table is gone."""
    checks = probed["checks"]
    assert checks["layout"] == {
        "agent_runs": "customer_id, time, id",
        "events": "customer_id, time, id",
        "metric_points": "customer_id, task_id, name, time, id",
        "sink_metric_floor": "customer_id",
        "sink_progress": "stream",
        "task_runs": "customer_id, time, id",
    }
    assert checks["rebuilds"] == 2  # three starts, one rebuild of each (task runs: below)
    assert checks["rebuilt"] == {"metric_points": 5, "task_runs": None}
    assert checks["rebuilt_again"] == {}
    assert checks["legacy_kept"] is True
    assert checks["legacy_versions"] == [[3, 1], [4, 2]]  # the newest version, kept as it was
    odd = "it's a \\ back\tslash\nline, ünï"
    assert [row[:4] for row in checks["legacy_held"]] == [
        ["3", "0190aaaa-0000-7000-8000-000000000001", "0190aaaa-0000-7000-8000-0000000000a1", odd],
        ["4", "0190aaaa-0000-7000-8000-000000000001", None, "b"],
    ]
    # Tombstones at the new key (a NULL task among it) hide both points.
    assert checks["legacy_after_tombstones"] == 0


def test_task_runs_made_before_the_derived_columns_are_rebuilt_with_them(
    probed: dict[str, Any],
) -> None:
    """A sink's task runs from before ``completed_second``, ``outcome`` and ``duration_bin``
    (no comment naming them) are rebuilt once, and ClickHouse computes them for the rows
    it held: whole seconds of the end (0 for none or before 1970, the UInt32's last second
    after 2106), the outcome's place, the duration's bin (255 for none)."""
    checks = probed["checks"]
    assert checks["comments"]["task_runs"] == TASK_RUNS.layout
    assert TASK_RUNS.layout.startswith("flightlog layout ")
    assert {name: comment for name, comment in checks["comments"].items() if comment} == {
        "task_runs": TASK_RUNS.layout
    }
    base = checks["base_second"]
    assert checks["derived"] == [
        [1, "COMPLETED", base + 90, 1, 5],  # 90.75 s: the 60-120 s bin
        [2, "RUNNING", 0, 0, 255],
        [3, "TIMEOUT", 0, 3, 10],  # 1969-12-31 23:59:59.5; two hours
        [4, "CANCELLED", 2**32 - 1, 4, 0],  # 2200-01-01; 0.2 s
    ]


def test_windows_outside_the_derived_seconds_are_read_from_the_end_itself(
    probed: dict[str, Any],
) -> None:
    """Before 1970 and after 2106, where ``completed_second`` holds a bound, the run charts
    ask ``completed_at``: each run in its own window, none left out, none let in."""
    checks = probed["checks"]
    assert checks["outcomes_epoch"] == [["1969-12-31T23:00:00+00:00", 1]]
    assert checks["outcomes_2200"] == [["2200-01-01T00:00:00+00:00", 1]]
    assert checks["durations_epoch"] == [[3600.0, 1, 1]]  # [23:59:59, 00:00:00)
    # From the epoch itself (asked of completed_at) and from a second later (of
    # completed_second): the same two runs, the one ended before 1970 left out.
    assert checks["durations_from_epoch"] == [[0.0, 1], [60.0, 1]]
    assert checks["durations_from_1970"] == [[0.0, 1], [60.0, 1]]
    charts = [s["sql"] for s in probed["statements"] if "FROM contract.task_runs FINAL" in s["sql"]]
    whole_seconds = [sql for sql in charts if "completed_second >= {start:UInt32}" in sql]
    ends_themselves = [sql for sql in charts if "completed_at >= {start:" in sql]
    # Today's windows and the one from 1970-01-01 00:00:01 read the narrow columns.
    assert len(whole_seconds) == 3
    assert len(ends_themselves) == 4


def test_a_row_written_twice_is_one_row_and_reads_back_as_written(probed: dict[str, Any]) -> None:
    checks = probed["checks"]
    assert checks["events_after_replay"] == 1
    assert checks["event_round_trip"] is True
    assert checks["metric_round_trip"] is True  # NaN, JSON labels, quotes and newlines


def test_the_newest_version_wins_and_a_tombstone_hides_the_row(probed: dict[str, Any]) -> None:
    checks = probed["checks"]
    assert checks["open_ids"] == checks["open_expected"]
    assert sorted(checks["newest_version_tokens"].values()) == [7, 99]
    assert checks["after_tombstone"] == [1]
    found = checks["fingerprints"]
    assert [[row[0], row[3]] for row in found] == [checks["expected_fingerprint"]]
    # Looked up by id: the tombstoned and the unknown id give nothing.
    assert checks["fingerprints_of"] == [checks["expected_fingerprint"]]


def test_progress_is_read_back_as_saved(probed: dict[str, Any]) -> None:
    tailed, sweeps, cycle, caught_up_at = probed["checks"]["progress"]
    assert tailed["events"] == 7
    assert sweeps["agent_runs"] == probed["checks"]["expected_fingerprint"][0]
    assert cycle == 12
    assert caught_up_at.endswith("00:00:00+00:00")


def test_every_aggregate_runs_with_odd_text_in_its_parameters(probed: dict[str, Any]) -> None:
    checks = probed["checks"]
    odd = "it's a \\ back\tslash\nline, ünï"
    assert [row[1:] for row in checks["usage"]] == [[odd, 1, 99, "0.123456"]]
    assert [row[1:] for row in checks["outcomes"]] == [[1, 100.0]]
    assert checks["durations"] == [[5.0, 1]]
    assert checks["names"] == [[odd, 1, "ms"]]
    assert checks["summary"] == {odd: [1, "nan"]}
    assert [row[1] for row in checks["buckets"]] == [1]


def test_a_process_cannot_open_a_second_chdb_directory(probed: dict[str, Any]) -> None:
    message = probed["checks"]["second_directory"]
    assert "one data directory per process" in message
    assert message.endswith("-other.")


def test_configuring_a_sink_loads_no_backend_library_until_one_is_used() -> None:
    code = (
        "import sys\n"
        "from flightlog.settings import get_settings\n"
        "settings = get_settings(sink_url='chdb:///tmp/nowhere', database_url='sqlite:///x.db')\n"
        "import flightlog, flightlog.cli\n"
        "from flightlog.web import sink_reads\n"
        "print(sorted(m for m in ('chdb', 'clickhouse_connect', 'pandas', 'pyarrow') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_unreachable_clickhouse_server_is_unavailable_and_keeps_its_password() -> None:
    url = SinkUrl.parse(f"clickhouse://writer:s3cret@127.0.0.1:{free_port()}/telemetry")
    with pytest.raises(SinkUnavailable) as caught:
        ClickHouseServerBackend(url)
    assert "did not answer" in caught.value.message
    assert "s3cret" not in caught.value.message
    assert "clickhouse://writer@127.0.0.1" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "clickhouse://writer:p%40ss@ch.example:9000/telemetry",
            {"host": "ch.example", "port": 9000, "username": "writer", "password": "p@ss"},
        ),
        ("clickhouses://ch.example/", {"port": 8443, "secure": True, "username": "default"}),
        ("clickhouse://ch.example", {"port": 8123, "secure": False}),
    ],
)
def test_the_server_client_is_made_from_the_url(text: str, expected: dict[str, Any]) -> None:
    arguments = client_arguments(SinkUrl.parse(text))
    assert expected.items() <= arguments.items()
    assert "database" not in arguments  # statements name theirs; it may not exist yet


@pytest.mark.parametrize(
    "text",
    [
        "clickhouse://",
        "clickhouse://host:notaport/db",
        "mysql://host/db",
        "chdb://",
        "chdb:///tmp/x?database=1bad",
        "clickhouse://host/db-with-dash",
    ],
)
def test_a_sink_url_flightlog_cannot_use_is_refused_in_one_sentence(
    text: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SinkUrl.parse(text)
    assert (
        "FLIGHTLOG_SINK_URL" in caught.value.message or "plain identifier" in caught.value.message
    )
    assert "\n" not in caught.value.message
