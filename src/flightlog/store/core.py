"""The Store object, its transactions, and ``open_store``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from flightlog.db.engine import SQLITE_BEGIN_MODE, async_session_factory, create_async_db_engine
from flightlog.db.failures import (
    cause_chain,
    database_unreachable,
    sqlstate,
    unavailable_error,
    value_problem,
)
from flightlog.db.presence import require_existing_database
from flightlog.db.urls import DatabaseUrl
from flightlog.errors import FlightlogError, ValidationError
from flightlog.migrations.runner import Migrator
from flightlog.services._common import translate_integrity_error
from flightlog.services._dialect import dialect_name
from flightlog.services.artifacts import BlobPolicy
from flightlog.services.customers import (
    assert_can_write,
    ensure_default_customer,
    find_default_customer,
)
from flightlog.services.event_feed import TAKE_TRANSACTION_ID
from flightlog.settings import Settings, get_settings
from flightlog.store import facades, project_facades, review_facades, tenancy_facades


@dataclass
class _Progress:
    """How far a unit of work got, for judging what a lost connection left behind."""

    committing: bool = False


@contextmanager
def database_errors_as_domain_errors(progress: _Progress | None = None) -> Iterator[None]:
    """What the database refused, as the domain error a caller can act on.

    The services validate what they can, but some limits only the database
    knows (a value too long for its column, a number out of range, a text
    PostgreSQL cannot store, a reference to a row that does not exist). Those
    surface here, after the transaction has been rolled back, as
    :class:`ValidationError` or :class:`NotFound` / :class:`Conflict` rather
    than as driver exceptions. A database that cannot serve at all (down,
    restarting, out of connections, locked past the busy timeout) is
    :class:`DatabaseUnavailable`: not the caller's fault, worth a retry.
    """
    try:
        yield
    except FlightlogError:
        raise
    except Exception as exc:
        if database_unreachable(exc):
            committing = progress is not None and progress.committing
            raise unavailable_error(while_committing=committing) from exc
        translated = _as_domain_error(exc)
        if translated is exc:
            raise
        raise translated from exc


def _as_domain_error(exc: Exception) -> Exception:
    """The domain error for a driver error the caller's input caused, else ``exc`` itself."""
    if isinstance(exc, IntegrityError):
        return translate_integrity_error(exc, what="the change")
    if any(isinstance(cause, RecursionError) for cause in cause_chain(exc)):
        # Serialising JSON nested about a thousand levels deep exhausts Python's stack.
        return ValidationError("a JSON value is nested too deeply to store; flatten the data")
    # asyncpg reports PostgreSQL's data exceptions (class 22: a NUL in text, an
    # invalid encoding) under a generic type; the SQLSTATE says what it is.
    if isinstance(exc, DataError) or (
        isinstance(exc, DBAPIError) and (sqlstate(exc).startswith("22") or value_problem(exc))
    ):
        orig = getattr(exc, "orig", None)
        reason = str(orig if orig is not None else exc).strip().splitlines()[0]
        return ValidationError(f"a value was refused by the database: {reason}")
    if isinstance(exc, StatementError) and (cause := value_problem(exc)) is not None:
        return ValidationError(f"a value cannot be used: {cause}")
    if isinstance(exc, OverflowError):
        # sqlite3 raises it unwrapped for an integer past 64 bits.
        return ValidationError(f"a number is out of range: {exc}")
    if isinstance(exc, UnicodeEncodeError):
        # A lone surrogate ("\\ud800" in JSON) is a str Python accepts but UTF-8 cannot hold.
        return ValidationError(
            f"text that is not valid Unicode cannot be stored: {exc.reason} at {exc.start}"
        )
    return exc


