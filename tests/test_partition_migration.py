"""Migration 0010 converts a populated PostgreSQL database and back, losing nothing.

Seeded with ``seed --size medium`` (100,000 events, 40,000 metric points) at
0009, upgraded, then downgraded: each time every row is there with its id and
parent reference (a checksum over them), every index by name, the identity
continues above where it was, and ``flightlog db check`` finds no drift. In
between, the tables are partitioned by month and the checks that must catch
drift still do (a plain table where a partitioned one belongs, a missing
trigger or index), while partitions never count as extra tables.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.filters import NamePatterns
from flightlog.migrations.runner import Migrator
from flightlog.ops.seeding import seed_database
from flightlog.services.event_feed import Watermark
from flightlog.settings import Settings

pytestmark = pytest.mark.postgres_only

CHECKSUM = (
    "SELECT count(*), coalesce(md5(string_agg(id::text || ':' || {parent}, ',' ORDER BY id)), '') "
    "FROM {table}"
)


def _state(engine: Engine) -> dict[str, Any]:
    """Rows (count and a checksum of ids and parent references), indexes, identity position."""
    with engine.connect() as connection:
        state: dict[str, Any] = {}
        for table, parent in (
            ("events", "coalesce(parent_event_id::text, '')"),
            ("metric_points", "''"),
        ):
            state[table] = tuple(
                connection.execute(text(CHECKSUM.format(table=table, parent=parent))).one()
            )
            state[f"{table} indexes"] = set(
                connection.execute(
                    text(
                        "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c "
                        "ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass)"
                    ),
                    {"t": table},
                ).scalars()
            )
            sequence = connection.scalar(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}
            )
            state[f"{table} grants"] = connection.scalar(
                text("SELECT relacl::text FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": table},
            )
            state[f"{table} sequence"] = tuple(
                connection.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
            )
        return state


def _kind(engine: Engine, table: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.scalar(text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table})
        )


@pytest.mark.slow
def test_a_seeded_database_is_partitioned_and_back_with_every_row_id_and_index(
    fresh_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    migrator = Migrator(test_settings, fresh_url)
    migrator.upgrade("0009")
    engine = create_sync_engine(test_settings, url=fresh_url)
    try:
        with Session(engine) as db, db.begin():
            seed_database(db, seed=7, size="medium")
        with engine.begin() as connection:
            # A parent reference to convert, and the newest rows deleted: the identity must
            # continue above the deleted ids, not above the largest id left.
            connection.execute(
                text("UPDATE events SET parent_event_id = id - 1 WHERE id % 1000 = 0")
            )
            connection.execute(
                text("DELETE FROM events WHERE id > (SELECT max(id) - 5 FROM events)")
            )
            # A reporting role's access, here everyone's: the rebuilt tables keep it.
            connection.execute(text("GRANT SELECT ON events, metric_points TO PUBLIC"))
        before = _state(engine)
        assert before["events"][0] == 100_000 - 5

        migrator.upgrade("0010")
        assert _state(engine) == before
        assert {_kind(engine, "events"), _kind(engine, "metric_points")} == {"p"}
        migrator.upgrade("head")
        assert migrator.check() == []
        with Session(engine) as db:
            watermark = Watermark()
            watermark.sample(db)  # the live stream finds the identity's sequence
            db.rollback()
            new_id = db.scalar(
                text(
                    "INSERT INTO events (event_type, customer_id) "
                    "SELECT 'LOG', id FROM customers LIMIT 1 RETURNING id"
                )
            )
            assert new_id == before["events sequence"][0] + 1
            db.rollback()
        before["events sequence"] = (new_id, True)  # a sequence does not roll back

        migrator.downgrade("0009")
        assert _state(engine) == before
        assert {_kind(engine, "events"), _kind(engine, "metric_points")} == {"r"}
        with engine.connect() as connection:
            assert (
                connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_constraint "
                        "WHERE conname = 'fk_events_parent_event_id_events'"
                    )
                )
                == 1
            )
    finally:
        engine.dispose()


def test_db_check_passes_a_partitioned_head_and_still_finds_drift(
    fresh_url: DatabaseUrl, dialect: str, test_settings: Settings
) -> None:
    migrator = Migrator(test_settings, fresh_url)
    migrator.upgrade("head")
    engine = create_sync_engine(test_settings, url=fresh_url)
    try:
        assert migrator.check() == []
        # Partitions are parts of their table, not tables of their own, even when asked
        # to compare every table there is.
        everything = " ".join(d.detail for d in migrator.check(NamePatterns(include=("*",))))
        assert "_p20" not in everything

        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_events_trace_span"))
            connection.execute(text("DROP TRIGGER trg_events_parent_deleted ON events"))
        found = " | ".join(f"{d.operation} {d.detail}" for d in migrator.check())
        assert "ix_events_trace_span" in found
        assert "add_trigger events.trg_events_parent_deleted" in found

        # Plain tables at head, as a database restored from elsewhere might have.
        migrator.downgrade("0009")
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0010'"))
        migrator.upgrade("head")
        found = " | ".join(f"{d.operation} {d.detail}" for d in migrator.check())
        assert "partition_table events by RANGE (created_at)" in found
        assert "partition_table metric_points by RANGE (recorded_at)" in found
        assert "add_trigger events.trg_events_parent_exists" in found
    finally:
        engine.dispose()
