"""Open Flightlog on one database many times at once, for the concurrent-open tests.

Run as a script so that a hang can be bounded by the caller's timeout and a
hung process killed, which threads inside the test process could not be:

    python open_race.py URL gather N         # N concurrent open_store() in one event loop
    python open_race.py URL race N START     # N processes, one open_store() each, released
                                             # together when the START file appears

``gather`` prints one JSON line: {"opened": k, "errors": ["Type: message", ...]};
``race`` prints one such line per process. The racers are forked from this one
after it has imported everything opening a database uses (Alembic included), so
twelve processes cost one interpreter's imports, not twelve; each is still a
process of its own with its own connections, Alembic state and event loop, and
nothing is connected or started before the fork.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

from flightlog import open_store


async def _open_once(url: str) -> str | None:
    try:
        async with open_store(url) as store:
            await store.tasks.list()
    except Exception as exc:  # the test wants every failure, whatever its type
        return f"{type(exc).__name__}: {exc}"
    return None


async def _gather(url: str, count: int) -> list[str | None]:
    return await asyncio.gather(*(_open_once(url) for _ in range(count)))


def _wait_for(start_file: Path, timeout: float = 120.0) -> None:
    """Busy-wait (briefly sleeping) for the start signal so every process opens together."""
    deadline = time.monotonic() + timeout
    while not start_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("start signal never came")
        time.sleep(0.005)


def _report(results: list[str | None]) -> None:
    """One ``write`` of the whole line: racers share one pipe, and under
    ``PYTHONUNBUFFERED=1`` ``print`` writes the text and its newline in two calls,
    so another racer's line could land between them."""
    errors = [r for r in results if r is not None]
    line = json.dumps({"opened": len(results) - len(errors), "errors": errors}) + "\n"
    os.write(sys.stdout.fileno(), line.encode())


def _race(url: str, count: int, start_file: Path) -> int:
    """Fork ``count`` racers; the exit status is 0 only if every racer exited 0."""
    import alembic.command  # what an open that upgrades imports when it does

    import flightlog.migrations.runner
    import flightlog.store

    del alembic, flightlog
    assert threading.active_count() == 1, "nothing may run beside the fork"
    racers = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                Path(f"{start_file}.ready.{index}").touch()
                _wait_for(start_file)
                _report([asyncio.run(_open_once(url))])
                code = 0
            finally:
                os._exit(code)
        racers.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in racers]
    return 0 if all(status == 0 for status in statuses) else 1


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    if mode == "gather":
        _report(asyncio.run(_gather(url, int(sys.argv[3]))))
        return
    raise SystemExit(_race(url, int(sys.argv[3]), Path(sys.argv[4])))


if __name__ == "__main__":
    main()
