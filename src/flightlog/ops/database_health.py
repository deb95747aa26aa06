"""The operator's view of one database: is it up (health) and what it holds (statistics).

Seed 004's ``health_check()`` and ``get_comprehensive_stats()``. Both Stores
call these (``store.health()``, ``store.stats()``), as do ``flightlog stats``,
``flightlog doctor`` and ``GET /health?detail=true``: the probes are
synchronous functions on a SQLAlchemy ``Session``, which the async Store runs
with ``run_sync`` like every service.

Health never raises for a database that does not answer: that is the one
question it exists to answer, so it reports ``reachable=False`` with one
sentence saying why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import URL, Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from flightlog.db.positions import format_position
from flightlog.db.replicas import Replay, Replica, ReplicaSet, read_replay
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import read_revision, shipped_head
from flightlog.ops.database_report import collect
from flightlog.schemas.health import (
    DatabaseHealth,
    DatabaseStatistics,
    IndexUsageOut,
    PoolStatus,
    ReplicaHealth,
)
from flightlog.services.index_usage import index_usage

#: How long ``store.health()`` waits for the database by default, in seconds.
DEFAULT_HEALTH_TIMEOUT_SECONDS = 5.0
#: Longest driver message kept in a health report's one sentence.
_MESSAGE_LIMIT = 200


def pool_status(pool: Pool) -> PoolStatus:
    """What the pool holds now; None for a count a pool class does not keep."""

    def count(name: str) -> int | None:
        method = getattr(pool, name, None)
        return int(method()) if callable(method) else None

    overflow = count("overflow")
    timeout = getattr(pool, "_timeout", None)
    return PoolStatus(
        kind=type(pool).__name__,
        size=count("size"),
        max_overflow=getattr(pool, "_max_overflow", None),
        timeout_seconds=float(timeout) if isinstance(timeout, int | float) else None,
        checked_out=count("checkedout"),
        checked_in=count("checkedin"),
        # SQLAlchemy counts overflow from -size up; below zero means "within the pool".
        overflow=None if overflow is None else max(0, overflow),
    )


def shown_url(url: str | URL) -> str:
    """The URL as a report may show it: the password hidden, the driver left out."""
    return DatabaseUrl.parse(url).redacted()


@dataclass(frozen=True)
class Probe:
    """What one round trip to a reachable database found."""

    latency_ms: float
    server_version: str
    revision: str | None
    statement_timeout: str | None
    busy_timeout_ms: int | None


def probe(session: Session) -> Probe:
    """Time ``SELECT 1``, then read the server's version, the schema revision and the timeouts."""
    connection = session.connection()
    started = time.perf_counter()
    connection.execute(text("SELECT 1"))
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    if connection.dialect.name == "postgresql":
        version = str(connection.scalar(text("SHOW server_version")))
        statement_timeout = str(connection.scalar(text("SHOW statement_timeout")))
        busy = None
    else:
        version = str(connection.scalar(text("SELECT sqlite_version()")))
        statement_timeout = None
        busy = int(connection.scalar(text("PRAGMA busy_timeout")) or 0)
    return Probe(
        latency_ms=latency_ms,
        server_version=version,
        revision=read_revision(connection),
        statement_timeout=statement_timeout,
        busy_timeout_ms=busy,
    )


def healthy(found: Probe, *, url: URL, pool: Pool) -> DatabaseHealth:
    """The report for a database that answered."""
    head = shipped_head()
    return DatabaseHealth(
        status="ok" if found.revision == head else "outdated",
        reachable=True,
        dialect=url.get_backend_name(),
        database=shown_url(url),
        latency_ms=found.latency_ms,
        server_version=found.server_version,
        schema_revision=found.revision,
        head_revision=head,
        schema_at_head=found.revision == head,
        pool=pool_status(pool),
        statement_timeout=found.statement_timeout,
        busy_timeout_ms=found.busy_timeout_ms,
        checked_at=datetime.now(UTC),
    )


def unreachable(exc: BaseException, *, url: URL, pool: Pool) -> DatabaseHealth:
    """The report for a database that did not answer, with why in one sentence."""
    return DatabaseHealth(
        status="unavailable",
        reachable=False,
        dialect=url.get_backend_name(),
        database=shown_url(url),
        latency_ms=None,
        server_version=None,
        schema_revision=None,
        head_revision=shipped_head(),
        schema_at_head=False,
        pool=pool_status(pool),
        statement_timeout=None,
        busy_timeout_ms=None,
        error=describe_failure(exc, url),
        checked_at=datetime.now(UTC),
    )


