"""The read replicas of one process: their engines, and what is known of each.

A replica is a PostgreSQL hot standby streaming from the primary. Each gets
its own engine and pool (``FLIGHTLOG_DATABASE_REPLICA_URLS``), and this
process keeps, per replica, what it last learnt: the position it had replayed
(:mod:`flightlog.db.positions`), how far behind it was, and whether it failed
recently. Nothing here is shared between processes, and nothing needs to be:
each process finds out for itself, in the read sessions it opens anyway.

What makes a replica unfit for one read, in the order they are checked:

- it failed (refused, timed out, is not a standby at all): left alone for
  ``FLIGHTLOG_REPLICA_RETRY_SECONDS``, then tried again by the next read;
- it has not replayed the reader's floor (the position of the reader's own
  last write): that read goes elsewhere, the replica stays in use;
- it is more than ``FLIGHTLOG_REPLICA_MAX_LAG_SECONDS`` behind: skipped until
  a later check finds it closer.

The replay position only moves forward, so a position already seen answers
"has it replayed P?" without asking again; the replica is asked (one query,
the read session's first statement) only when that is not enough, or when
its lag was last read more than ``FLIGHTLOG_REPLICA_CHECK_SECONDS`` ago.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from flightlog.db.failures import database_unreachable, sqlstate
from flightlog.db.positions import parse_position
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings

log = logging.getLogger("flightlog.replicas")

E = TypeVar("E", AsyncEngine, Engine)

#: ``Session.info`` key: which server a read session reads from ("primary" or a replica's URL).
READ_FROM = "flightlog.read_from"
PRIMARY = "primary"
#: ``Session.info`` key of a replica's session: the WAL position it is known to have replayed.
REPLAYED = "flightlog.replayed"

#: Which cluster (its system identifier, shared by a primary and every standby made from
#: it by a base backup) and which database a server serves; callable by any user.
IDENTITY_COLUMNS = "(SELECT system_identifier FROM pg_control_system())::text, current_database()"
IDENTITY_SQL = text("SELECT " + IDENTITY_COLUMNS)
#: One round trip that says whether the server is a standby, how far it has replayed, and
#: how far behind it is. Behind means: WAL received but not yet replayed, or no WAL
#: receiver running (it cannot know what it misses); then the age of the last transaction
#: it replayed. ``pg_stat_wal_receiver`` shows its row (pid) to any user.
REPLAY_SQL = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() "
    "AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 0.0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) "
    "END::float8, " + IDENTITY_COLUMNS
)
#: SQLSTATE of a standby cancelling a query that conflicts with replay (or the
#: standby's ``max_standby_streaming_delay``): the primary answers the same read.
RECOVERY_CONFLICT = "40001"
#: SQLSTATE of a write in a read-only transaction: a path routed as a read that wrote.
READ_ONLY_TRANSACTION = "25006"


@dataclass(frozen=True)
class Replay:
    """What one check of a replica found."""

    in_recovery: bool
    position: int | None
    lag_seconds: float
    #: (system identifier, database name) of the server asked.
    identity: tuple[str, str] = ("", "")


def read_replay(session: Session) -> Replay:
    """Ask the server of ``session`` how far it has replayed (run as its first statement)."""
    row = session.execute(REPLAY_SQL).one()
    recovering, position, lag = bool(row[0]), row[1], float(row[2] or 0.0)
    parsed = None if position is None else parse_position(position)
    return Replay(recovering, parsed, lag, (str(row[3]), str(row[4])))


def read_identity(session: Session) -> tuple[str, str]:
    """(system identifier, database name) of the server of ``session``: the primary's."""
    row = session.execute(IDENTITY_SQL).one()
    return str(row[0]), str(row[1])


@dataclass
class ReplicaState:
    """What this process knows of one replica. Monotonic clock times."""

    #: Left alone until then, after a failure.
    down_until: float = 0.0
    #: Why it was last left alone (one sentence), for health reports.
    error: str | None = None
    #: The highest replay position seen.
    replayed: int = 0
    #: Its lag at the last check, in seconds (None: never checked).
    lag_seconds: float | None = None
    checked_at: float = -math.inf


@dataclass
class Replica(Generic[E]):
    """One replica: its URL (shown with the password hidden), its engine, its state."""

    url: DatabaseUrl
    engine: E
    state: ReplicaState = field(default_factory=ReplicaState)

    @property
    def name(self) -> str:
        return self.url.redacted()


@dataclass(frozen=True)
class ReplicaPolicy:
    """The settings that decide when a replica may serve."""

    max_lag_seconds: float
    retry_seconds: float
    check_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicaPolicy:
        return cls(
            max_lag_seconds=settings.replica_max_lag_seconds,
            retry_seconds=settings.replica_retry_seconds,
            check_seconds=settings.replica_check_seconds,
        )


