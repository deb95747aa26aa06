"""Does the sink hold exactly the primary's rows? Count and checksum per table.

Both sides are read in id order, page by page, and each row becomes its cells
(:func:`flightlog.sink.rows.encode` on the primary, :func:`~flightlog.sink.rows.canonical`
of what the sink returns ``FINAL``); the checksum is the sum of the rows'
fingerprints modulo 2^64, so it does not depend on order and one changed
value in one row changes it. The sink side is recomputed from the values it
returns, not from the fingerprints it stored. Rows older than the retention
are left out on the primary's side (the sink's TTL drops them). Meant for a
quiet primary: rows committed during the check may be counted on one side only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flightlog.sink import rows as source
from flightlog.sink.backend import SinkBackend
from flightlog.sink.schema import TABLES, SinkTable
from flightlog.sink.statements import rows_page, time_text

PAGE = 5000
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class TableCheck:
    """One table's rows and checksum on each side."""

    table: str
    primary_rows: int
    sink_rows: int
    primary_checksum: int
    sink_checksum: int

    @property
    def matches(self) -> bool:
        return (self.primary_rows, self.primary_checksum) == (self.sink_rows, self.sink_checksum)


def _primary(engine: Engine, table: SinkTable, horizon: str) -> tuple[int, int]:
    count = total = 0
    after: Any = 0 if table.id_kind == "uint" else ""
    with Session(source.reading(engine)) as session:
        while True:
            found = source.rows_after(session, table, after, None, PAGE)
            for row in found:
                cells = source.encode(table, row)
                if cells[2] >= horizon:
                    count += 1
                    total = (total + source.fingerprint(cells)) & _MASK
            if len(found) < PAGE:
                return count, total
            after = source.encode(table, found[-1])[0]


def _sink(backend: SinkBackend, table: SinkTable) -> tuple[int, int]:
    count = total = 0
    after: Any = 0 if table.id_kind == "uint" else ""
    while True:
        found = backend.select(rows_page(backend.url.database, table, after, PAGE))
        for row in found:
            count += 1
            total = (total + source.fingerprint(source.canonical(table, row))) & _MASK
        if len(found) < PAGE:
            return count, total
        after = found[-1][0]


def verify(
    backend: SinkBackend, engine: Engine, retention_days: int, now: datetime | None = None
) -> list[TableCheck]:
    """Every sink table's count and checksum next to the primary's."""
    horizon = time_text((now or datetime.now(UTC)) - timedelta(days=retention_days))
    checks = []
    for table in TABLES:
        primary_rows, primary_sum = _primary(engine, table, horizon)
        sink_rows, sink_sum = _sink(backend, table)
        checks.append(TableCheck(table.name, primary_rows, sink_rows, primary_sum, sink_sum))
    return checks
