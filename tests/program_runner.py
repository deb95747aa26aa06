"""Run documentation examples as programs in child processes, without paying Python's imports
for each one.

A doc example is a whole program and must run as one: its own process, its own ``__main__``
namespace, working directory, environment, standard streams, exit status, ``atexit``
handlers and thread joins at shutdown. Starting a new interpreter for each gives all that,
but most of its time then goes to importing SQLAlchemy, the drivers, pydantic and Flightlog
(~0.9 s of CPU here), paid again by each of the ~190 examples on each test worker.

So each test worker keeps one *fork server*: an interpreter, started like the examples' own
would be, that imports those modules once and then waits. For each program it forks; the
child sets the program's directory, environment and streams, runs the marshalled code as
``__main__`` and ends through the interpreter's normal shutdown (``sys.exit``), so an
uncaught exception prints its traceback and exits 1, and exit handlers run, as in a fresh
interpreter. The server itself never opens a connection, starts a thread or an event loop,
so a child inherits nothing but imported modules, and no child sees another's state.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: What the server imports before it forks (what the examples import; nothing that starts
#: a thread at import).
PRELOADED = (
    "asyncio",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "asyncpg",
    "aiosqlite",
    "psycopg",
    "httpx",
    "flightlog",
    "flightlog.store",
    "flightlog.store.sync",
    "flightlog.client",
    "flightlog.tracing",
    "flightlog.migrations.runner",
)

#: The server: requests (one JSON line each) on stdin; the child's pid, then its exit status,
#: on the file descriptor named by its first argument.
SERVER = r"""
import importlib, json, marshal, os, sys, threading
replies = os.fdopen(int(sys.argv[1]), "w", buffering=1)
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
assert threading.active_count() == 1, f"an import started a thread: {threading.enumerate()}"

def child(request):
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    replies.close()
    sys.argv = ["-c", request["payload"]]
    with open(request["payload"], "rb") as handle:
        code = marshal.load(handle)
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    sys.exit(0)

for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(request)
    replies.write(f"{pid}\n")
    _, status = os.waitpid(pid, 0)
    replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
"""


def program_environment() -> dict[str, str]:
    """This process's environment as a program's: asserts run (no ``PYTHONOPTIMIZE``) and
    no database is named (the program names its own)."""
    env = dict(os.environ)
    for name in ("PYTHONOPTIMIZE", "FLIGHTLOG_DATABASE_URL", "DATABASE_URL"):
        env.pop(name, None)
    return env


@dataclass(frozen=True)
class Finished:
    """What a program left: its exit status and its two streams."""

    returncode: int
    stdout: str
    stderr: str


class ProgramTimeout(Exception):
    """The program ran longer than it was given; it was killed."""


class ForkServer:
    """One fork server (see the module's docstring), started with ``environment``."""

    def __init__(self, environment: dict[str, str]) -> None:
        self._read_fd, write_fd = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(write_fd), json.dumps(PRELOADED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=environment,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self._pending = b""

    def run(self, payload: Path, *, cwd: Path, env: dict[str, str], timeout: float) -> Finished:
        """Run the marshalled code in ``payload`` as ``__main__`` of a forked child."""
        stdout, stderr = cwd / f"{payload.stem}.stdout", cwd / f"{payload.stem}.stderr"
        request = {
            "payload": str(payload),
            "cwd": str(cwd),
            "env": env,
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        pid = int(self._reply(30.0))
        try:
            status = int(self._reply(timeout))
        except ProgramTimeout:
            os.kill(pid, signal.SIGKILL)
            self._reply(30.0)
            raise
        return Finished(status, stdout.read_text(), stderr.read_text())

    def _reply(self, timeout: float) -> str:
        """The server's next line (read from the pipe unbuffered, so none waits unseen)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            if time.monotonic() > deadline:
                raise ProgramTimeout(f"no answer within {timeout:.0f} s")
            ready, _, _ = select.select([self._read_fd], [], [], 1.0)
            if ready:
                chunk = os.read(self._read_fd, 4096)
                if not chunk:
                    raise RuntimeError(f"the fork server ended (exit {self._process.wait()})")
                self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)
        os.close(self._read_fd)
