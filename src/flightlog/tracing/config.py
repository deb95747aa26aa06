"""How a tracer batches, how much it may hold back, and how it retries.

The defaults suit an agent process that logs a few thousand records a
minute: a batch is sent when ``max_batch`` records wait or the oldest has
waited ``flush_interval`` seconds, and an outage of several minutes at that
rate fits in the buffer. Every bound is a count (or bytes) rather than a
duration, so memory is what the bound protects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TracerConfig:
    """A tracer's limits. All optional; see docs/tracing.md for what each bound does."""

    #: Events (or metric points) sent in one transaction / one request, at most.
    max_batch: int = 1000
    #: Event and metric payload bytes (content plus JSON data) in one batch, at most.
    max_batch_bytes: int = 8 * 1024 * 1024
    #: Seconds a buffered event, metric point or artifact waits at most before it is sent.
    flush_interval: float = 1.0
    #: Events, metric points and artifacts held (waiting or being sent) at most. One more
    #: is dropped, counted in ``stats.dropped``, and its call returns False.
    max_buffered: int = 100_000
    #: Artifact content held at most (bytes); an artifact past it is dropped like a record.
    max_buffered_bytes: int = 64 * 1024 * 1024
    #: First wait after a failed send; doubled per failure up to ``retry_max_delay``.
    retry_initial_delay: float = 0.25
    retry_max_delay: float = 30.0
    #: How long interpreter exit waits for the buffer to be delivered.
    exit_timeout: float = 5.0
    #: Characters kept of an input, output, error message or traceback summary.
    summary_chars: int = 2000

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_batch_bytes", "max_buffered", "summary_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"TracerConfig.{name} must be at least 1")
        for name in ("flush_interval", "retry_initial_delay", "retry_max_delay"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TracerConfig.{name} must be positive")
        if self.max_buffered_bytes < 0 or self.exit_timeout < 0:
            raise ValueError("TracerConfig.max_buffered_bytes and exit_timeout cannot be negative")
