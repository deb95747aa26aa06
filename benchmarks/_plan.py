"""How much each run of the suite does: the full run the targets refer to, and a smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark run; the full plan uses the sizes the targets name."""

    name: str
    #: Tasks (each with one run and agent runs) the ingested events and points refer to.
    tasks: int
    #: Share of events that go to the one long-running task whose stream is paged deep.
    big_task_share: float
    #: Rows per timed batch when comparing Flightlog with the raw drivers, and rounds of it.
    ratio_rows: int
    ratio_rounds: int
    #: Rows written through the buffering appender (and as one batch), per round, and rounds.
    appender_rows: int
    appender_rounds: int
    #: Rows posted to the HTTP API per round (in batches of ``http_batch``), and rounds.
    http_rows: int
    http_rounds: int
    http_batch: int
    #: Rows of each growth batch, batches per sample (median), and the table sizes
    #: the samples are taken at ("0, 1M and 5M").
    growth_rows: int
    growth_batches: int
    growth_sizes: tuple[int, ...]
    #: Rows streamed by the subprocess that measures peak RSS.
    rss_rows: int
    #: Rows per raw transaction when growing the events table between measurements.
    fill_segment: int
    #: Depth of the keyset page in the long-running task's stream.
    keyset_depth: int
    #: The task list's tenant: tasks, and runs spread over them.
    list_tasks: int
    list_runs: int
    #: Timed repetitions of each read.
    read_iterations: int


FULL = Plan(
    name="full",
    tasks=100,
    big_task_share=0.3,
    ratio_rows=60_000,
    ratio_rounds=5,
    appender_rows=60_000,
    appender_rounds=3,
    http_rows=30_000,
    http_rounds=3,
    http_batch=1_000,
    growth_rows=50_000,
    growth_batches=3,
    growth_sizes=(0, 1_000_000, 5_000_000),
    rss_rows=1_000_000,
    fill_segment=100_000,
    keyset_depth=1_000_000,
    list_tasks=100_000,
    list_runs=1_000_000,
    read_iterations=200,
)

QUICK = Plan(
    name="quick",
    tasks=10,
    big_task_share=0.3,
    ratio_rows=3_000,
    ratio_rounds=1,
    appender_rows=3_000,
    appender_rounds=1,
    http_rows=2_000,
    http_rounds=1,
    http_batch=500,
    growth_rows=1_000,
    growth_batches=2,
    growth_sizes=(0, 10_000, 30_000),
    rss_rows=5_000,
    fill_segment=10_000,
    keyset_depth=5_000,
    list_tasks=1_000,
    list_runs=5_000,
    read_iterations=20,
)
