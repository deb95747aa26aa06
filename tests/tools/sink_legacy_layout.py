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

from flightlog.sink.backend import open_backend
from flightlog.sink.schema import METRIC_POINTS, create_table
from flightlog.sink.statements import READ, Statement
from flightlog.sink.url import SinkUrl


def main() -> None:
    backend = open_backend(SinkUrl.parse(sys.argv[1]))
    newest = int(sys.argv[2])
    database = backend.url.database
    table = f"{database}.metric_points"
    legacy = (
        create_table(database, METRIC_POINTS, 3650, name="metric_points_legacy")
        .replace(f"ORDER BY ({METRIC_POINTS.sorting_key})", "ORDER BY (customer_id, time, id)")
        .replace("\nSETTINGS allow_nullable_key = 1", "")
    )
    columns = ", ".join(METRIC_POINTS.all_columns)
    backend.command(Statement(legacy))
    backend.command(
        Statement(
            f"INSERT INTO {database}.metric_points_legacy ({columns}) SELECT {columns} FROM {table}"
        )
    )
    backend.command(Statement(f"EXCHANGE TABLES {table} AND {database}.metric_points_legacy"))
    backend.command(Statement(f"DROP TABLE {database}.metric_points_legacy SYNC"))
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
