"""How far a live reader of the event log may go without ever missing an event.

On PostgreSQL event ids come from a sequence when rows are inserted, but
transactions commit in their own order: id 100 may become visible after id
101. A reader that moved its cursor past 101 would never see 100. The
watermark is the highest id below which nothing can still appear:

* every poll samples the snapshot (its ``xmax``: no transaction at or above
  it had started) and the last id the sequence handed out;
* once the oldest running transaction is newer than a sample's ``xmax``,
  every transaction that could hold an id of that sample has ended, so all
  ids up to the sample's last id are final: committed or rolled back.

Writers take their transaction id before drawing event ids (Flightlog's write
transactions do so at BEGIN on PostgreSQL), so a transaction cannot hold an
id without being seen as running. SQLite serialises writers; its ids commit
in order and need no watermark. Neither does a reader inside a transaction
that writes (a Store on an embedder's connection): it reads its own writes.
"""

from __future__ import annotations

from collections import deque

from sqlalchemy import text
from sqlalchemy.orm import Session

from flightlog.services._dialect import dialect_name

#: Assigns the transaction its id now (PostgreSQL assigns one lazily, at the first write).
TAKE_TRANSACTION_ID = text("SELECT pg_current_xact_id()")
_LAST_DRAWN = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"
_SNAPSHOT = text(
    "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text, "
    "pg_current_xact_id_if_assigned() IS NOT NULL FROM pg_current_snapshot() AS s"
)


class Watermark:
    """One live reader's watermark; call :meth:`safe_id` once per poll."""

    def __init__(self) -> None:
        self._samples: deque[tuple[int, int]] = deque()
        self._safe = 0
        self._sequence: str | None = None

    def safe_id(self, session: Session) -> int | None:
        """The highest event id that is final now, or None when every visible id is (SQLite)."""
        if dialect_name(session) != "postgresql":
            return None
        if self._sequence is None:
            found = session.scalar(text("SELECT pg_get_serial_sequence('events', 'id')"))
            self._sequence = str(found)
        # The last id first, then the snapshot: whoever drew an id up to ``drawn``
        # did so before the snapshot, so it is running in it or already over.
        drawn = int(session.scalar(text(_LAST_DRAWN.format(sequence=self._sequence))) or 0)
        oldest_running, horizon, writing = (session.execute(_SNAPSHOT)).one()
        if writing:
            # The reader is inside a transaction that writes (an embedder's or a test's
            # outer transaction): it sees its own uncommitted events, and no other
            # transaction's commit order can matter to it. No watermark applies.
            return None
        self._samples.append((int(horizon), drawn))
        while self._samples and self._samples[0][0] <= int(oldest_running):
            self._safe = max(self._safe, self._samples.popleft()[1])
        return self._safe