class ReplicaSet(Generic[E]):
    """Every replica of a process, taken in turn; the decisions, not the sessions.

    The Stores open the sessions (:mod:`flightlog.store.replica_reads`) and
    report back here what each check found or how a replica failed.
    """

    def __init__(self, replicas: list[Replica[E]], policy: ReplicaPolicy) -> None:
        self.replicas: list[Replica[E]] = replicas
        self.policy = policy
        self._turn = itertools.count()
        #: The primary's (system identifier, database name), once asked: a replica must
        #: match it, or it is some other server's or database's copy.
        self.primary_identity: tuple[str, str] | None = None

    def not_a_copy(self, replica: Replica[E], found: Replay) -> str | None:
        """Why ``replica`` is not a copy of the primary's database (None if it is, or if the
        primary's identity is not known yet)."""
        primary = self.primary_identity
        if primary is None or found.identity == primary:
            return None
        if found.identity[0] != primary[0]:
            return (
                f"{replica.name} is not a standby of the primary's server (system identifier "
                f"{found.identity[0]}, the primary's {primary[0]}): point "
                "FLIGHTLOG_DATABASE_REPLICA_URLS at standbys of the primary only"
            )
        return (
            f"{replica.name} serves database {found.identity[1]!r}, not the primary's "
            f"{primary[1]!r}: name the same database in FLIGHTLOG_DATABASE_REPLICA_URLS"
        )

    def in_turn(self) -> list[Replica[E]]:
        """The replicas not left alone after a failure, starting with the next one in turn."""
        now = time.monotonic()
        usable = [r for r in self.replicas if r.state.down_until <= now]
        if len(usable) < 2:
            return usable
        start = next(self._turn) % len(usable)
        return usable[start:] + usable[:start]

    def needs_check(self, replica: Replica[E], floor: int) -> bool:
        """Whether the read must ask the replica first: what is known does not settle it."""
        state = replica.state
        stale = time.monotonic() - state.checked_at >= self.policy.check_seconds
        return stale or state.replayed < floor

    def serves(self, replica: Replica[E], floor: int) -> bool:
        """Whether, by what is known now, the replica may serve a read needing ``floor``."""
        state = replica.state
        if state.replayed < floor:
            return False  # the reader's own writes are not there yet
        return state.lag_seconds is not None and state.lag_seconds <= self.policy.max_lag_seconds

    def record(self, replica: Replica[E], found: Replay) -> None:
        """What a check found; a server that is not a standby is left alone like a failure."""
        state = replica.state
        if not found.in_recovery or found.position is None:
            self.left_alone(
                replica,
                f"{replica.name} is not a hot standby (pg_is_in_recovery() is false): "
                "point FLIGHTLOG_DATABASE_REPLICA_URLS at standbys only",
            )
            return
        elsewhere = self.not_a_copy(replica, found)
        if elsewhere is not None:
            self.left_alone(replica, elsewhere)
            return
        state.replayed = max(state.replayed, found.position)
        state.lag_seconds = found.lag_seconds
        state.checked_at = time.monotonic()

    def failed(self, replica: Replica[E], exc: BaseException) -> bool:
        """Whether ``exc`` from a replica means "read this on the primary instead".

        A replica out of reach is left alone for a while; a query the standby
        cancelled for replay, or a write refused as read-only, are retried on
        the primary without blaming the replica. Anything else is the read's own
        error (a bad value, a missing row) and the primary would say the same.
        """
        if database_unreachable(exc):
            self.left_alone(replica, f"{replica.name} did not answer: {_first_line(exc)}")
            return True
        state = sqlstate(exc)
        if state == RECOVERY_CONFLICT:
            log.info("a read on %s conflicted with replay; read on the primary", replica.name)
            return True
        if state == READ_ONLY_TRANSACTION:
            log.warning("a read routed to %s wrote; read on the primary: %s", replica.name, exc)
            return True
        return False

    def left_alone(self, replica: Replica[E], reason: str) -> None:
        state = replica.state
        if state.down_until <= time.monotonic():
            log.warning("%s; reads go to the primary for %.0f s", reason, self.policy.retry_seconds)
        state.down_until = time.monotonic() + self.policy.retry_seconds
        state.error = reason
        state.checked_at = -math.inf  # ask again, first thing, when it is tried next


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return (lines[0] if lines else type(orig).__name__)[:200]


def async_replicas(settings: Settings) -> ReplicaSet[AsyncEngine] | None:
    """The settings' replicas with an async engine each, or None when there are none."""
    from flightlog.db.engine import create_async_db_engine

    urls = settings.replica_databases
    if not urls:
        return None
    connect, read = settings.replica_connect_timeout_seconds, settings.replica_read_timeout_seconds
    replicas: list[Replica[AsyncEngine]] = [
        Replica(
            url,
            create_async_db_engine(settings, url=url, connect_timeout=connect, read_timeout=read),
        )
        for url in urls
    ]
    return ReplicaSet(replicas, ReplicaPolicy.from_settings(settings))


def sync_replicas(settings: Settings) -> ReplicaSet[Engine] | None:
    """The settings' replicas with a sync engine each, or None when there are none."""
    from flightlog.db.engine import create_sync_engine

    urls = settings.replica_databases
    if not urls:
        return None
    connect, read = settings.replica_connect_timeout_seconds, settings.replica_read_timeout_seconds
    replicas: list[Replica[Engine]] = [
        Replica(
            url, create_sync_engine(settings, url=url, connect_timeout=connect, read_timeout=read)
        )
        for url in urls
    ]
    return ReplicaSet(replicas, ReplicaPolicy.from_settings(settings))
