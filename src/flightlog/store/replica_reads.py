"""Reads that may go to a replica, and the floor that keeps a writer's own writes in them.

Which reads: the operations bound with ``reads(service, stale_ok=True)``
(lists, timelines, search, views, statistics: see :func:`read_routes`) and
whatever runs in ``store.reading()``. Everything else, writes and the reads a
workflow steers by (a task by id, the ready queue, key checks), stays on the
primary.

Read-your-writes: every write marks the writer's :class:`ReadFloor` pending.
The next routed read first asks the primary for its WAL insert position (one
cheap query, only after a write) and then reads on a replica only if that
replica has replayed up to it; otherwise on the primary. No time window is
guessed: a replica that keeps up serves the writer's very next read, and one
that lags never serves it stale. Who the writer is: a Store (in-process), or,
in the HTTP API, one request's client, whose floor arrives as the
``Flightlog-Consistency`` token and lives in :data:`_REQUEST_FLOOR` for the
request (:func:`floor_scope`).

A replica that fails while connecting or reading leaves the read to the
primary with no error to the caller (:meth:`ReplicaSet.failed`); what the
session itself did wrong (a bad value, a missing row) is raised as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from flightlog.db.pool_ping import connection_lost
from flightlog.db.positions import PRIMARY_POSITION_SQL, parse_position
from flightlog.db.replicas import (
    PRIMARY,
    READ_FROM,
    REPLAYED,
    Replica,
    ReplicaSet,
    read_identity,
    read_replay,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

    from flightlog.store.state import StoreState

P = ParamSpec("P")
R = TypeVar("R")

_PRIMARY_POSITION = text(PRIMARY_POSITION_SQL)


@dataclass
class ReadFloor:
    """How far a replica must have replayed to serve one writer's reads.

    ``position`` is the primary's WAL position after the writer's last write
    (0: it wrote nothing yet); ``pending`` says a write happened since, whose
    position is not known yet. Taking it is put off until a routed read needs
    it, so a writer that never reads back pays nothing.
    """

    position: int = 0
    pending: bool = False

    def wrote(self) -> None:
        self.pending = True

    def raise_to(self, position: int) -> None:
        self.position = max(self.position, position)


#: The floor of the HTTP request being served, when the API set one (see floor_scope).
_REQUEST_FLOOR: ContextVar[ReadFloor | None] = ContextVar("flightlog_read_floor", default=None)


@contextmanager
def floor_scope(floor: ReadFloor) -> Iterator[ReadFloor]:
    """Within the block, Stores read and write for ``floor`` instead of their own."""
    reset = _REQUEST_FLOOR.set(floor)
    try:
        yield floor
    finally:
        _REQUEST_FLOOR.reset(reset)


def current_floor(own: ReadFloor) -> ReadFloor:
    """The request's floor when one is in scope, else the Store's ``own``."""
    return _REQUEST_FLOOR.get() or own


def _tagged(session: Session, name: str) -> Session:
    session.info[READ_FROM] = name
    return session


async def primary_position(engine: AsyncEngine) -> int:
    """The primary's insert position now, in one round trip outside any transaction."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        try:
            found = await raw.driver_connection.fetchval(PRIMARY_POSITION_SQL)  # type: ignore[union-attr]
        except Exception as exc:
            if connection_lost(raw.driver_connection, exc):
                # Around SQLAlchemy's own handling: not back into the pool as it is.
                await connection.invalidate(exc)
            raise
    return parse_position(str(found))


def primary_position_sync(engine: Engine) -> int:
    """The same for a synchronous engine."""
    with engine.connect() as connection:
        found = connection.scalar(_PRIMARY_POSITION)
    return parse_position(str(found))


