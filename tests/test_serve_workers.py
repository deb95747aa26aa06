"""``flightlog serve --workers 2`` as a real process, on both databases: clients connected to
different workers each get every event of the live stream once and in order; concurrent
writes through both workers are all answered and all stored; and what a process could keep
to itself (a verified key, a sign-in link, a form token, a pending span, a price) is honoured
by the other worker and by other processes.

Which worker answered a request is read from Linux's socket table: the server side of the
request's TCP connection is a socket that one worker process holds open. Starting a server
is most of the cost, so one server per database serves the module (``shared``); the tests
that stop a server start their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select, text

from cli_runner import Cli, make_cli, url_of
from flightlog import open_store_sync
from flightlog.api.served import FACTORY
from flightlog.cli.pool_budget import allowed_connections, pool_budget_warning
from flightlog.cli.serve import cpu_count, default_workers
from flightlog.cli.worker_listeners import forked_workers, tcp_listener
from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import Migrator
from flightlog.models import OtlpSpan
from flightlog.otlp.spans import Span
from flightlog.settings import Settings
from otlp_spans import team
from pg_cluster import free_port
from postgres_server import DIALECTS, PostgresServer
from serving import STARTUP_SECONDS, Served, serving
from waiting import wait_until

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="tells workers apart by Linux's /proc"
)
#: Far longer than any wait below: only the revocation fingerprint can explain a refusal.
CACHE_SECONDS = "3600"
SERVER_ENV = {"FLIGHTLOG_API_KEY_CACHE_SECONDS": CACHE_SECONDS}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return make_cli(monkeypatch, capsys, tmp_path)


# --- which worker answered --------------------------------------------------------------


def children(server_pid: int) -> dict[int, bytes]:
    """The server's child processes, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == server_pid:
            found[int(entry.name)] = command
    return found


def worker_pids(server_pid: int) -> set[int]:
    """The uvicorn workers: the server's children forked from it (its own command line)."""
    own = Path(f"/proc/{server_pid}/cmdline").read_bytes()
    return {pid for pid, command in children(server_pid).items() if command == own}


def two_workers(served: Served) -> set[int]:
    found: set[int] = set()

    def started() -> bool:
        found.update(worker_pids(served.process.pid))
        return len(found) == 2

    wait_until(started, STARTUP_SECONDS, "two worker processes")
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
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd) == target:
                    return pid
    raise AssertionError(f"no worker holds {target}")


def client_port(response: httpx.Response) -> int:
    """The local port of the connection a response came on (still open: keep-alive)."""
    address = response.extensions["network_stream"].get_extra_info("client_addr")
    port: int = address[1]
    return port


# --- the module's server ----------------------------------------------------------------


@dataclass
class Shared:
    """One ``flightlog serve --workers 2`` for the module, on a database of one dialect."""

    served: Served
    url: str
    key: str
    pids: set[int]

    def answered_by(self, response: httpx.Response) -> int:
        return serving_pid(self.served, client_port(response), self.pids)

    def client(self, key: str | None = None) -> httpx.Client:
        """A new client (its first request opens a new connection, to either worker)."""
        headers = {"Authorization": f"Bearer {key or self.key}"} if key != "" else {}
        return httpx.Client(base_url=self.served.base, headers=headers, timeout=60)

    @contextmanager
    def pinned(self, key: str | None = None) -> Iterator[dict[int, httpx.Client]]:
        """A keep-alive client per worker: new connections until each worker holds one."""
        with ExitStack() as stack:
            clients: dict[int, httpx.Client] = {}
            for _ in range(500):
                client = stack.enter_context(self.client(key))
                pid = self.answered_by(client.get("/api/v1/health"))
                clients.setdefault(pid, client)
                if len(clients) == len(self.pids):
                    yield clients
                    return
            raise AssertionError("new connections kept landing on one worker")

    def send(self, pid: int, method: str, path: str, key: str | None = None) -> httpx.Response:
        """An idempotent request answered by worker ``pid`` (new connections until one is)."""
        for _ in range(500):
            with self.client(key) as client:
                response = client.request(method, path)
                if self.answered_by(response) == pid:
                    return response
        raise AssertionError(f"no connection landed on worker {pid} in 500 tries")

    def new_key(self, name: str) -> str:
        with open_store_sync(self.url, upgrade=False) as store:
            return store.api_keys.create(name).key


