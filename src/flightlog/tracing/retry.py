"""One call to the backend, retried with back-off while Flightlog cannot serve.

What a failure means decides what happens: Flightlog unreachable or its
database down (``is_transient``) is retried, waiting ``retry_initial_delay``
doubled per failure up to ``retry_max_delay``, for as long as the tracer
runs; a refusal (an error Flightlog raised on purpose) is final at once; an
unexpected exception gets a few tries and is then reported with its
traceback, so a bug cannot hold the queue forever. After ``stop()`` the
retries end at its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from flightlog.errors import FlightlogError
from flightlog.tracing.backend import is_transient, maybe_written
from flightlog.tracing.buffer import Buffer
from flightlog.tracing.config import TracerConfig

log = logging.getLogger("flightlog.tracing")

T = TypeVar("T")

#: Tries of a call that fails with an exception Flightlog did not raise on purpose.
UNEXPECTED_TRIES = 3


@dataclass(frozen=True)
class Failed:
    """A call that did not succeed: refused, or given up at the stop deadline."""

    error: BaseException
    gave_up: bool
    #: Some failed try may have been written all the same (the connection broke in the commit).
    maybe_written: bool


class Retrier:
    """Runs the worker's calls; one per worker, used from its event loop only."""

    def __init__(self, buffer: Buffer, config: TracerConfig) -> None:
        self._buffer = buffer
        self._config = config
        self._failures_in_a_row = 0
        #: Set from any thread (flush, close): end the current back-off now.
        self.urgent = asyncio.Event()
        #: time.monotonic() after which failing calls are given up (set by stop()).
        self.deadline: float | None = None
        #: Held while a call runs: ``os.fork`` waits for it (see ``Worker.calls``).
        self.calls = threading.Lock()

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def attempt(
        self,
        call: Callable[[], Awaitable[T]],
        what: str,
        *,
        transient: Callable[[BaseException], bool] = is_transient,
    ) -> T | Failed:
        """``call()``'s result, or :class:`Failed` once it is refused or given up."""
        delay = self._config.retry_initial_delay
        unexpected = 0
        written = False
        while True:
            try:
                with self.calls:
                    result = await call()
            except Exception as exc:
                written = written or maybe_written(exc)
                if not transient(exc):
                    if isinstance(exc, FlightlogError):
                        return Failed(exc, gave_up=False, maybe_written=written)
                    unexpected += 1
                    if unexpected >= UNEXPECTED_TRIES:
                        log.error(
                            "Flightlog tracing: could not %s (unexpected error, %d tries); "
                            "giving it up",
                            what,
                            unexpected,
                            exc_info=exc,
                        )
                        return Failed(exc, gave_up=False, maybe_written=written)
                self._note(exc, what)
                if self.past_deadline():
                    return Failed(exc, gave_up=True, maybe_written=written)
                await self._back_off(delay)
                delay = min(delay * 2, self._config.retry_max_delay)
                continue
            if self._failures_in_a_row:
                log.warning(
                    "Flightlog tracing: delivering again after %d failed attempts",
                    self._failures_in_a_row,
                )
                self._failures_in_a_row = 0
            return result

    def _note(self, exc: BaseException, what: str) -> None:
        self._buffer.note_failure(f"could not {what}: {type(exc).__name__}: {exc}")
        if self._failures_in_a_row == 0:
            log.warning(
                "Flightlog tracing: could not %s (%s: %s); the records are kept and retried "
                "(%d pending, see tracer.stats)",
                what,
                type(exc).__name__,
                exc,
                self._buffer.stats().pending,
            )
        self._failures_in_a_row += 1

    async def _back_off(self, delay: float) -> None:
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.urgent.wait(), delay)
        self.urgent.clear()
