"""Turn a chdb sink's ``metric_points`` back into the layout of an earlier version.

``python tests/tools/sink_legacy_layout.py SINK_URL DROP_NEWEST`` remakes the table
ordered by ``(customer_id, time, id)`` with the same rows (the sink before metric points
were keyed by task and name), then deletes its ``DROP_NEWEST`` highest ids outright:
rows a writer put in the old table that would have gone with it, whose position the
saved progress has passed. Prints the ids it deleted as JSON. A process of its own
(chdb: one directory per process).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from flightlog.sink import relayout
from flightlog.sink.backend import open_backend
from flightlog.sink.schema import METRIC_POINTS
from flightlog.sink.statements import READ, Statement
from flightlog.sink.url import SinkUrl

#: Metric points as an earlier version declared them: keyed like every other table.
LEGACY_METRIC_POINTS = replace(METRIC_POINTS, key=("customer_id", "time"))


def main() -> None:
    backend = open_backend(SinkUrl.parse(sys.argv[1]))
    newest = int(sys.argv[2])
    table = f"{backend.url.database}.metric_points"
    # The same rebuild an upgrade runs, towards the earlier version's key.
    relayout.rebuild(backend, LEGACY_METRIC_POINTS, 3650, METRIC_POINTS.sorting_key)
    gone = [
        int(row[0])
        for row in backend.select(
            Statement(f"SELECT id FROM {table} ORDER BY id DESC LIMIT {newest} {READ}")
        )
    ]
    if gone:
        backend.command(
            Statement(
                f"ALTER TABLE {table} DELETE WHERE id IN ({', '.join(map(str, gone))}) "
                "SETTINGS mutations_sync = 1"
            )
        )
    backend.close()
    print(json.dumps(sorted(gone)))


if __name__ == "__main__":
    main()
