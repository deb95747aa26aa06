"""WAL positions (PostgreSQL's ``pg_lsn``) as integers, and as the text clients carry.

A position is where a record sits in the primary's write-ahead log. Every
commit is a record, so "a replica has replayed position P" means "it shows
every transaction that committed before P was read on the primary". That is
the whole of read-your-writes here: after a write, the writer keeps the
primary's position; a replica serves its reads once it has replayed that far.

PostgreSQL writes a position as two hexadecimal halves, ``16/B374D848``; the
text form is also the consistency token of the HTTP API
(``Flightlog-Consistency``), so clients never need to understand it.
"""

from __future__ import annotations

import re

from flightlog.errors import ValidationError

#: ``pg_lsn``'s text form: two hexadecimal numbers of up to 32 bits each.
_POSITION = re.compile(r"\A([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\Z")

#: The primary's insert position: every committed transaction's record lies before it.
#: Not ``pg_current_wal_lsn()``, the *written* position, which may trail the insert
#: position when commits are asynchronous (``synchronous_commit = off``).
PRIMARY_POSITION_SQL = "SELECT pg_current_wal_insert_lsn()::text"


def parse_position(text: str) -> int:
    """``'16/B374D848'`` as an integer; a ValueError for anything else."""
    found = _POSITION.match(text.strip())
    if found is None:
        raise ValueError(f"not a WAL position: {text[:40]!r}")
    return (int(found.group(1), 16) << 32) | int(found.group(2), 16)


def format_position(position: int) -> str:
    """An integer position as PostgreSQL writes it (``'16/B374D848'``)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def token_position(token: str, *, source: str) -> int:
    """A consistency token a client sent back, as a position; refused clearly if it is not one.

    ``source`` names where the token came from (a header, a cookie), for the error.
    """
    try:
        return parse_position(token)
    except ValueError:
        raise ValidationError(
            f"the {source} is not a consistency token Flightlog gave out; send back the "
            "value of the last Flightlog-Consistency header you received, or none",
            field=source,
        ) from None
