"""Run documentation examples as programs in child processes, without paying Python's imports
for each one.

A doc example is a whole program and must run as one: its own process and ``__main__``
module, working directory, environment, standard streams, exit status, ``atexit``
handlers and thread joins at shutdown. Starting a new interpreter for each gives all that,
but most of its time then goes to importing SQLAlchemy, the drivers, pydantic and Flightlog
(~0.9 s of CPU here), paid again by each of the ~190 examples on each test worker.

So each test worker keeps one *fork server*: an interpreter, started like the examples' own
would be, that imports those modules once and then waits. For each program it forks; the
child starts a session of its own, sets the program's directory, environment and streams,
runs the marshalled code in a new ``__main__`` module and ends through the interpreter's
normal shutdown (``sys.exit``): an uncaught exception prints its traceback and exits 1, and
exit handlers and non-daemon threads run to their end, as in a fresh interpreter. The
server waits for the child itself and kills its whole session when it runs past its time.

What a child shares with a fresh interpreter's run, and what it does not: the server never
opens a connection, starts a thread (it checks) or an event loop, and no child sees
another's state. But the modules were imported once, in the server's environment and
directory: what they did at import (``flightlog.tracing`` registers its exit and fork
hooks then) is done before the program starts, and every program on a worker shares the
server's hash seed. No example depends on either; one that must see its own interpreter
start can still be run with ``subprocess``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
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

#: The server: requests (one JSON line each) on stdin; for each, one JSON line with the
#: child's exit status and whether it was killed for its time, on the file descriptor
#: named by its first argument.
SERVER = r"""
import importlib, json, marshal, os, select, signal, sys, threading, types
replies = os.fdopen(int(sys.argv[1]), "w", buffering=1)
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
assert threading.active_count() == 1, f"an import started a thread: {threading.enumerate()}"

def child(request):
    os.setsid()
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
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    exec(code, main.__dict__)
    sys.exit(0)

for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(request)
    watch = os.pidfd_open(pid)
    ended, _, _ = select.select([watch], [], [], request["timeout"])
    if not ended:
        os.killpg(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(watch)
    returncode = os.waitstatus_to_exitcode(status)
    replies.write(json.dumps({"returncode": returncode, "timed_out": not ended}) + "\n")
"""

#: How long past a program's own time the server may take to answer before it is replaced.
SERVER_GRACE_SECONDS = 60.0


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
    """The program ran longer than it was given; its session was killed."""


class ForkServer:
    """One fork server (see the module's docstring), started with ``environment``; replaced
    by a new one if it ever stops answering or dies."""

    def __init__(self, environment: dict[str, str]) -> None:
        self._environment = environment
        self._start()

    def _start(self) -> None:
        self._read_fd, write_fd = os.pipe()
        self._log = tempfile.NamedTemporaryFile(prefix="fork-server-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(write_fd), json.dumps(PRELOADED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=self._environment,
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
            "timeout": timeout,
        }
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            reply = json.loads(self._reply(timeout + SERVER_GRACE_SECONDS))
        except BaseException:
            # The server's answers and our requests may no longer pair up: start afresh.
            self._replace()
            raise
        if reply["timed_out"]:
            raise ProgramTimeout(f"killed after {timeout:.0f} s")
        return Finished(int(reply["returncode"]), stdout.read_text(), stderr.read_text())

    def _reply(self, timeout: float) -> str:
        """The server's next line (read from the pipe unbuffered, so none waits unseen)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the fork server gave no answer in {timeout:.0f} s")
            ready, _, _ = select.select([self._read_fd], [], [], min(remaining, 1.0))
            if ready:
                chunk = os.read(self._read_fd, 4096)
                if not chunk:
                    raise RuntimeError(f"the fork server ended: {self._server_log()}")
                self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def _server_log(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-2000:] or "(no output)"

    def _replace(self) -> None:
        self._process.kill()
        self.close()
        self._start()

    def close(self) -> None:
        """End the server (it ends when its input does) and release its pipe and log."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        os.close(self._read_fd)
        self._log.close()
