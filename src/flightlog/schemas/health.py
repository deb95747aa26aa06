"""``GET /health``: whether the database answers; and, for operators, how it is doing.

:class:`Health` is the plain answer a load balancer probes. The rest is the
operator's view (seed 004's ``health_check()`` and ``get_comprehensive_stats()``):
``store.health()`` and ``store.stats()`` answer :class:`DatabaseHealth` and
:class:`DatabaseStatistics`, ``flightlog stats --json`` prints the statistics,
and ``GET /health?detail=true`` with an operator key answers :class:`HealthDetail`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    status: str
    database: str
    schema_revision: str | None


class PoolStatus(BaseModel):
    """The connection pool of the process that answers (its own, not the server's)."""

    model_config = ConfigDict(frozen=True)

    #: SQLAlchemy's pool class, e.g. ``AsyncAdaptedQueuePool``, ``QueuePool``.
    kind: str
    #: Connections the pool keeps open (``FLIGHTLOG_POOL_SIZE``); None for a pool without one.
    size: int | None
    #: How many more it may open under load (``FLIGHTLOG_MAX_OVERFLOW``).
    max_overflow: int | None
    #: Seconds a caller waits for a free connection (``FLIGHTLOG_POOL_TIMEOUT_SECONDS``).
    timeout_seconds: float | None
    #: Connections in use right now.
    checked_out: int | None
    #: Open connections idle in the pool.
    checked_in: int | None
    #: Connections open beyond ``size`` right now (0 up to ``max_overflow``).
    overflow: int | None


class ReplicaHealth(BaseModel):
    """One read replica as this process sees it: up, a standby, how far behind, in use.

    A replica that is down or behind never fails a read (the primary serves it),
    so it never makes the database's own ``status`` other than ``ok``; this says
    what an operator should look at.
    """

    model_config = ConfigDict(frozen=True)

    #: The replica's URL with its password hidden.
    database: str
    reachable: bool
    #: Whether it is a hot standby (``pg_is_in_recovery()``); None when unreachable.
    standby: bool | None
    #: Round trip of the check, in milliseconds.
    latency_ms: float | None
    #: The WAL position it has replayed, as PostgreSQL writes it.
    replay_position: str | None
    #: Bytes of the primary's WAL it had still to replay when checked (None: not known).
    behind_bytes: int | None
    #: Seconds behind: 0 when it has replayed all it received, else the age of the last
    #: transaction it replayed.
    lag_seconds: float | None
    #: Whether this process sends stale-tolerant reads there now.
    serving: bool
    #: Seconds before this process tries it again after a failure; None when not left alone.
    retry_in_seconds: float | None
    error: str | None = None


class DatabaseHealth(BaseModel):
    """Whether the database answers, how fast, at which schema revision, and the pool's state.

    Never raised as an error: an unreachable database is ``reachable=False``
    with ``error`` saying why in one sentence.
    """

    model_config = ConfigDict(frozen=True)

    #: ``ok``: reachable and at this Flightlog's schema; ``outdated``: reachable, another
    #: schema revision (run ``flightlog db upgrade``); ``unavailable``: not reachable.
    status: Literal["ok", "outdated", "unavailable"]
    reachable: bool
    dialect: str
    #: The URL with its password hidden.
    database: str
    #: Round trip of ``SELECT 1`` on a pooled connection, in milliseconds.
    latency_ms: float | None
    server_version: str | None
    schema_revision: str | None
    head_revision: str
    schema_at_head: bool
    pool: PoolStatus
    #: PostgreSQL's ``statement_timeout`` in force on the connection (``"0"``: none);
    #: None on SQLite, which has no statement timeout (see ``busy_timeout_ms``).
    statement_timeout: str | None
    #: SQLite's busy timeout (how long a writer waits for the lock); None on PostgreSQL.
    busy_timeout_ms: int | None
    error: str | None = None
    checked_at: datetime
    #: The read replicas (``FLIGHTLOG_DATABASE_REPLICA_URLS``); empty without any.
    replicas: list[ReplicaHealth] = Field(default_factory=list)


class IndexUsageOut(BaseModel):
    """One index, how often it was used and its size (None where the dialect cannot tell)."""

    model_config = ConfigDict(frozen=True)

    table: str
    index: str
    scans: int | None
    size_bytes: int | None
    category: str


class DatabaseStatistics(BaseModel):
    """The whole database, every customer's rows together: an operator's numbers.

    The fields of ``flightlog stats --json`` (``database`` to
    ``pending_approvals``), then the pool and the index usage.
    """

    model_config = ConfigDict(frozen=True)

    database: str
    dialect: str
    revision: str | None
    size_bytes: int | None
    counts: dict[str, int]
    runs_by_status: dict[str, int]
    run_success_rate: float | None
    busiest_agents: list[dict[str, Any]]
    pending_approvals: dict[str, int]
    pool: PoolStatus
    #: Every Flightlog index; None when index usage cannot be read here.
    index_usage: list[IndexUsageOut] | None = None
    collected_at: datetime


class HealthDetail(Health):
    """``GET /health?detail=true`` for an operator key: the plain answer plus both reports."""

    health: DatabaseHealth
    #: None when the database is unreachable.
    statistics: DatabaseStatistics | None = Field(default=None)
