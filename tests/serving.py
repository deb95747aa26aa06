"""``flightlog serve`` as a real process, the way a person starts it: for tests that need a
server on a TCP port (several workers, a browser) rather than an app in this process.

The server runs in its own process group (session), so stopping it also stops the
uvicorn workers it started; it is stopped even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pg_cluster import free_port
from waiting import wait_until

#: A loaded two-core machine imports the web stack and opens its pools in a few seconds;
#: far more than that means the server is not coming.
STARTUP_SECONDS = 90.0


@dataclass
class Served:
    """A running ``flightlog serve``: where it answers, and its combined output."""

    process: subprocess.Popen[str]
    base: str
    port: int
    log: Path

    def output(self) -> str:
        """What the server printed so far (its banner, uvicorn's log)."""
        return self.log.read_text()


@contextmanager
def serving(
    url: str, cwd: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """``flightlog serve -d url *args`` on a free port until the block ends.

    The server sees none of this process's ``FLIGHTLOG_*`` settings, only ``env``'s,
    so what a test configures is all it gets.
    """
    port = free_port()
    log = cwd / f"serve-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
    environment.update(env or {})
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flightlog", "serve", "--port", str(port), "-d", url, *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
            start_new_session=True,
        )
    served = Served(process, f"http://127.0.0.1:{port}", port, log)
    try:
        wait_until(lambda: answers(served), STARTUP_SECONDS, "the server to answer")
        yield served
    finally:
        stop(process)


def answers(served: Served) -> bool:
    """Whether the health check answers; a server that exited fails with its output."""
    assert served.process.poll() is None, served.output()
    try:
        return httpx.get(f"{served.base}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server's whole group, then SIGKILL whatever is left (workers included)."""
    group = process.pid  # its own session: the group holds the workers too
    try:
        os.killpg(group, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait(timeout=30)
