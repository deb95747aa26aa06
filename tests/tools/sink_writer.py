"""Write telemetry the way agents do, from several threads at once, then exit.

``python tests/tools/sink_writer.py DATABASE_URL THREADS ROUNDS`` : each thread,
per round, starts a run with two agent steps (one finished with usage, one left
running with usage recorded and finished a round later, when every third run
finishes too), appends a batch of events and a batch of metric points, and
every fifth round deletes a task it made
(its runs, agent runs, events and metric points go with it). Concurrent writers
on PostgreSQL commit ids out of order, which is what the sink's watermark is for.
Prints the number of rounds written.
"""

from __future__ import annotations

import sys
import threading
import uuid
from decimal import Decimal

from flightlog import open_store_sync


def work(url: str, thread: int, rounds: int, failures: list[BaseException]) -> None:
    try:
        with open_store_sync(url, upgrade=False) as store:
            previous: tuple[uuid.UUID, uuid.UUID] | None = None  # (agent run, its run)
            made: list[uuid.UUID] = []
            for i in range(rounds):
                task = store.tasks.create(title=f"thread {thread} round {i}")
                made.append(task.id)
                run = store.runs.start(task.id)
                done = store.agent_runs.start(run.id, agent_name=f"agent-{thread}")
                store.agent_runs.finish(
                    done.id, tokens_in=i + 1, tokens_out=2 * i, cost_usd=Decimal("0.001") * i
                )
                going = store.agent_runs.start(run.id, agent_name="planner")
                store.agent_runs.record_usage(going.id, tokens_in=3, cost_usd="0.0005")
                if previous is not None:
                    store.agent_runs.finish(previous[0], tokens_out=1)
                    if i % 3 == 0:
                        store.runs.finish(previous[1])
                previous = (going.id, run.id)
                store.events.append_batch(
                    [
                        {
                            "event_type": "LOG",
                            "task_id": task.id,
                            "run_id": run.id,
                            "content": f"{thread}/{i}/{n} it's \\ here",
                            "data": {"n": n},
                        }
                        for n in range(12)
                    ]
                )
                store.metrics.record_batch(
                    [
                        {
                            "name": "latency_ms",
                            "value": float(n * i),
                            "task_id": task.id,
                            "run_id": run.id,
                            "labels": {"thread": thread},
                        }
                        for n in range(4)
                    ]
                )
                if i % 5 == 4:
                    store.tasks.delete(made.pop(0))
    except BaseException as exc:  # reported by the main thread
        failures.append(exc)


def main() -> None:
    url, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    failures: list[BaseException] = []
    workers = [
        threading.Thread(target=work, args=(url, n, rounds, failures)) for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    print(threads * rounds)


if __name__ == "__main__":
    main()
