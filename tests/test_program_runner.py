"""The fork server the doc-example tests run programs in behaves like a fresh interpreter
where those tests rely on it: exit status, tracebacks, exit handlers, directory, environment,
and no state carried from one program to the next."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from program_runner import Finished, ForkServer, ProgramTimeout, program_environment


def _payload(tmp_path: Path, name: str, source: str) -> Path:
    payload = tmp_path / f"{name}.marshal"
    payload.write_bytes(marshal.dumps(compile(source, f"{name}.py", "exec")))
    return payload


def _run(
    server: ForkServer, tmp_path: Path, name: str, source: str, timeout: float = 60.0
) -> Finished:
    env = {**program_environment(), "PROGRAM_NAME": name}
    return server.run(_payload(tmp_path, name, source), cwd=tmp_path, env=env, timeout=timeout)


def test_exit_status_traceback_and_exit_handlers_are_a_fresh_interpreters(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    done = _run(fork_server, tmp_path, "ok", "print('hello')\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")

    done = _run(fork_server, tmp_path, "exits", "import sys\nsys.exit(3)\n")
    assert done.returncode == 3

    done = _run(fork_server, tmp_path, "raises", "x = 1\nassert x == 2, 'x is not 2'\n")
    assert done.returncode == 1
    assert "AssertionError: x is not 2" in done.stderr
    assert 'File "raises.py", line 2' in done.stderr

    source = (
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread joined'))).start()\n"
    )
    done = _run(fork_server, tmp_path, "at_exit", source)
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["thread joined", "atexit ran"]


def test_each_program_gets_its_directory_environment_and_a_clean_state(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    source = (
        "import os, sys, flightlog\n"
        "print(os.getcwd(), os.environ['PROGRAM_NAME'], __name__)\n"
        "print(hasattr(flightlog, 'left_by_the_first'), 'PYTHONOPTIMIZE' in os.environ)\n"
        "print(sys.flags.optimize, sys.stdin.read() == '')\n"
        "flightlog.left_by_the_first = True\n"
    )
    for name in ("first", "second"):
        done = _run(fork_server, tmp_path, name, source)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            f"{tmp_path} {name} __main__",
            "False False",
            "0 True",
        ]


def test_a_program_past_its_time_is_killed_and_the_server_goes_on(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    with pytest.raises(ProgramTimeout):
        _run(fork_server, tmp_path, "sleeps", "import time\ntime.sleep(60)\n", timeout=1.0)
    assert _run(fork_server, tmp_path, "after", "print('still here')\n").stdout == "still here\n"