@pytest.fixture(scope="module", params=DIALECTS)
def shared(
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer | None,
    tmp_path_factory: pytest.TempPathFactory,
    test_settings: Settings,
) -> Iterator[Shared]:
    folder = tmp_path_factory.mktemp("workers")
    if request.param == "sqlite":
        database = DatabaseUrl.parse(f"sqlite:///{folder / 'flightlog.db'}")
    elif postgres_server is None:
        pytest.skip("PostgreSQL server unreachable: see the warning at the start of the run")
    else:
        database = postgres_server.create_database("flightlog_workers")
    try:
        Migrator(test_settings, database).upgrade("head")
        url = url_of(database)
        with open_store_sync(url, upgrade=False) as store:
            key = store.api_keys.create("workers").key
        env = dict(SERVER_ENV)
        allowed = allowed_connections(Settings(database_url=url))
        if allowed is not None:  # pools that could outgrow PostgreSQL: the banner says so
            env["FLIGHTLOG_MAX_OVERFLOW"] = str(min(allowed, 1000))
        with serving(url, folder, "--workers", "2", env=env) as served:
            yield Shared(served, url, key, two_workers(served))
    finally:
        if postgres_server is not None and request.param == "postgresql":
            postgres_server.drop_database(database)


def _task(shared: Shared, title: str) -> str:
    with shared.client() as client:
        created = client.post("/api/v1/tasks", json={"title": title})
    assert created.status_code == 201, created.text
    task_id: str = created.json()["id"]
    return task_id


def _event_ids(client: httpx.Client, task_id: str) -> list[int]:
    """Every event of the task, read page by page through ``client``'s worker."""
    ids: list[int] = []
    after = 0
    while True:
        params: dict[str, str | int] = {"task_id": task_id, "after_id": after, "limit": 1000}
        page = client.get("/api/v1/events", params=params)
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        if page.json()["next_after_id"] is None:
            return ids
        after = page.json()["next_after_id"]


def _events(task_id: str, label: str, count: int = 1) -> dict[str, Any]:
    return {
        "events": [
            {"event_type": "LOG", "task_id": task_id, "content": f"{label} {i}"}
            for i in range(count)
        ]
    }


# --- the live stream --------------------------------------------------------------------


class Follower:
    """``GET /api/v1/events/stream`` of one task, read in a thread; notes its worker."""

    def __init__(self, shared: Shared, task_id: str) -> None:
        self.shared, self.task_id = shared, task_id
        self.ids: list[int] = []
        self.pid: int | None = None
        self.error: BaseException | None = None
        self.connected = threading.Event()
        self._closing = threading.Event()
        self._socket: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        params: dict[str, str | float] = {"task_id": self.task_id, "poll_seconds": 0.25}
        params["timeout_seconds"] = 120
        try:
            with (
                self.shared.client() as client,
                client.stream("GET", "/api/v1/events/stream", params=params) as response,
            ):
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                self.pid = self.shared.answered_by(response)
                self.connected.set()
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        self.ids.append(int(line.removeprefix("id: ")))
        except Exception as exc:  # the stream's end when closed; anything else is kept
            if not self._closing.is_set():
                self.error = exc
        finally:
            self.connected.set()

    def close(self) -> None:
        """Hang up (the blocked read returns) and wait for the thread."""
        self._closing.set()
        if self._socket is not None:
            with suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=30)


@contextmanager
def followers_on_both_workers(
    shared: Shared, task_id: str, each: int = 2
) -> Iterator[list[Follower]]:
    """Stream clients of the task until each worker serves ``each`` of them (or more)."""
    followers: list[Follower] = []
    try:
        for _ in range(40):
            follower = Follower(shared, task_id)
            followers.append(follower)
            assert follower.connected.wait(60), "the stream did not answer"
            assert follower.error is None, follower.error
            served = [f.pid for f in followers]
            if all(served.count(pid) >= each for pid in shared.pids):
                yield followers
                return
        raise AssertionError("stream clients kept landing on one worker")
    finally:
        for follower in followers:
            follower.close()


