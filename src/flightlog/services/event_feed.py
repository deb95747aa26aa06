"""How far a live reader of the event log may go without ever missing an event.

On PostgreSQL event ids come from a sequence when rows are inserted, but
transactions commit in their own order: id 100 may become visible after id
101. A reader that moved its cursor past 101 would never see 100. The
watermark is the highest id below which nothing can still appear. Each poll:

1. **samples**, in a short transaction of its own: the last id the sequence
   handed out, then a transaction id of its own (``pg_current_xact_id()``),
   which is newer than that of every writer that drew one of those ids
   (writers take theirs before drawing, and ids are handed out in order);
2. **releases**, in the next transaction: once the oldest running transaction
   is newer than a sample's own id, every writer that could hold an id of
   that sample has ended, so all ids up to the sample's last id are final.

Why the reader's own id, and not the snapshot's ``xmax``: ``xmax`` is one past
the newest *completed* transaction. A writer whose id is newer than every
completed one is running but appears nowhere in the snapshot (not in its
running list, and ``xmin`` is then ``xmax``), so a watermark built on ``xmax``
released that writer's ids before it committed, and a follower skipped them
(issue 13 found it: several concurrent single-event writers, one follower).
The reader's own id costs no WAL flush (it writes nothing and rolls back).

Writers take their transaction id before drawing event ids (Flightlog's write
transactions do so at BEGIN on PostgreSQL, its single-statement writes inside
the statement), so a transaction cannot hold an id without being seen as
running. SQLite serialises writers; its ids commit in order and need no
watermark. Neither does a reader inside a transaction that writes (a Store on
an embedder's connection): it reads its own writes.

With read replicas, both steps stay on the primary (a hot standby has no
transaction ids to hand out, and its snapshot knows nothing of the primary's
running writers), and only the rows are read on a replica. :meth:`Watermark.release`
also takes the primary's WAL insert position right after it has seen that
every writer of the released ids has ended: their commit records all lie
before that position, so a replica that has replayed it shows every one of
them, and the page up to the watermark is read there (or on the primary when
no replica has got that far).
"""

from __future__ import annotations

from collections import deque

from sqlalchemy import func, text
from sqlalchemy.orm import Session

from flightlog.db.positions import PRIMARY_POSITION_SQL, parse_position
from flightlog.services._dialect import dialect_name

#: Assigns the transaction its id now (PostgreSQL assigns one lazily, at the first write).
TAKE_TRANSACTION_ID = text("SELECT pg_current_xact_id()")
#: The same, as a column to add to a statement the transaction sends anyway.
TAKE_TRANSACTION_ID_COLUMN = func.pg_current_xact_id()
#: ``Session.info`` key: this session's transaction has taken its id already.
TRANSACTION_ID_TAKEN = "flightlog.transaction_id_taken"
_LAST_DRAWN = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"
_WRITING = text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
_OWN_ID = text("SELECT pg_current_xact_id()::text")
_OLDEST_RUNNING = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
_PRIMARY_POSITION = text(PRIMARY_POSITION_SQL)


class Watermark:
    """One live reader's watermark: per poll, :meth:`sample` in a short transaction, then
    :meth:`safe_id` in the next (the one that reads the events up to it).

    ``table`` is the append-only table whose identity ids are followed: ``events`` for
    the live stream, ``metric_points`` too for the columnar sink (its writers take their
    transaction id first in the same transactions, so the same reasoning holds).
    """

    def __init__(self, table: str = "events") -> None:
        self._samples: deque[tuple[int, int]] = deque()
        self._safe = 0
        self._sequence: str | None = None
        self._table = table

    def sample(self, session: Session) -> None:
        """Step 1 of a poll, in a transaction that ends right after (a reader of its own)."""
        if dialect_name(session) != "postgresql" or session.scalar(_WRITING):
            return
        if self._sequence is None:
            found = session.scalar(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": self._table}
            )
            self._sequence = str(found)
        # The last id first, then an id of this transaction: whoever drew an id up to
        # ``drawn`` took its transaction id before, so an older one than ``own``.
        drawn = int(session.scalar(text(_LAST_DRAWN.format(sequence=self._sequence))) or 0)
        own = int(session.scalar(_OWN_ID) or 0)
        self._samples.append((own, drawn))

    def safe_id(self, session: Session) -> int | None:
        """Step 2: the highest event id that is final now, or None when every visible id is.

        None on SQLite, and for a reader inside a transaction that writes (an
        embedder's or a test's outer transaction): it sees its own uncommitted
        events, and no other transaction's commit order can matter to it.
        """
        if dialect_name(session) != "postgresql" or session.scalar(_WRITING):
            return None
        oldest_running = int(session.scalar(_OLDEST_RUNNING) or 0)
        while self._samples and self._samples[0][0] < oldest_running:
            self._safe = max(self._safe, self._samples.popleft()[1])
        return self._safe

    def release(self, session: Session) -> tuple[int | None, int]:
        """Step 2 for a reader of a replica, on the primary: :meth:`safe_id`, then the WAL
        position a replica must have replayed to show every event up to it (0 on SQLite)."""
        safe = self.safe_id(session)
        if dialect_name(session) != "postgresql":
            return safe, 0
        # After safe_id's statement: the writers it saw end had written their commits.
        return safe, parse_position(str(session.scalar(_PRIMARY_POSITION)))
