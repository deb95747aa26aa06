"""``flightlog serve --workers 2`` as a real process: every worker serves the API, the
dashboard and the live stream, writes through any worker are all there, and a key
revoked from another process is refused by every worker.

Which worker answered a request is read from Linux's socket table: the server side of
the request's TCP connection is a socket that one worker process holds open.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cli_runner import Cli, make_cli, url_of
from flightlog.cli.serve import cpu_count, default_workers, tcp_listener
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings
from pg_cluster import free_port
from serving import STARTUP_SECONDS, Served
from serving import serving as serve_process
from waiting import wait_until

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="tells workers apart by Linux's /proc"
)
#: Far longer than any wait below: only the revocation fingerprint can explain a refusal.
CACHE_SECONDS = "3600"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return make_cli(monkeypatch, capsys, tmp_path)


@contextmanager
def serving(url: str, cwd: Path, *args: str) -> Iterator[Served]:
    """``flightlog serve`` (tests/serving.py) trusting a verified key for CACHE_SECONDS."""
    env = {"FLIGHTLOG_API_KEY_CACHE_SECONDS": CACHE_SECONDS}
    with serve_process(url, cwd, *args, env=env) as served:
        yield served


def worker_pids(server_pid: int) -> set[int]:
    """The uvicorn workers: the server's children spawned by multiprocessing."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server_pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's side of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    return None


def serving_pid(served: Served, client_port: int, workers: set[int]) -> int:
    """Which worker holds the server side of the connection from ``client_port``."""
    inode = _socket_inode(served.port, client_port)
    assert inode is not None, f"no server socket for client port {client_port}"
    target = f"socket:[{inode}]"
    for pid in workers:
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds {target}")


def client_port(response: httpx.Response) -> int:
    """The local port of the connection a response came on (still open: keep-alive)."""
    address = response.extensions["network_stream"].get_extra_info("client_addr")
    port: int = address[1]
    return port