def describe_failure(exc: BaseException, url: str | URL) -> str:
    """One sentence: which database did not answer and the driver's first words on why."""
    if isinstance(exc, TimeoutError) and not str(exc):
        reason = "it did not answer in time"
    else:
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).strip().splitlines()
        reason = lines[0] if lines else type(orig).__name__
        if len(reason) > _MESSAGE_LIMIT:
            reason = reason[: _MESSAGE_LIMIT - 3] + "..."
    return f"Cannot reach the database at {shown_url(url)}: {reason}"


@dataclass(frozen=True)
class ReplicaProbe:
    """What one check of a replica found, and how long it took."""

    latency_ms: float
    replay: Replay


def replica_probe(session: Session) -> ReplicaProbe:
    """Time one replay check (:data:`flightlog.db.replicas.REPLAY_SQL`) on a replica's session."""
    started = time.perf_counter()
    found = read_replay(session)
    return ReplicaProbe(round((time.perf_counter() - started) * 1000, 3), found)


def replica_report(
    replicas: ReplicaSet[Any],
    replica: Replica[Any],
    found: ReplicaProbe | BaseException,
    primary_position: int | None,
) -> ReplicaHealth:
    """One replica's health: what the probe found (or why it failed) and how this process uses it.

    ``serving`` follows the same rules the reads follow (:class:`ReplicaSet`), applied
    to what the probe found now.
    """
    now = time.monotonic()
    state = replica.state
    retry_in = round(state.down_until - now, 3) if state.down_until > now else None
    if isinstance(found, BaseException):
        return ReplicaHealth(
            database=replica.name,
            reachable=False,
            standby=None,
            latency_ms=None,
            replay_position=None,
            behind_bytes=None,
            lag_seconds=None,
            serving=False,
            retry_in_seconds=retry_in,
            error=describe_failure(found, replica.url.url),
        )
    replay = found.replay
    standby = replay.in_recovery and replay.position is not None
    behind = None
    if standby and primary_position is not None and replay.position is not None:
        behind = max(0, primary_position - replay.position)
    lag_ok = replay.lag_seconds <= replicas.policy.max_lag_seconds
    elsewhere = replicas.not_a_copy(replica, replay) if standby else None
    error = None
    if not standby:
        error = f"{replica.name} is not a hot standby: reads stay on the primary"
    elif elsewhere is not None:
        error = elsewhere
    elif not lag_ok:
        error = (
            f"{replica.name} is {replay.lag_seconds:.1f} s behind, more than "
            f"FLIGHTLOG_REPLICA_MAX_LAG_SECONDS ({replicas.policy.max_lag_seconds:g})"
        )
    elif retry_in is not None:
        error = state.error
    return ReplicaHealth(
        database=replica.name,
        reachable=True,
        standby=standby,
        latency_ms=found.latency_ms,
        replay_position=None if replay.position is None else format_position(replay.position),
        behind_bytes=behind,
        lag_seconds=round(replay.lag_seconds, 3),
        serving=standby and elsewhere is None and lag_ok and retry_in is None,
        retry_in_seconds=retry_in,
        error=error,
    )


def statistics(session: Session, *, url: str | URL, pool: Pool) -> DatabaseStatistics:
    """Every customer's rows counted, run outcomes, size, the pool and index usage.

    One read transaction. The counts are the whole database's: this is the
    operator's view, not a tenant's.
    """
    connection = session.connection()
    shown = shown_url(url)
    snapshot = collect(connection, database=shown, revision=read_revision(connection))
    return DatabaseStatistics(
        database=snapshot.database,
        dialect=connection.dialect.name,
        revision=snapshot.revision,
        size_bytes=snapshot.size_bytes,
        counts=snapshot.counts,
        runs_by_status=snapshot.runs_by_status,
        run_success_rate=snapshot.run_success_rate,
        busiest_agents=snapshot.busiest_agents,
        pending_approvals=snapshot.pending_approvals,
        pool=pool_status(pool),
        index_usage=_index_usage(session),
        collected_at=datetime.now(UTC),
    )


def statistics_here(session: Session) -> DatabaseStatistics:
    """:func:`statistics` of the server ``session`` is on (the primary, or a read replica)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return statistics(session, url=engine.url, pool=engine.pool)


def _index_usage(session: Session) -> list[IndexUsageOut] | None:
    """Every index's usage (:func:`flightlog.services.index_usage.index_usage`).

    None when the schema has no ``index_usage_stats`` view yet (a database
    behind migration 0009): the rest of the statistics still stand. Read in a
    savepoint, so that PostgreSQL's failed statement leaves the transaction usable.
    """
    try:
        with session.begin_nested():
            found = index_usage(session)
    except (ProgrammingError, OperationalError):
        return None
    return [IndexUsageOut.model_validate(row, from_attributes=True) for row in found]
