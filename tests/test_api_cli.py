"""``flightlog api-key`` and ``flightlog serve``, run as a user runs them."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cli_runner import Cli, make_cli
from flightlog.db.urls import DatabaseUrl


def _url(fresh_url: DatabaseUrl) -> str:
    return fresh_url.url.render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """The console script's ``main()`` in this process: exit code, stdout, stderr."""
    return make_cli(monkeypatch, capsys, tmp_path)


def test_keys_are_shown_once_listed_by_prefix_and_revoked(
    fresh_url: DatabaseUrl, cli: Callable[..., tuple[int, str, str]]
) -> None:
    url = _url(fresh_url)
    code, _, err = cli("api-key", "create", "--name", "ci", "-d", url)
    assert code == 1
    assert "flightlog db upgrade" in err  # no silent migration
    assert cli("db", "upgrade", "-d", url)[0] == 0
    code, out, err = cli("api-key", "create", "--name", "ci", "--scope", "read", "-d", url)
    assert code == 0, err
    key = out.splitlines()[0]
    assert key.startswith("fl_")
    prefix = key[:11]

    code, listed, err = cli("api-key", "list", "-d", url)
    assert code == 0, err
    assert prefix in listed
    assert key not in listed
    assert "read" in listed

    assert cli("api-key", "revoke", prefix, "--reason", "test", "-d", url)[0] == 0
    code, _, err = cli("api-key", "revoke", prefix, "-d", url)
    assert code == 1
    assert "already revoked" in err
    assert "Traceback" not in err
    assert "revoked" in cli("api-key", "list", "-d", url)[1]
    code, _, err = cli("api-key", "create", "--name", "x", "--customer", "nobody@x", "-d", url)
    assert code == 1
    assert "no customer has the email" in err
    code, _, err = cli("api-key", "create", "--name", "x", "--scope", "admin", "-d", url)
    assert code == 2
    assert "unknown scope" in err

    # Rich markup in a name is shown as typed and cannot hide the secret.
    code, out, err = cli("api-key", "create", "--name", "ci[/x] [bold]", "-d", url)
    assert code == 0, err
    assert out.splitlines()[0].startswith("fl_")
    assert "ci[/x] [bold]" in cli("api-key", "list", "-d", url)[1]


def test_serve_refuses_a_database_that_is_not_at_head(
    fresh_url: DatabaseUrl, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = cli("serve", "-d", _url(fresh_url))
    assert code == 1
    assert "flightlog db upgrade" in err
    assert "Traceback" not in err


def test_serve_answers_http_with_a_created_key(
    fresh_url: DatabaseUrl, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    url = _url(fresh_url)
    assert cli("db", "upgrade", "-d", url)[0] == 0
    key = cli("api-key", "create", "--name", "svc", "-d", url)[1].split()[0]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flightlog", "serve", "--port", str(port), "-d", url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        auth = {"Authorization": f"Bearer {key}"}
        created = httpx.post(f"{base}/tasks", json={"title": "over the wire"}, headers=auth)
        assert created.status_code == 201, created.text
        assert (
            httpx.get(f"{base}/tasks", headers=auth).json()["items"][0]["title"] == "over the wire"
        )
        assert httpx.get(f"{base}/tasks").status_code == 401

        # A live stream sees events another client writes while it is open.
        task_id = created.json()["id"]
        received: list[str] = []
        connected = threading.Event()

        def follow() -> None:
            params = {"task_id": task_id, "poll_seconds": 0.25, "timeout_seconds": 4}
            with httpx.stream(
                "GET", f"{base}/events/stream", params=params, headers=auth, timeout=10
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        received.append(line.removeprefix("id: "))
                        # The task's own audit event has come: the stream is live.
                        connected.set()
                    elif line.startswith("data: ") and '"live"' in line:
                        return  # the other client's event came: no need to wait for the end

        listener = threading.Thread(target=follow)
        listener.start()
        assert connected.wait(timeout=10), "the stream delivered nothing"
        posted = httpx.post(
            f"{base}/events",
            json={"events": [{"event_type": "LOG", "task_id": task_id, "content": "live"}]},
            headers=auth,
        ).json()["ids"]
        listener.join(timeout=15)
        assert [str(i) for i in posted] == received[-1:]
    finally:
        server.terminate()
        server.wait(timeout=30)