def test_stream_clients_on_both_workers_each_get_every_event_once_in_order(
    shared: Shared,
) -> None:
    task_id = _task(shared, "followed from two workers")
    with followers_on_both_workers(shared, task_id) as followers:
        assert {f.pid for f in followers} == shared.pids
        written: dict[int, list[int]] = {pid: [] for pid in shared.pids}

        def write(pid: int, client: httpx.Client) -> None:
            # Both workers write at once, so ids are drawn and committed interleaved.
            for i in range(12):
                response = client.post("/api/v1/events", json=_events(task_id, f"w{pid}-{i}", 3))
                assert response.status_code == 201, response.text
                written[shared.answered_by(response)] += response.json()["ids"]

        with shared.pinned() as clients, ThreadPoolExecutor(len(clients)) as pool:
            for done in [pool.submit(write, pid, c) for pid, c in clients.items()]:
                done.result()
            expected = _event_ids(next(iter(clients.values())), task_id)
        assert all(written.values()), "both workers wrote"
        assert {i for ids in written.values() for i in ids} <= set(expected)

        wait_until(
            lambda: all(len(f.ids) >= len(expected) for f in followers),
            60,
            "every stream client to receive every event",
        )
        for follower in followers:
            assert follower.error is None, follower.error
            assert follower.ids == expected, f"client on worker {follower.pid}"


def test_concurrent_writes_through_both_workers_are_all_answered_and_stored(
    shared: Shared,
) -> None:
    task_id = _task(shared, "written by many")
    with shared.client() as client:
        before = set(_event_ids(client, task_id))

    def writer(n: int) -> list[tuple[int, int, list[int]]]:
        answers = []
        with shared.client() as client:  # a connection of its own: either worker
            for i in range(10):
                response = client.post("/api/v1/events", json=_events(task_id, f"c{n}-{i}"))
                ids = response.json().get("ids", []) if response.status_code == 201 else []
                answers.append((shared.answered_by(response), response.status_code, ids))
        return answers

    with ThreadPoolExecutor(16) as pool:
        answers = [a for batch in pool.map(writer, range(16)) for a in batch]
    assert [status for _, status, _ in answers] == [201] * 160, "no write failed"
    acknowledged = {i for _, _, ids in answers for i in ids}
    assert len(acknowledged) == 160
    by_worker = {pid: [i for p, _, ids in answers if p == pid for i in ids] for pid in shared.pids}
    with shared.pinned() as clients:
        for pid in (pid for pid, ids in by_worker.items() if not ids):  # all on one worker
            response = clients[pid].post("/api/v1/events", json=_events(task_id, "top-up"))
            assert response.status_code == 201, response.text
            acknowledged.update(response.json()["ids"])
        for pid, client in clients.items():
            listed = _event_ids(client, task_id)
            assert set(listed) == before | acknowledged, f"read through worker {pid}"


