"""How far behind the sink is: rows and seconds, for ``flightlog sink status`` and the owner.

The positions live in the sink (:mod:`flightlog.sink.progress`). A chdb
directory can be read only by its owner, so the owner also writes a small JSON
copy of its progress into the directory after every cycle
(``flightlog-sink-status.json``, replaced atomically); ``sink status`` reads that
when another process holds the directory. Rows behind are counted on the
primary: committed events and metric points past the saved positions.
Seconds behind is how long ago the worker last had nothing left to copy (a
worker that is down or overwhelmed falls behind by the clock).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from flightlog.sink.progress import NEVER, TAILED, Progress
from flightlog.sink.url import SinkUrl

if TYPE_CHECKING:
    from flightlog.sink.worker import CycleReport

STATUS_FILE = "flightlog-sink-status.json"


def status_path(url: SinkUrl) -> Path | None:
    return None if url.path is None else url.path / STATUS_FILE


def write_status_file(url: SinkUrl, progress: Progress, report: CycleReport) -> None:
    """The owner's progress for other processes to read (chdb only; atomic replace)."""
    path = status_path(url)
    if path is None:
        return
    body = {
        "pid": os.getpid(),
        "cycle": progress.cycle,
        "positions": progress.tailed,
        "caught_up_at": progress.caught_up_at.isoformat(),
        "updated_at": datetime.now(UTC).isoformat(),
        "last_cycle": {"copied": report.copied, "removed": report.removed},
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(body))
    os.replace(temporary, path)


def read_status_file(url: SinkUrl) -> Progress | None:
    """The progress an owner last wrote, or None when there is none."""
    path = status_path(url)
    if path is None or not path.exists():
        return None
    body: dict[str, Any] = json.loads(path.read_text())
    found = Progress()
    found.tailed.update({k: int(v) for k, v in body.get("positions", {}).items() if k in TAILED})
    found.cycle = int(body.get("cycle", 0))
    found.caught_up_at = datetime.fromisoformat(body["caught_up_at"])
    return found


@dataclass(frozen=True)
class Lag:
    """Committed rows the sink does not have yet, per tailed table, and seconds behind."""

    rows: dict[str, int]
    seconds: float | None
    positions: dict[str, int]
    cycle: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def lag(engine: Engine, progress: Progress, now: datetime | None = None) -> Lag:
    """Rows past the saved positions on the primary, and the age of the last catch-up."""
    from flightlog.sink import rows as source
    from flightlog.sink.schema import BY_NAME

    with Session(source.reading(engine)) as session:
        behind = {}
        for name in TAILED:
            column = source.id_column(BY_NAME[name])
            count = select(func.count()).select_from(column.table)
            behind[name] = int(session.scalar(count.where(column > progress.tailed[name])) or 0)
    moment = now or datetime.now(UTC)
    seconds = None
    if progress.caught_up_at != NEVER:
        seconds = max(0.0, (moment - progress.caught_up_at).total_seconds())
    return Lag(behind, seconds, dict(progress.tailed), progress.cycle)