def session_factory(
    engine: AsyncEngine, connection: AsyncConnection | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the engine's pool, or savepoints on one connection an embedder controls."""
    if connection is None:
        return async_session_factory(engine)
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


class Store:
    """A connection pool plus the tenant it acts for."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        customer_id: uuid.UUID,
        *,
        connection: AsyncConnection | None = None,
    ) -> None:
        """Normally built by :func:`open_store`.

        With ``connection`` (already inside a transaction), every unit of work
        becomes a savepoint on it: the embedding application, or a test, keeps
        control of the outer transaction and can roll all of it back.
        """
        self.engine = engine
        self.settings = settings
        self.customer_id = customer_id
        self.connection = connection
        self._sessions = session_factory(engine, connection)
        self.blob_policy = BlobPolicy(
            # The blob directory belongs to the database the engine is on.
            blob_dir=settings.resolved_blob_dir(DatabaseUrl.parse(engine.url)),
            inline_max_bytes=settings.inline_artifact_max_bytes,
        )
        self.tasks = facades.Tasks(self)
        self.runs = facades.Runs(self)
        self.agent_runs = facades.AgentRuns(self)
        self.events = facades.Events(self)
        self.metrics = facades.Metrics(self)
        self.artifacts = facades.Artifacts(self)
        self.claims = facades.Claims(self)
        self.customers = tenancy_facades.Customers(self)
        self.api_keys = tenancy_facades.ApiKeys(self)
        self.agents = tenancy_facades.Agents(self)
        self.projects = project_facades.Projects(self)
        self.project_contexts = project_facades.ProjectContexts(self)
        self.templates = project_facades.Templates(self)
        self.modifications = project_facades.Modifications(self)
        self.recommendations = review_facades.Recommendations(self)
        self.optimizations = review_facades.Optimizations(self)
        self.pull_requests = review_facades.PullRequests(self)
        self.search = review_facades.Search(self)
        self.views = review_facades.Views(self)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction for the Store's customer: committed on success, else rolled back.

        It refuses to start for a customer that is not ACTIVE, so no facade
        call can write on behalf of a suspended or churned tenant.
        """
        progress = _Progress()
        with database_errors_as_domain_errors(progress):
            async with self._sessions() as session, session.begin():
                await assert_can_write(session, self.customer_id)
                if dialect_name(session) == "postgresql":
                    # Take the transaction id before any event id is drawn, so that
                    # live readers of the event log can tell when ids are final.
                    await session.execute(TAKE_TRANSACTION_ID)
                yield session
                # The caller's work is done; what fails from here on fails in COMMIT.
                progress.committing = True

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A read-only session; on SQLite it does not take the write lock."""
        with database_errors_as_domain_errors():
            async with self._sessions() as session:
                # Leaving the block closes the session: the transaction is rolled back and
                # the loaded rows stay readable (closing, unlike rollback, does not expire them).
                await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
                yield session

    async def close(self) -> None:
        await self.engine.dispose()


async def _default_customer(engine: AsyncEngine) -> uuid.UUID:
    """Read it first: only the very first open of a database writes (SQLite's write lock)."""
    sessions = async_session_factory(engine)
    async with sessions() as session:
        await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
        found = await find_default_customer(session)
    if found is not None:
        return found
    async with sessions() as session, session.begin():
        return await ensure_default_customer(session)


@asynccontextmanager
async def open_store(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    customer_id: uuid.UUID | None = None,
    upgrade: bool = True,
) -> AsyncIterator[Store]:
    """Open Flightlog on ``url`` (default: settings), upgrading the schema unless told not to.

    Example::

        async with open_store("sqlite:///./flightlog.db") as store:
            task = await store.tasks.create(title="Build a todo app")
    """
    settings = settings or get_settings(database_url=url)
    if url is not None:
        settings = settings.model_copy(update={"database_url": url})
    database = settings.database
    migrator = Migrator(settings, database)
    if upgrade:
        await asyncio.to_thread(migrator.ensure_head)
    else:
        require_existing_database(database)  # never create a SQLite file it was not asked to
        await asyncio.to_thread(migrator.require_head)
    engine = create_async_db_engine(settings, url=database)
    try:
        if customer_id is None:
            customer_id = await _default_customer(engine)
        store = Store(engine, settings, customer_id)
        yield store
    finally:
        await engine.dispose()
