"""Where an operator's long read runs (``flightlog export``, ``flightlog stats``).

Both read the whole database and may trail the newest commits by a moment:
with read replicas configured they run on one that is a hot standby within
``FLIGHTLOG_REPLICA_MAX_LAG_SECONDS``, and the primary is spared a long scan.
A replica that is down, or that cancels the read to replay WAL (a long read
on a standby can meet ``max_standby_streaming_delay``), costs nothing but
time: the read is done again on the primary when it can be (a file export
is written whole or not at all), and otherwise fails as it would have there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flightlog.db.engine import create_sync_engine
from flightlog.db.failures import driver_errors
from flightlog.db.replicas import Replica, ReplicaSet, read_replay, sync_replicas
from flightlog.settings import Settings

R = TypeVar("R")
log = logging.getLogger("flightlog.replicas")


def run_read(settings: Settings, work: Callable[[Engine], R], *, repeatable: bool = True) -> R:
    """``work`` on a fit read replica's engine, else on the primary's.

    ``repeatable``: ``work`` may run again on the primary after a replica
    failed part-way (it has left nothing behind); else that failure is raised.
    """
    replicas = sync_replicas(settings)
    try:
        replica = _fit(replicas) if replicas is not None else None
        if replica is not None and replicas is not None:
            try:
                return work(replica.engine)
            except Exception as exc:
                if not (repeatable and replicas.failed(replica, exc)):
                    raise
                log.warning("the read on %s failed; reading on the primary", replica.name)
        primary = create_sync_engine(settings)
        try:
            return work(primary)
        finally:
            primary.dispose()
    finally:
        for each in replicas.replicas if replicas is not None else ():
            each.engine.dispose()


def _fit(replicas: ReplicaSet[Engine]) -> Replica[Engine] | None:
    """The first replica that answers as a hot standby within the lag limit."""
    for replica in replicas.in_turn():
        try:
            with Session(replica.engine) as session:
                found = read_replay(session)
        except driver_errors() as exc:
            replicas.failed(replica, exc)
            continue
        replicas.record(replica, found)
        if replicas.serves(replica, 0):
            return replica
    return None