def _listening_inodes(port: int) -> set[str]:
    """The sockets listening on ``port`` (Linux's socket table, state 0A)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            found.add(f"socket:[{fields[9]}]")
    return found


def _held(pid: int, inodes: set[str]) -> set[str]:
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            if (target := os.readlink(fd)) in inodes:
                held.add(target)
    return held


def test_each_worker_accepts_on_a_listener_of_its_own(shared: Shared) -> None:
    """One shared listener let the worker already awake take a whole burst of new
    connections; with a listener per worker the kernel spreads them by address."""
    listening = _listening_inodes(shared.served.port)
    assert len(listening) == len(shared.pids)
    held = [_held(pid, listening) for pid in sorted(shared.pids)]
    assert all(len(one) == 1 for one in held), held
    assert set.union(*held) == listening


def test_workers_are_forked_from_the_server_not_spawned(shared: Shared) -> None:
    """A spawned worker imported the web stack again (~3 s of CPU each): forked, each
    runs the server's own command line and no child runs multiprocessing's spawn."""
    server = shared.served.process.pid
    own = Path(f"/proc/{server}/cmdline").read_bytes()
    found = children(server)
    assert shared.pids <= found.keys()
    assert all(found[pid] == own for pid in shared.pids)
    assert not [command for command in found.values() if b"spawn_main" in command]


def test_forked_workers_fall_back_to_spawning_when_forking_is_not_safe() -> None:
    from uvicorn import _subprocess

    spawning = _subprocess.spawn
    factory = uvicorn.Config(FACTORY, factory=True)
    # This test's process may run threads of its own (pytest's, a driver's): fork only
    # decides for a supervisor that runs none, which flightlog serve's is.
    alone = threading.active_count() == 1
    with forked_workers(factory, []) as forked:
        assert forked is alone
        if alone:
            made = _subprocess.spawn.Process(target=print, kwargs={"sockets": []})
            assert made._start_method == "fork"  # type: ignore[attr-defined]
    assert _subprocess.spawn is spawning
    # An app object cannot be named to a worker; another thread could hold a lock a fork
    # would copy held: both keep uvicorn's own spawning.
    with forked_workers(uvicorn.Config(lambda: None), []) as forked:
        assert not forked
        assert _subprocess.spawn is spawning
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with forked_workers(factory, []) as forked:
            assert not forked
            assert _subprocess.spawn is spawning
    finally:
        release.set()
        other.join()


def test_a_port_in_use_is_refused_not_joined(tmp_path: Path, cli: Cli) -> None:
    url = _own_server_database(cli, tmp_path)
    with socket.socket() as taken:  # as an older 'flightlog serve --workers 2' listens
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "flightlog", "serve", "--workers", "2", "--port",
                str(port), "-d", url, "--no-sign-in-link"]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert f"cannot listen on 127.0.0.1:{port}" in said
    assert "choose another with --port" in said
    assert "Traceback" not in said


# --- what a process could keep to itself ------------------------------------------------


def test_a_key_revoked_by_another_process_is_refused_by_every_worker(
    shared: Shared, cli: Cli
) -> None:
    key = shared.new_key("revoked soon")
    for pid in shared.pids:  # each worker verifies it and remembers it for an hour
        assert shared.send(pid, "GET", "/api/v1/tasks", key=key).status_code == 200
    assert cli("api-key", "revoke", key[:11], "-d", shared.url)[0] == 0
    for pid in shared.pids:
        wait_until(_refuses(shared, pid, key), 20, f"worker {pid} to refuse the revoked key")
    assert shared.send(min(shared.pids), "GET", "/api/v1/tasks").status_code == 200  # others'


def _refuses(shared: Shared, pid: int, key: str) -> Callable[[], bool]:
    return lambda: shared.send(pid, "GET", "/api/v1/tasks", key=key).status_code == 401


def _cookie(response: httpx.Response, name: str) -> str:
    value = response.cookies.get(name)
    assert value, f"no {name} cookie in the answer"
    return value


def test_a_sign_in_a_form_and_its_outcome_cross_workers(shared: Shared) -> None:
    """The one-time link (a row), the form token (an HMAC of the key) and the outcome (a
    cookie) hold nothing in a process: whichever worker a browser's next request reaches."""
    found = re.search(r"sign in\s+(http://\S+/login/local\?token=\S+)", shared.served.output())
    assert found, shared.served.output()
    link = urlsplit(found.group(1))
    local = f"{link.path}?{link.query}"
    task_id = _task(shared, "cancelled from the dashboard")
    page_path = f"/tasks/{task_id}"
    with shared.pinned(key="") as browsers:
        first, second = sorted(browsers)
        signed = browsers[first].get(local)
        assert signed.status_code == 303, signed.text[:300]
        session = _cookie(signed, "flightlog_key")
        again = browsers[second].get(local)
        assert again.status_code == 410, "a link signs in once, whichever worker sees it"
        assert "already been used" in again.text

        cookie = {"Cookie": f"flightlog_key={session}"}
        page = browsers[second].get(page_path, headers=cookie)
        assert page.status_code == 200, page.text[:300]
        token = re.search(r'<meta name="flightlog-csrf" content="([0-9a-f]+)">', page.text)
        assert token, "a signed-in page carries the form token"
        form = {"csrf": token.group(1), "next": page_path}
        origin = {"Origin": shared.served.base}
        acted = browsers[first].post(
            f"/actions/tasks/{task_id}/cancel", data=form, headers=cookie | origin
        )
        assert acted.status_code == 303, acted.text[:300]
        flash = _cookie(acted, "flightlog_flash")
        shown = browsers[second].get(
            page_path, headers={"Cookie": f"flightlog_key={session}; flightlog_flash={flash}"}
        )
        assert 'data-flash="done"' in shown.text
    with shared.client() as client:
        assert client.get(f"/api/v1/tasks/{task_id}").json()["status"] == "CANCELLED"


def _otlp_value(value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _otlp_json(spans: list[Span]) -> bytes:
    """An OTLP/JSON trace export of ``spans``, as an exporter posts it to ``/v1/traces``."""
    encoded = [
        {
            "traceId": span.trace_id,
            "spanId": span.span_id,
            **({"parentSpanId": span.parent_span_id} if span.parent_span_id else {}),
            "name": span.name,
            "kind": 1,
            "startTimeUnixNano": str(span.start_time_unix_nano),
            "endTimeUnixNano": str(span.end_time_unix_nano),
            "attributes": [{"key": k, "value": _otlp_value(v)} for k, v in span.attributes.items()],
        }
        for span in spans
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "workers"}}]}
    scope = {"scope": {"name": "tests"}, "spans": encoded}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}).encode()


