"""Open Flightlog on one database many times at once, for the concurrent-open tests.

Run as a script so that a hang can be bounded by the caller's timeout and a
hung process killed, which threads inside the test process could not be:

    python open_race.py URL gather N     # N concurrent open_store() in one event loop
    python open_race.py URL once         # one open_store(), after a start signal file

It prints one JSON line: {"opened": k, "errors": ["Type: message", ...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
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


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    if mode == "gather":
        results = asyncio.run(_gather(url, int(sys.argv[3])))
    else:
        start_file = Path(sys.argv[3])
        Path(f"{start_file}.ready.{sys.argv[4]}").touch()
        _wait_for(start_file)
        results = [asyncio.run(_open_once(url))]
    errors = [r for r in results if r is not None]
    print(json.dumps({"opened": len(results) - len(errors), "errors": errors}))


if __name__ == "__main__":
    main()
