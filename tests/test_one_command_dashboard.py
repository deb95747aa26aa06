"""The README's first command ends in a signed-in dashboard (issue 14, item 1), as real processes.

``flightlog demo --serve`` writes the demo, serves it, and prints a link; a client on
this machine follows the link and lands on the overview of the demo's customer. The
demo's team sends heartbeats while it is served, all but the one agent whose silence
is the demo's picture of a crash. ``serve --workers 2``: the parent prints the link,
a worker redeems it (tokens live in the database), and it works once.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from cli_runner import url_of
from flightlog.cli.local_sign_in import link_base, sign_in_lines
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.ops.demo import LAPSED_AGENT
from flightlog.settings import Settings
from pg_cluster import free_port
from waiting import wait_until

#: Writing the demo, then importing the web stack, on a loaded two-core machine.
STARTUP_SECONDS = 180.0
LINK = re.compile(r"^  sign in    (http://127\.0\.0\.1:\d+/login/local\?token=[A-Za-z0-9_-]{43})$")


@dataclass
class Running:
    process: subprocess.Popen[str]
    log: Path
    base: str

    def output(self) -> str:
        return self.log.read_text()

    def link(self) -> str | None:
        assert self.process.poll() is None, self.output()
        for line in self.output().splitlines():
            found = LINK.match(line)
            if found:
                return found.group(1)
        return None


@contextmanager
def running(cwd: Path, *args: str, settings: dict[str, str] | None = None) -> Iterator[Running]:
    """``flightlog *args`` in its own process group until the block ends, with only the
    ``FLIGHTLOG_*`` ``settings`` given (none of the test run's own)."""
    log = cwd / "out.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
    env["FLIGHTLOG_BLOB_DIR"] = str(cwd / "blobs")
    env.update(settings or {})
    env.pop("DATABASE_URL", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flightlog", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
    port = args[args.index("--port") + 1]
    try:
        yield Running(process, log, f"http://127.0.0.1:{port}")
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _answers(served: Running) -> bool:
    if served.link() is None:
        return False
    try:
        return httpx.get(f"{served.base}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _heartbeats(url: DatabaseUrl, settings: Settings) -> dict[str, datetime]:
    engine = create_sync_engine(settings, url=url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT a.name, a.last_heartbeat_at FROM agents a JOIN customers c "
                    "ON c.id = a.customer_id WHERE c.email = 'demo@acme-robotics.example'"
                )
            ).all()
    finally:
        engine.dispose()
    return {name: _naive(at) for name, at in rows if at is not None}


def _naive(value: object) -> datetime:
    if isinstance(value, str):  # SQLite through a plain text() query
        return datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None)


def test_demo_serve_prints_a_link_that_lands_signed_in_on_the_demo(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    url = url_of(fresh_url)
    port = free_port()
    # The team heartbeats every third of the degraded-after time (20 s by default): 3 s
    # here, so the test sees a beat after start-up without waiting 20 s for it.
    quick_beats = {"FLIGHTLOG_AGENT_DEGRADED_AFTER_SECONDS": "9"}
    with running(
        tmp_path, "demo", "--serve", "--port", str(port), "-d", url, settings=quick_beats
    ) as served:
        wait_until(lambda: _answers(served), STARTUP_SECONDS, "demo --serve to answer")
        link = served.link()
        assert link is not None
        printed = served.output()
        assert "Demo written" in printed
        assert "as Acme Robotics <demo@acme-robotics.example>" in printed
        assert "once, within 10 minutes" in printed
        written = _heartbeats(fresh_url, test_settings)

        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            landed = browser.get(link)
            assert landed.status_code == 200, landed.text
            assert str(landed.url) == f"{served.base}/"
            assert "<h1>Acme Robotics</h1>" in landed.text
            tasks = browser.get(f"{served.base}/tasks")
            for title in ("Write the PRD", "Implement the API", "Nightly regression suite"):
                assert title in tasks.text
            assert browser.get(link).status_code == 410  # once only

        # The team sends heartbeats while the demo is served; the lapsed reviewer does not.
        wait_until(
            lambda: _heartbeats(fresh_url, test_settings)["Mike"] > written["Mike"],
            60,
            "the demo's team to send a heartbeat",
        )
        now = _heartbeats(fresh_url, test_settings)
        assert now[LAPSED_AGENT[0]] == written[LAPSED_AGENT[0]]
        team = [name for name in written if name != LAPSED_AGENT[0]]
        assert all(now[name] > written[name] for name in team), (written, now)


def test_serve_with_two_workers_redeems_the_link_the_parent_printed_once(
    fresh_head_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    """The parent process writes the token; whichever worker answers finds it in the database."""
    port = free_port()
    with running(
        tmp_path, "serve", "--workers", "2", "--port", str(port), "-d", url_of(fresh_head_url)
    ) as served:
        wait_until(lambda: _answers(served), STARTUP_SECONDS, "serve --workers 2 to answer")
        link = served.link()
        assert link is not None
        assert "as Default <default@flightlog.local>" in served.output()  # no demo here
        with httpx.Client(follow_redirects=False, timeout=30) as first:
            signed = first.get(link)
            assert signed.status_code == 303, signed.text
            assert first.get(f"{served.base}/").status_code == 200
        # Fresh connections, which either worker may take: the link is used everywhere.
        for _ in range(4):
            with httpx.Client(timeout=30) as other:
                assert other.get(link).status_code == 410


def test_the_link_names_an_address_this_machine_reaches_the_server_on() -> None:
    """A wildcard bind includes loopback; one outside address does not, so no link then."""
    assert link_base("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert link_base("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert link_base("::", 9000) == "http://127.0.0.1:9000"
    assert link_base("::1", 8000) == "http://[::1]:8000"
    assert link_base("localhost", 8000) == "http://localhost:8000"
    assert link_base("192.168.1.20", 8000) is None
    assert link_base("flightlog.internal", 8000) is None


def test_serve_on_an_outside_address_says_to_sign_in_with_a_key(test_settings: Settings) -> None:
    (line,) = sign_in_lines(test_settings, "192.168.1.20", 8000)
    assert "with an API key" in line
    assert "works only from this machine" in line