class Workers:
    """Requests sent through a chosen worker: new connections until one lands there."""

    def __init__(self, served: Served, key: str, pids: set[int]) -> None:
        self.served, self.pids = served, pids
        self.headers = {"Authorization": f"Bearer {key}"}

    def send(self, pid: int | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer from worker ``pid`` (any worker when None); others' answers are dropped
        (so only idempotent requests, or ones the caller counts, may be sent to a pid)."""
        for _ in range(500):
            with httpx.Client(base_url=self.served.base, headers=self.headers, timeout=30) as c:
                response = c.request(method, path, **kwargs)
                answered = serving_pid(self.served, client_port(response), self.pids)
            if pid is None or answered == pid:
                return response
        raise AssertionError(f"no connection landed on worker {pid} in 500 tries")

    def send_counting(self, method: str, path: str, **kwargs: Any) -> tuple[int, httpx.Response]:
        """One request on a new connection, and the worker that answered it."""
        with httpx.Client(base_url=self.served.base, headers=self.headers, timeout=60) as c:
            response = c.request(method, path, **kwargs)
            return serving_pid(self.served, client_port(response), self.pids), response


class Follower:
    """``GET /api/v1/events/stream`` read in a thread; notes which worker serves it."""

    def __init__(self, workers: Workers, task_id: str) -> None:
        self.workers, self.task_id = workers, task_id
        self.ids: list[int] = []
        self.pid: int | None = None
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        params = {"task_id": self.task_id, "poll_seconds": 0.25, "timeout_seconds": 120}
        with httpx.stream(
            "GET",
            f"{self.workers.served.base}/api/v1/events/stream",
            params=params,
            headers=self.workers.headers,
            timeout=httpx.Timeout(30, read=60),
        ) as response:
            self.pid = serving_pid(self.workers.served, client_port(response), self.workers.pids)
            self.connected.set()
            for line in response.iter_lines():
                if line.startswith("id: "):
                    self.ids.append(int(line.removeprefix("id: ")))
                if self.stop.is_set():
                    return


def _start(cli: Callable[..., tuple[int, str, str]], fresh_url: DatabaseUrl) -> tuple[str, str]:
    url = url_of(fresh_url)
    assert cli("db", "upgrade", "-d", url)[0] == 0
    code, out, err = cli("api-key", "create", "--name", "workers", "-d", url)
    assert code == 0, err
    return url, out.split()[0]


def test_two_workers_serve_the_api_the_dashboard_and_the_stream_and_share_revocations(
    fresh_url: DatabaseUrl, tmp_path: Path, cli: Cli
) -> None:
    url, key = _start(cli, fresh_url)
    with serving(url, tmp_path, "--workers", "2") as served:
        assert "workers    2 processes" in served.log.read_text()
        found: set[int] = set()

        def two_workers() -> bool:
            found.update(worker_pids(served.process.pid))
            return len(found) == 2

        wait_until(two_workers, STARTUP_SECONDS, "two worker processes")
        workers = Workers(served, key, found)
        # Every worker answers with the key (and remembers it, for an hour).
        for pid in found:
            assert workers.send(pid, "GET", "/api/v1/tasks").status_code == 200
        task = workers.send(None, "POST", "/api/v1/tasks", json={"title": "two workers"})
        assert task.status_code == 201, task.text
        task_id = task.json()["id"]

        follower = Follower(workers, task_id)
        assert follower.connected.wait(30), "the stream did not answer"
        wait_until(lambda: bool(follower.ids), 30, "the task's own event on the stream")

        # Many writes from many connections at once, through whichever worker takes each.
        def write(i: int) -> tuple[int, list[int]]:
            body = {"events": [{"event_type": "LOG", "task_id": task_id, "content": f"n{i}"}]}
            pid, response = workers.send_counting("POST", "/api/v1/events", json=body)
            assert response.status_code == 201, response.text
            return pid, response.json()["ids"]

        with ThreadPoolExecutor(8) as pool:
            written = list(pool.map(write, range(80)))
        by_worker = {pid: [i for p, ids in written if p == pid for i in ids] for pid in found}
        acknowledged = {i for _, ids in written for i in ids}
        assert len(acknowledged) == 80
        # Both workers wrote, or the test proves nothing about crossing processes.
        while not all(by_worker.values()):
            missing = next(pid for pid, ids in by_worker.items() if not ids)
            extra = workers.send(missing, "POST", "/api/v1/events", json=_event(task_id, "x"))
            assert extra.status_code == 201, extra.text
            by_worker[missing] += extra.json()["ids"]
            acknowledged.update(extra.json()["ids"])

        # Every acknowledged write is in the log, read back through each worker.
        for pid in found:
            listed = _all_event_ids(workers, pid, task_id)
            assert acknowledged <= listed

        # The stream, held by one worker, delivers what the other worker wrote.
        assert follower.pid in found
        other = next(pid for pid in found if pid != follower.pid)
        wait_until(
            lambda: set(by_worker[other]) <= set(follower.ids),
            30,
            "the other worker's events on the stream",
        )
        assert set(follower.ids) >= acknowledged
        follower.stop.set()

        # The dashboard, through each worker, signed in with the key.
        for pid in found:
            page = workers.send(pid, "GET", "/", headers={"Cookie": f"flightlog_key={key}"})
            assert page.status_code == 200, page.text[:300]
            assert "text/html" in page.headers["content-type"]
            assert "<h1>" in page.text

        # Revoked from another process (the CLI, here in the test's process): every
        # worker, though it remembers the key for an hour, refuses it within seconds.
        assert cli("api-key", "revoke", key[:11], "-d", url)[0] == 0
        for pid in found:
            wait_until(_refuses(workers, pid), 20, f"worker {pid} to refuse the revoked key")
        assert (
            workers.send(None, "GET", "/", headers={"Cookie": f"flightlog_key={key}"}).status_code
            == 303
        )


def _refuses(workers: Workers, pid: int) -> Callable[[], bool]:
    return lambda: workers.send(pid, "GET", "/api/v1/tasks").status_code == 401


def _event(task_id: str, content: str) -> dict[str, Any]:
    return {"events": [{"event_type": "LOG", "task_id": task_id, "content": content}]}


def _all_event_ids(workers: Workers, pid: int, task_id: str) -> set[int]:
    ids: set[int] = set()
    after = 0
    while True:
        params = {"task_id": task_id, "after_id": after, "limit": 1000}
        page = workers.send(pid, "GET", "/api/v1/events", params=params).json()
        ids.update(item["id"] for item in page["items"])
        if page["next_after_id"] is None:
            return ids
        after = page["next_after_id"]


def test_workers_die_with_a_killed_server(fresh_url: DatabaseUrl, tmp_path: Path, cli: Cli) -> None:
    url, _ = _start(cli, fresh_url)
    with serving(url, tmp_path, "--workers", "2") as served:
        found: set[int] = set()

        def two_workers() -> bool:
            found.update(worker_pids(served.process.pid))
            return len(found) == 2

        wait_until(two_workers, STARTUP_SECONDS, "two worker processes")
        served.process.kill()  # the parent alone, as a crash or the OOM killer would
        served.process.wait(timeout=30)
        wait_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in found),
            30,
            "the orphaned workers to be gone",
        )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{served.base}/api/v1/health", timeout=5)


def test_workers_zero_is_refused_before_anything_starts(
    fresh_url: DatabaseUrl, tmp_path: Path, cli: Cli
) -> None:
    url, _ = _start(cli, fresh_url)
    for value in ("0", "-3"):
        code, out, err = cli("serve", "--workers", value, "-d", url)
        assert code == 2
        assert "--workers" in err
        assert "greater than or equal to 1" in err
        assert "Flightlog at" not in out  # refused before serving


def test_the_default_follows_the_database(dialect: str, fresh_url: DatabaseUrl) -> None:
    settings = Settings(database_url=url_of(fresh_url))
    expected = cpu_count() if dialect == "postgresql" else 1
    assert default_workers(settings) == expected
    assert cpu_count() >= 1


async def test_connections_to_the_workers_shared_listener_send_without_nagle() -> None:
    """uvicorn binds the workers' listener with ``proto`` 0, so asyncio left Nagle on for every
    connection and each keep-alive answer waited ~40 ms for a delayed ACK (2 workers served
    fewer requests than 1); ``tcp_listener`` is what ``flightlog serve --workers N`` listens on.
    """
    bound = uvicorn.Config("flightlog.api.served:app_from_environment", port=free_port())
    listener = tcp_listener(bound.bind_socket())
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accepted(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted_socket = writer.get_extra_info("socket")
        nodelay.set_result(accepted_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        assert await asyncio.wait_for(nodelay, 30) == 1
        writer.close()
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with unix:
        assert tcp_listener(unix) is unix  # nothing to turn off on a Unix socket
