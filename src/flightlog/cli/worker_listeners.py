"""How ``flightlog serve --workers N`` listens: a socket of its own per worker, Nagle off.

What ``uvicorn.run(..., workers=N)`` does, with two differences that decide how
well N processes share the load (measured in ``benchmarks/workers.py``):

- **Nagle off on every connection.** uvicorn binds the workers' listener with
  ``proto`` 0; the sockets accepted from it inherit that, and asyncio turns
  ``TCP_NODELAY`` on only for a socket that says ``IPPROTO_TCP``. With Nagle
  on, an answer's body (written after its headers) waited for the client's
  delayed ACK: every keep-alive request took about 40 ms more, and 2 workers
  served fewer requests than 1 (uvicorn issue 3149; one process is spared,
  because asyncio binds it from ``getaddrinfo``).
- **A listener per worker (Linux).** With one shared listener, every worker
  waits on it and the first awake takes all that is queued; a worker that is
  already running wins that race, so a burst of new keep-alive connections
  (a fleet of agents starting) piled onto one worker and stayed there (15 of
  16 in a measured run) while the other idled. Each worker here accepts on a
  socket of its own, all bound to the port with ``SO_REUSEPORT``, and the
  kernel spreads new connections over them by a hash of their addresses.
  Before those are bound, a plain bind checks the port is free, so a port in
  use is refused rather than shared with whatever listens there.

A worker that dies is replaced by uvicorn's supervisor; the replacement listens
on every worker's socket, so no socket is left without a process to accept on
it. Elsewhere than Linux (where ``SO_REUSEPORT`` does not balance) the workers
share one listener, as with uvicorn's own command.

Workers are **forked** from the supervisor once it has imported the app's module
(see :func:`forked_workers`), not spawned as fresh interpreters: a spawned worker
imports the web stack, the models and the schemas again, ~3 s of CPU each here,
so two workers on two cores made ``flightlog serve`` on PostgreSQL take ~7 s to
answer, and a worker killed mid-load came back only after as long (decision 0023).
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flightlog.errors import ConfigurationError

if TYPE_CHECKING:
    import uvicorn


def tcp_listener(bound: socket.socket) -> socket.socket:
    """``bound`` (same descriptor) as a socket that says it speaks TCP.

    Only the ``proto`` Python records for the descriptor changes, and the sockets
    accepted from it inherit it, so asyncio sets ``TCP_NODELAY`` on each. A Unix
    socket, or one that already says TCP, is returned as it is.
    """
    if bound.family not in (socket.AF_INET, socket.AF_INET6) or bound.proto:
        return bound
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, bound.detach())


def balances_by_port() -> bool:
    """Whether this system spreads connections over sockets sharing a port (Linux 3.9+)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuseport_listeners(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` TCP sockets listening on ``host:port`` with ``SO_REUSEPORT``.

    They listen from here on, before any worker runs: the kernel spreads connections
    over listening sockets only, so one bound by a worker still starting would leave
    every early connection to the worker that started first. Raises ``OSError``
    (``EADDRINUSE``) when anything listens on the port already.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Joining needs SO_REUSEPORT on every socket of the port, so a plain bind fails when
    # anyone listens there (an older server of the same user would otherwise be joined).
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    listeners = []
    try:
        for _ in range(count):
            listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((host, port))
            listener.listen(backlog)
            listener.set_inheritable(True)
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def serve_workers(config: uvicorn.Config) -> None:
    """Serve ``config.workers`` processes of ``config`` until stopped (see the module)."""
    if config.uds or config.fd is not None or not balances_by_port():
        _supervise(config, [tcp_listener(config.bind_socket())], own=False)
        return
    try:
        listeners = reuseport_listeners(config.host, config.port, config.workers, config.backlog)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {config.host}:{config.port} ({exc.strerror}): stop what uses "
            "the port or choose another with --port"
        ) from None
    _supervise(config, listeners, own=True)


def _supervise(config: uvicorn.Config, listeners: list[socket.socket], *, own: bool) -> None:
    """uvicorn's supervisor on ``listeners``; ``own``: each first worker on one of its own."""
    from uvicorn import Server
    from uvicorn.supervisors import Multiprocess
    from uvicorn.supervisors.multiprocess import Process

    # Older uvicorn releases take the workers' entry point (target); newer ones build it.
    with_target = "target" in inspect.signature(Multiprocess.__init__).parameters
    target = Server(config).run

    def process(sockets: list[socket.socket]) -> Any:
        if with_target:
            return Process(config, target, sockets)  # type: ignore[call-arg,arg-type,unused-ignore]
        return Process(config, sockets)

    if with_target:
        supervisor = Multiprocess(config, target, listeners)  # type: ignore[call-arg,arg-type,unused-ignore]
    else:
        supervisor = Multiprocess(config, sockets=listeners)
    if own:

        def init_processes() -> None:
            # A worker per listener; a later worker (a replacement) gets them all.
            for listener in listeners[: supervisor.processes_num]:
                started = process([listener])
                started.start()
                supervisor.processes.append(started)

        def handle_ttou() -> None:
            """Ignored: a retired worker would leave its listener with nobody accepting."""

        supervisor.init_processes = init_processes  # type: ignore[method-assign]
        supervisor.handle_ttou = handle_ttou  # type: ignore[method-assign]
    with forked_workers(config, listeners):
        supervisor.run()


@contextmanager
def forked_workers(config: uvicorn.Config, listeners: list[socket.socket]) -> Iterator[bool]:
    """Within the block, uvicorn starts workers by ``fork`` (yields whether it will).

    The supervisor imports the app's module first, so every worker, the first ones
    and each replacement, starts with it imported and builds only its own app and
    engine, as gunicorn's workers do. Forking is safe here because the supervisor
    holds no connection, event loop or thread by then: the banner's database checks
    dispose of their engines. Where that does not hold (another thread is running,
    a platform without ``fork``, a uvicorn whose worker start is laid out
    differently) the workers are spawned as uvicorn does by itself.
    """
    from uvicorn import _subprocess

    if (
        "fork" not in multiprocessing.get_all_start_methods()
        or threading.active_count() != 1
        or not hasattr(_subprocess, "spawn")
        or not isinstance(config.app, str)
    ):
        yield False
        return
    importlib.import_module(config.app.partition(":")[0])
    spawning = _subprocess.spawn
    _subprocess.spawn = _Forking(listeners)  # type: ignore[assignment]
    try:
        yield True
    finally:
        _subprocess.spawn = spawning


class _Forking:
    """What uvicorn asks for a worker process (``spawn.Process(target=, kwargs=)``), forked.

    A forked worker inherits every listener of the supervisor; it closes those it was
    not given, so that it holds only the socket it accepts on, as a spawned one does.
    """

    def __init__(self, listeners: list[socket.socket]) -> None:
        self._fork = multiprocessing.get_context("fork")
        self._listeners = listeners

    def Process(  # noqa: N802  # the name uvicorn calls
        self, target: Any, kwargs: dict[str, Any]
    ) -> multiprocessing.process.BaseProcess:
        return self._fork.Process(target=_worker, args=(target, self._listeners), kwargs=kwargs)


def _worker(started: Any, listeners: list[socket.socket], **kwargs: Any) -> None:
    """A forked worker: start as a spawned one would, then as uvicorn does.

    It closes the listeners that are not its own, and drops the supervisor's signal
    handlers, which only queue a signal for the supervisor's loop: in the moment
    before uvicorn installs its own, a SIGTERM ends the worker, as it ends a fresh
    interpreter, instead of being queued where nobody reads it.
    """
    for number in signal.valid_signals():
        handler = signal.getsignal(number)
        if callable(handler) and handler is not signal.default_int_handler:
            fresh = signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL
            signal.signal(number, fresh)
    own = {listener.fileno() for listener in kwargs.get("sockets") or ()}
    for listener in listeners:
        if listener.fileno() not in own:
            listener.close()
    started(**kwargs)
