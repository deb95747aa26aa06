"""The fork server the doc-example tests run programs in behaves like a fresh interpreter
where those tests rely on it: exit status, tracebacks, exit handlers, directory, environment,
and no state carried from one program to the next."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from program_runner import Finished, ForkServer, ProgramTimeout, program_environment
from waiting import wait_until


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

    # The thread prints only once the program's main code has ended: what it prints was
    # written while the interpreter waited for it, before the exit handlers ran.
    source = (
        "import atexit, threading\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "def after_main():\n"
        "    threading.main_thread().join()\n"
        "    print('thread joined')\n"
        "threading.Thread(target=after_main).start()\n"
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
        "print(sys.modules['__main__'].__dict__ is globals(), os.getsid(0) == os.getpid())\n"
        "flightlog.left_by_the_first = True\n"
    )
    for name in ("first", "second"):
        done = _run(fork_server, tmp_path, name, source)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            f"{tmp_path} {name} __main__",
            "False False",
            "0 True",
            "True True",
        ]


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie waiting for a parent to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_a_program_past_its_time_is_killed_with_its_children_and_the_server_goes_on(
    fork_server: ForkServer, tmp_path: Path
) -> None:
    source = (
        "import pathlib, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "pathlib.Path('grandchild.pid').write_text(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    with pytest.raises(ProgramTimeout):
        _run(fork_server, tmp_path, "sleeps", source, timeout=2.0)
    grandchild = int((tmp_path / "grandchild.pid").read_text())
    wait_until(lambda: _gone(grandchild), 10, "the program's own child to be killed too")
    assert _run(fork_server, tmp_path, "after", "print('still here')\n").stdout == "still here\n"


def test_a_server_that_dies_is_replaced(fork_server: ForkServer, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the fork server ended"):
        _run(fork_server, tmp_path, "kills", "import os\nos.kill(os.getppid(), 9)\n")
    assert _run(fork_server, tmp_path, "after", "print('replaced')\n").stdout == "replaced\n"
