"""Ask a chdb sink's aggregates, in a process of its own (chdb: one directory per process).

``python tests/tools/sink_probe.py SINK_URL`` reads a JSON list of questions on
stdin, ``{"ask": "usage", "customer": "<uuid>", ...arguments}``, and prints the
answers as a JSON list (datetimes in ISO form, decimals as text), in order.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for sink_answers

from flightlog.sink import aggregates
from flightlog.sink.backend import open_backend
from flightlog.sink.url import SinkUrl
from sink_answers import plain

ASKS = {
    "usage": aggregates.usage,
    "run_outcomes": aggregates.run_outcomes,
    "run_durations": aggregates.run_durations,
    "metric_names": aggregates.metric_names,
    "metric_summary": aggregates.metric_summary,
    "metric_buckets": aggregates.metric_buckets,
}
TIMES = ("since", "until")
IDS = ("task_id", "run_id")


def main() -> None:
    backend = open_backend(SinkUrl.parse(sys.argv[1]))
    answers = []
    for question in json.load(sys.stdin):
        ask = ASKS[question.pop("ask")]
        customer = uuid.UUID(question.pop("customer"))
        args = [question.pop("name")] if "name" in question else []
        for key in TIMES:
            if question.get(key) is not None:
                question[key] = datetime.fromisoformat(question[key])
        for key in IDS:
            if question.get(key) is not None:
                question[key] = uuid.UUID(question[key])
        answers.append(plain(ask(backend, customer, *args, **question)))  # type: ignore[operator]
    backend.close()
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