class AsyncReplicaReads:
    """Routes an async Store's stale-tolerant reads: a caught-up replica, else the primary."""

    def __init__(self, replicas: ReplicaSet[AsyncEngine], primary: AsyncEngine) -> None:
        self.replicas = replicas
        self.primary = primary

    async def floor_position(self, floor: ReadFloor) -> int:
        """The floor's position, asking the primary first if a write left it pending."""
        if floor.pending:
            floor.pending = False  # before asking: a write marked during the ask stays pending
            try:
                floor.raise_to(await primary_position(self.primary))
            except BaseException:
                floor.pending = True
                raise
        return floor.position

    async def know_primary(self) -> None:
        """Learn the primary's identity once, so a replica of something else is told apart."""
        if self.replicas.primary_identity is None:
            async with AsyncSession(self.primary) as session:
                self.replicas.primary_identity = await session.run_sync(read_identity)

    async def _open(self, replica: Replica[AsyncEngine], floor: int) -> AsyncSession | None:
        """A session on ``replica`` that may serve ``floor``, connected; None if it may not."""
        await self.know_primary()  # outside the try: the primary's failure is not the replica's
        session = AsyncSession(replica.engine, expire_on_commit=False)
        try:
            if self.replicas.needs_check(replica, floor):
                self.replicas.record(replica, await session.run_sync(read_replay))
            else:
                await session.connection()  # connect now: a failure here is the replica's
            if self.replicas.serves(replica, floor):
                _tagged(session.sync_session, replica.name)
                session.info[REPLAYED] = replica.state.replayed
                return session
        except Exception as exc:
            if not self.replicas.failed(replica, exc):
                await session.close()
                raise
        await session.close()
        return None

    async def run(
        self,
        floor: int,
        primary: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        work: Callable[Concatenate[Session, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """``work`` on the first replica that may serve ``floor``, else in ``primary()``."""
        for replica in self.replicas.in_turn():
            session = await self._open(replica, floor)
            if session is None:
                continue
            try:
                return await session.run_sync(work, *args, **kwargs)
            except Exception as exc:
                if not self.replicas.failed(replica, exc):
                    raise
            finally:
                await session.close()
        async with primary() as session:
            _tagged(session.sync_session, PRIMARY)
            return await session.run_sync(work, *args, **kwargs)

    @asynccontextmanager
    async def session(
        self, floor: int, primary: Callable[[], AbstractAsyncContextManager[AsyncSession]]
    ) -> AsyncIterator[AsyncSession]:
        """A session on a replica that may serve ``floor``, else ``primary()``'s.

        Chosen once, before the block runs: a replica failing inside the block
        is left alone for the next reads and its error raised (as
        :class:`~flightlog.errors.DatabaseUnavailable` by the Store).
        """
        for replica in self.replicas.in_turn():
            session = await self._open(replica, floor)
            if session is None:
                continue
            try:
                yield session
            except Exception as exc:
                self.replicas.failed(replica, exc)
                raise
            finally:
                await session.close()
            return
        async with primary() as session:
            yield _tagged_async(session)


def _tagged_async(session: AsyncSession) -> AsyncSession:
    _tagged(session.sync_session, PRIMARY)
    return session


class SyncReplicaReads:
    """The same routing for the synchronous Store."""

    def __init__(self, replicas: ReplicaSet[Engine], primary: Engine) -> None:
        self.replicas = replicas
        self.primary = primary

    def floor_position(self, floor: ReadFloor) -> int:
        if floor.pending:
            floor.pending = False
            try:
                floor.raise_to(primary_position_sync(self.primary))
            except BaseException:
                floor.pending = True
                raise
        return floor.position

    def know_primary(self) -> None:
        """Learn the primary's identity once (see :meth:`AsyncReplicaReads.know_primary`)."""
        if self.replicas.primary_identity is None:
            with Session(self.primary) as session:
                self.replicas.primary_identity = read_identity(session)

    def _open(self, replica: Replica[Engine], floor: int) -> Session | None:
        self.know_primary()
        session = Session(replica.engine, expire_on_commit=False)
        try:
            if self.replicas.needs_check(replica, floor):
                self.replicas.record(replica, read_replay(session))
            else:
                session.connection()
            if self.replicas.serves(replica, floor):
                session.info[REPLAYED] = replica.state.replayed
                return _tagged(session, replica.name)
        except Exception as exc:
            if not self.replicas.failed(replica, exc):
                session.close()
                raise
        session.close()
        return None

    def run(
        self,
        floor: int,
        primary: Callable[[], AbstractContextManager[Session]],
        work: Callable[Concatenate[Session, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        for replica in self.replicas.in_turn():
            session = self._open(replica, floor)
            if session is None:
                continue
            try:
                return work(session, *args, **kwargs)
            except Exception as exc:
                if not self.replicas.failed(replica, exc):
                    raise
            finally:
                session.close()
        with primary() as session:
            return work(_tagged(session, PRIMARY), *args, **kwargs)

    @contextmanager
    def session(
        self, floor: int, primary: Callable[[], AbstractContextManager[Session]]
    ) -> Iterator[Session]:
        for replica in self.replicas.in_turn():
            session = self._open(replica, floor)
            if session is None:
                continue
            try:
                yield session
            except Exception as exc:
                self.replicas.failed(replica, exc)
                raise
            finally:
                session.close()
            return
        with primary() as session:
            yield _tagged(session, PRIMARY)


def read_routes(store: StoreState) -> dict[str, str]:
    """Every operation of ``store`` and where it reads: ``"replica"`` or ``"primary"``.

    ``{"tasks.list": "replica", "tasks.get": "primary", ...}``: the table the
    docs show and the tests walk, read from the facades' own bindings. Writes
    are ``"primary"`` too. "replica" means: on a replica that has the caller's
    writes when one is configured and fit, else on the primary.
    """
    from flightlog.store.binding import Facade, Operation

    routes: dict[str, str] = {}
    for facade_name, facade in vars(store).items():
        if not isinstance(facade, Facade):
            continue
        for klass in reversed(type(facade).__mro__):
            for name, member in vars(klass).items():
                if isinstance(member, Operation):
                    where = "replica" if member.unit == "stale" else "primary"
                    routes[f"{facade_name}.{name}"] = where
    return dict(sorted(routes.items()))