def _export(client: httpx.Client, spans: list[Span]) -> None:
    headers = {"Content-Type": "application/json"}
    response = client.post("/v1/traces", content=_otlp_json(spans), headers=headers)
    assert response.status_code == 200, response.text


def test_a_trace_split_across_workers_is_recorded_once_at_a_price_set_elsewhere(
    shared: Shared, cli: Cli
) -> None:
    """Spans waiting for their parent are kept in the database, not by the worker that got
    them; the price table in force is read there too, wherever it was changed."""
    before, after = team(), team()
    with shared.pinned() as clients:
        first, second = sorted(clients)
        _export(clients[second], before.in_end_order())  # the second worker prices a trace
        code, _, err = cli(
            "prices", "set", "gpt-4o-mini", "--input", "1000000", "--output", "2000000",
            "-d", shared.url,
        )  # fmt: skip
        assert code == 0, err
        children, root = after.in_end_order()[:-1], after.in_end_order()[-1]
        assert root is after.root
        _export(clients[first], children)
        waiting = clients[second].get(f"/api/v1/traces/{after.trace_id}").json()
        assert (waiting["run"], waiting["waiting_spans"]) == (None, len(children))
        _export(clients[second], [root])
        recorded = clients[first].get(f"/api/v1/traces/{after.trace_id}").json()
        earlier = clients[first].get(f"/api/v1/traces/{before.trace_id}").json()
    run = recorded["run"]
    assert (recorded["waiting_spans"], run["status"]) == (0, "COMPLETED")
    assert (run["tokens_in"], run["tokens_out"]) == after.tokens
    assert sorted(step["agent_name"] for step in recorded["agent_runs"]) == ["coder", "planner"]
    kinds = sorted(event["event_type"] for event in recorded["events"])
    assert (kinds.count("MODEL_CALL"), kinds.count("TOOL_CALL")) == (3, 2)  # each span once
    # 350 input tokens at $1 each and 70 output tokens at $2 each, by the price set
    # from the CLI after the second worker had priced a trace with the shipped table.
    assert run["cost_usd"] == "490.000000"
    assert earlier["run"]["cost_usd"] not in ("490.000000", "0.000000")


def test_span_requests_of_several_tasks_through_both_workers_at_once_keep_the_record_exact(
    shared: Shared,
) -> None:
    """Requests for other traces overlap (decision 0024): under concurrent senders on both
    workers, parts of traces of three tasks in any order and some twice, every run number
    is still its task's next one, each trace one run, each span once, none left waiting."""
    marker = uuid.uuid4().hex[:8]
    titles = [f"overlap {marker} {n}" for n in range(3)]
    traces = [team(f"overlap {marker} conv-{n % 4}", title=titles[n % 3]) for n in range(18)]
    chooser = random.Random(24)
    parts: list[list[Span]] = []
    for trace in traces:
        spans = trace.in_end_order()
        chooser.shuffle(spans)  # children and parents in any order
        cut = chooser.randint(1, len(spans) - 1)
        parts.extend([spans[:cut], spans[cut:]])
    parts.extend(chooser.sample(parts, 6))  # an exporter's retries
    chooser.shuffle(parts)
    with shared.pinned() as clients:
        senders = [clients[pid] for pid in sorted(clients)] * 2  # two senders per worker
        with ThreadPoolExecutor(len(senders)) as pool:
            list(
                pool.map(
                    lambda n: [_export(senders[n], part) for part in parts[n :: len(senders)]],
                    range(len(senders)),
                )
            )
    with open_store_sync(shared.url, upgrade=False) as store, store.engine.connect() as db:
        runs = db.execute(
            text(
                "SELECT t.title, r.run_number, r.trace_id FROM task_runs AS r "
                "JOIN tasks AS t ON t.id = r.task_id WHERE t.title LIKE :like"
            ),
            {"like": f"overlap {marker} %"},
        ).all()
        by_title: dict[str, list[int]] = {}
        for title, number, _ in runs:
            by_title.setdefault(title, []).append(number)
        assert {title: sorted(numbers) for title, numbers in by_title.items()} == {
            title: [1, 2, 3, 4, 5, 6] for title in titles
        }
        assert sorted(trace_id for _, _, trace_id in runs) == sorted(t.trace_id for t in traces)
        ids = [t.trace_id for t in traces]
        ledger = db.execute(
            select(func.count(), func.count(OtlpSpan.pending)).where(OtlpSpan.trace_id.in_(ids))
        ).one()
        assert tuple(ledger) == (7 * len(traces), 0)  # each span once, none waiting
        totals = db.execute(
            text(
                "SELECT t.total_runs, (SELECT count(*) FROM task_runs AS r WHERE r.task_id = t.id)"
                " FROM tasks AS t WHERE t.title LIKE :like"
            ),
            {"like": f"overlap {marker} %"},
        ).all()
        assert [tuple(row) for row in totals] == [(6, 6)] * 3
        sessions = db.execute(
            text("SELECT count(*) FROM sessions WHERE external_id LIKE :like"),
            {"like": f"overlap {marker} conv-%"},
        ).scalar_one()
        assert sessions == 4


