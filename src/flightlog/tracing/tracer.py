"""``Tracer``: one buffer, one worker thread, one backend (embedded Store or remote server).

Make one per process and keep it: ``Tracer.embedded(url)`` writes to a
database through the async Store, ``Tracer.remote(base_url, api_key=…)``
through a Flightlog server. A tracer lives until ``close()``; whatever is
still open at interpreter exit is flushed early (while thread pools still
run) and closed late (after non-daemon threads ended, so their runs are
finished), each waiting at most ``config.exit_timeout`` seconds per tracer.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  # its exit hook must be registered before ours
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

import httpx

from flightlog.migrations import runner as migrations_runner
from flightlog.settings import Settings
from flightlog.tracing import summary
from flightlog.tracing.backend import BackendOpener
from flightlog.tracing.buffer import Buffer, TracerStats
from flightlog.tracing.config import TracerConfig
from flightlog.tracing.decorators import step_decorator
from flightlog.tracing.embedded import embedded_backend
from flightlog.tracing.records import StartRun
from flightlog.tracing.remote import remote_backend
from flightlog.tracing.scopes import Run
from flightlog.tracing.worker import Worker

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("flightlog.tracing")

_open_tracers: set[Tracer] = set()
_open_lock = threading.Lock()


class Tracer:
    """Records runs and steps of agent code without ever making it wait for Flightlog."""

    def __init__(self, backend: BackendOpener, *, config: TracerConfig | None = None) -> None:
        """Start the worker on ``backend`` (see ``embedded_backend`` / ``remote_backend``)."""
        self.config = config or TracerConfig()
        self._buffer = Buffer(self.config)
        self._worker = Worker(self._buffer, backend, self.config)
        self._opener = backend
        self._closed = False
        with _open_lock:
            _open_tracers.add(self)
        self._worker.start()

    def _after_fork_in_child(self) -> None:
        """A forked child starts this tracer afresh: its own buffer contents, locks and worker.

        The parent's worker thread does not exist here, and what the parent had
        queued is the parent's to send (it still will), so the child drops it;
        its own records start a new worker on the first one.
        """
        inherited = self._buffer.forget_after_fork()
        for _seq, record in inherited:
            if isinstance(record, StartRun):
                for pending in (record.run.id, record.run.task_id):
                    if not pending.done():
                        pending.refuse("it is recorded by the parent process, before the fork")
        self._worker = Worker(self._buffer, self._opener, self.config)
        self._buffer.notify = self._worker.start_on_notice

    @classmethod
    def embedded(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        customer_id: uuid.UUID | None = None,
        config: TracerConfig | None = None,
    ) -> Tracer:
        """A tracer writing to the database at ``url`` (default: ``FLIGHTLOG_DATABASE_URL``).

        The schema is upgraded when the worker opens the database, as ``open_store`` does.
        """
        opener = embedded_backend(url, settings=settings, customer_id=customer_id)
        return cls(opener, config=config)

    @classmethod
    def remote(
        cls,
        base_url: str,
        *,
        api_key: str,
        timeout: float = 30.0,
        config: TracerConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Tracer:
        """A tracer sending to the Flightlog server at ``base_url`` with ``api_key``."""
        opener = remote_backend(base_url, api_key=api_key, timeout=timeout, transport=transport)
        return cls(opener, config=config)

    @overload
    def agent_step(self, func: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def agent_step(
        self,
        name: str | None = None,
        /,
        *,
        capture_input: bool = True,
        capture_output: bool = True,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def agent_step(
        self,
        func_or_name: Callable[P, R] | str | None = None,
        /,
        *,
        capture_input: bool = True,
        capture_output: bool = True,
    ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
        """``@tracer.agent_step("Engineer")``: the same as ``flightlog.tracing.agent_step``.

        A step belongs to the run it is called in, whichever tracer made that run.
        """
        return step_decorator(func_or_name, capture_input, capture_output)

    def __repr__(self) -> str:
        return f"<flightlog.tracing.Tracer {'closed' if self._closed else 'open'} {self.stats}>"

    def run(
        self,
        task_id: uuid.UUID | str | None = None,
        *,
        title: str | None = None,
        description: str | None = None,
        input_context: Mapping[str, Any] | None = None,
        git_branch: str | None = None,
    ) -> Run:
        """A run of task ``task_id``, or of a new task made from ``title`` (and ``description``).

        Use it as ``with tracer.run(...) as run:`` (or ``async with``): entering
        starts the run, leaving finishes it COMPLETED, or FAILED with the
        exception (re-raised unchanged). Neither waits for Flightlog.
        """
        if (task_id is None) == (title is None):
            raise TypeError("tracer.run() takes a task_id or a title=, exactly one of them")
        task: uuid.UUID | None = None
        invalid: str | None = None
        if task_id is not None:
            try:
                task = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
            except ValueError:
                invalid = f"task_id {task_id!r} is not a UUID"
        return Run(
            self._buffer,
            self.config.summary_chars,
            task_id=task,
            title=title,
            description=description,
            input_context=summary.json_object(input_context, self.config.summary_chars),
            git_branch=git_branch,
            invalid=invalid,
        )

    @property
    def stats(self) -> TracerStats:
        """Counts of records sent, pending, dropped and refused, and the last failure."""
        return self._buffer.stats()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Send everything recorded so far now; True once it is all written (or refused).

        False after ``timeout`` seconds with records still pending (Flightlog
        unreachable: they stay buffered and are retried). Blocks the calling
        thread; from async code, ``await asyncio.to_thread(tracer.flush)``.
        """
        target = self._buffer.request_flush()
        if self._buffer.stats().pending:
            self._worker.start()  # a forked child's worker may not have started yet
        if not self._worker.alive:
            return self._buffer.stats().pending == 0
        return self._buffer.wait_settled(target, timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush, stop the worker and close the backend; later records are dropped.

        Waits at most ``timeout`` seconds (``None``: until delivered); returns
        whether everything was delivered. Closing twice is harmless.
        """
        self._closed = True
        with _open_lock:
            _open_tracers.discard(self)
        self._worker.stop(timeout)
        pending = self._buffer.stats().pending
        if pending:
            log.warning(
                "Flightlog tracing closed with %d records not delivered (Flightlog unreachable "
                "for the last %s s; see tracer.stats)",
                pending,
                timeout,
            )
        return not self._worker.alive and pending == 0

    def _retire(self) -> None:
        """Close now if no run of this tracer is open, else once the open ones have finished.

        What ``configure()`` does to the tracer it replaces: runs opened on it
        keep recording, and are finished and delivered. New runs on it are dropped.
        The worker ends by itself after the last finish; exit closes it in any case.
        """
        if self._buffer.retire():
            self.close(self.config.exit_timeout)

    def __enter__(self) -> Tracer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _after_fork_in_child() -> None:
    """``os.register_at_fork``: every open tracer starts afresh in the child process."""
    global _open_lock
    _open_lock = threading.Lock()  # a parent thread may have held it at the fork
    _held_for_fork.clear()  # the child's workers are new
    # So may the parent's worker, opening its Store, have held the migrations' lock:
    # held for ever in the child, it would stop the child's worker opening its own.
    migrations_runner._ALEMBIC_LOCK = threading.Lock()
    for tracer in list(_open_tracers):
        tracer._after_fork_in_child()


#: Workers whose calls are held across a fork, to release after it in the parent.
_held_for_fork: list[Worker] = []

#: How long a fork waits for a worker's call in progress (a database call, bounded
#: by the driver's timeouts) before it goes ahead regardless.
FORK_WAIT_SECONDS = 10.0


def _before_fork() -> None:
    """No worker is inside a backend call while the process forks (see ``Worker.hold_calls``)."""
    with _open_lock:
        tracers = list(_open_tracers)
    for tracer in tracers:
        if tracer._worker.hold_calls(FORK_WAIT_SECONDS):
            _held_for_fork.append(tracer._worker)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release_calls()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


#: Per tracer, what is left of ``exit_timeout`` after the early exit hook could not deliver.
_exit_budgets: dict[Tracer, float] = {}


def _flush_at_exit() -> None:
    """Early at exit, while thread pools still run: deliver, and have every backend open.

    Opening a Store (or resolving a host) needs ``asyncio.to_thread``, which
    fails once ``concurrent.futures`` has shut down; after this hook a worker
    only sends through the backend it already holds. Tracers stay open, for
    non-daemon threads still recording until Python joins them.
    """
    with _open_lock:
        tracers = list(_open_tracers)
    for tracer in tracers:
        timeout = tracer.config.exit_timeout
        deadline = time.monotonic() + timeout
        delivered = tracer.flush(timeout)
        worker = tracer._worker
        # A forked child's worker that nothing started has nothing to open for.
        opened = not worker.started or worker.wait_opened(max(0.0, deadline - time.monotonic()))
        if not (delivered and opened):
            _exit_budgets[tracer] = max(0.0, deadline - time.monotonic())


def _close_at_exit() -> None:
    """Last at exit, after non-daemon threads ended: close every tracer still open.

    Each gets ``exit_timeout`` seconds, or what the early hook left of them
    when Flightlog was unreachable then, so exit never waits twice for an outage.
    """
    with _open_lock:
        tracers = list(_open_tracers)
    for tracer in tracers:
        tracer.close(_exit_budgets.pop(tracer, tracer.config.exit_timeout))


def _register_exit_hooks() -> None:
    """Flush early (while the worker can still use thread pools), close late (after threads).

    A plain ``atexit`` hook runs after ``concurrent.futures`` has shut its
    executors down, and opening a Store needs one (``asyncio.to_thread``), so
    a short program would exit before its tracer ever opened the database:
    ``threading``'s own exit hooks run earlier, newest first, and the flush is
    registered after ``concurrent.futures.thread`` (imported above) registered
    its own, so it runs before it. But they also run before Python waits for
    non-daemon threads, whose runs may still be open: the close, the final
    delivery, is a plain ``atexit`` hook, which runs after those threads ended.
    """
    register = getattr(threading, "_register_atexit", None)
    if callable(register):
        register(_flush_at_exit)
    atexit.register(_close_at_exit)


_register_exit_hooks()
