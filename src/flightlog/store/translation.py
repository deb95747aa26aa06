"""Driver errors as the domain errors a caller can act on, for both Stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from flightlog.db.failures import (
    cause_chain,
    collision_error,
    database_unreachable,
    sqlstate,
    statement_timed_out,
    timeout_error,
    unavailable_error,
    value_problem,
    write_collided,
)
from flightlog.errors import FlightlogError, ValidationError
from flightlog.services._common import translate_integrity_error


@dataclass
class Progress:
    """How far a unit of work got, for judging what a lost connection left behind."""

    committing: bool = False


@contextmanager
def database_errors_as_domain_errors(progress: Progress | None = None) -> Iterator[None]:
    """What the database refused, as the domain error a caller can act on.

    The services validate what they can, but some limits only the database
    knows (a value too long for its column, a number out of range, a text
    PostgreSQL cannot store, a reference to a row that does not exist). Those
    surface here, after the transaction has been rolled back, as
    :class:`ValidationError` or :class:`NotFound` / :class:`Conflict` rather
    than as driver exceptions. A database that cannot serve at all (down,
    restarting, out of connections, locked past the busy timeout) is
    :class:`DatabaseUnavailable`: not the caller's fault, worth a retry. A
    statement PostgreSQL cancelled at its ``statement_timeout`` is
    :class:`StatementTimeout`.
    """
    try:
        yield
    except FlightlogError:
        raise
    except Exception as exc:
        if database_unreachable(exc):
            committing = progress is not None and progress.committing
            raise unavailable_error(while_committing=committing) from exc
        if statement_timed_out(exc):
            raise timeout_error() from exc
        if write_collided(exc):
            raise collision_error() from exc
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
    if _not_json(exc) or (isinstance(exc, StatementError) and _not_json(exc.orig)):
        # A Decimal, date, set or object in a JSON field (config, data, metadata, …):
        # SQLAlchemy wraps sqlite3's refusal, psycopg's dumper raises it bare.
        problem = exc.orig if isinstance(exc, StatementError) else exc
        return ValidationError(
            f"a value cannot be stored as JSON: {problem}; use str, int, float, bool, None, "
            "lists and objects"
        )
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


def _not_json(error: BaseException | None) -> bool:
    """Whether ``error`` is the JSON encoder refusing a Python value (or a NaN / infinity)."""
    if isinstance(error, TypeError):
        return "JSON serializable" in str(error)
    return isinstance(error, ValueError) and "not JSON compliant" in str(error)