def test_the_banner_warns_when_the_workers_pools_could_outgrow_postgresql(
    shared: Shared,
) -> None:
    allowed = allowed_connections(Settings(database_url=shared.url))
    warned = [line for line in shared.served.output().splitlines() if "warning" in line]
    if allowed is None:  # SQLite: no connection limit to outgrow
        assert warned == []
        return
    overflow = min(allowed, 1000)
    size = Settings().pool_size
    paging = max(1, size // 4) + overflow // 4  # the paging pool, a quarter of the main one
    assert warned == [
        f"  warning    2 workers may open {2 * (size + overflow + paging)} database connections "
        f"(each up to FLIGHTLOG_POOL_SIZE {size} + FLIGHTLOG_MAX_OVERFLOW {overflow}, and "
        f"{paging} for event pages) but PostgreSQL allows {allowed}: lower those or "
        "--workers, or raise max_connections"
    ]


@pytest.mark.postgres_only
def test_pools_are_checked_against_the_connections_postgresql_allows(
    dialect: str, db_url: DatabaseUrl
) -> None:
    # Pools of 20 + 10 overflow, and paging pools of 5 + 2.
    settings = Settings(database_url=url_of(db_url))
    allowed = allowed_connections(settings)
    assert allowed is not None
    assert allowed > 37
    fit = allowed // 37
    assert pool_budget_warning(settings, fit) is None
    warned = pool_budget_warning(settings, fit + 1)
    assert warned is not None
    assert f"{fit + 1} workers may open {(fit + 1) * 37} database connections" in warned
    assert f"PostgreSQL allows {allowed}" in warned
    assert pool_budget_warning(Settings(database_url="sqlite:///unused.db"), 1000) is None


# --- servers of their own ---------------------------------------------------------------


def _own_server_database(cli: Cli, folder: Path) -> str:
    """A SQLite database at head: for what happens before or beside any database work
    (binding, arguments, the parent's death), which one dialect shows for both."""
    url = f"sqlite:///{folder / 'flightlog.db'}"
    assert cli("db", "upgrade", "-d", url)[0] == 0
    return url


def test_a_dead_worker_is_replaced_and_all_die_with_a_killed_server(
    tmp_path: Path, cli: Cli
) -> None:
    url = _own_server_database(cli, tmp_path)
    with serving(url, tmp_path, "--workers", "2") as served:
        first = two_workers(served)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)  # a worker crashes; its listener stays open

        def replaced() -> bool:
            alive = {pid for pid in worker_pids(served.process.pid) if pid != victim}
            return len(alive) == 2 and not Path(f"/proc/{victim}").exists()

        wait_until(replaced, STARTUP_SECONDS, "uvicorn to start a worker in its place")
        # New connections land on either listener (a hash of their addresses); those on
        # the dead worker's are accepted by its replacement, so every one is answered.
        for _ in range(24):
            assert httpx.get(f"{served.base}/api/v1/health", timeout=60).status_code == 200
        workers = worker_pids(served.process.pid)
        served.process.kill()  # the parent alone, as a crash or the OOM killer would
        served.process.wait(timeout=30)
        wait_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers),
            30,
            "the orphaned workers to be gone",
        )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{served.base}/api/v1/health", timeout=5)


def test_workers_zero_is_refused_before_anything_starts(tmp_path: Path, cli: Cli) -> None:
    url = _own_server_database(cli, tmp_path)
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


async def test_connections_to_the_workers_listener_send_without_nagle() -> None:
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
