"""``with tracer.run(...) as run`` and ``with run.agent(...) as step``: what agent code holds.

Entering a block queues its start and leaving queues its finish; neither
waits for Flightlog, and nothing here raises because Flightlog is down or
refuses a record (a recording call returns False when its record was not
accepted; ``tracer.stats`` counts why). The block's exception decides the
outcome and is re-raised unchanged: an ``Exception`` is FAILED with its type,
message and traceback summary, anything else (``KeyboardInterrupt``, task
cancellation, ``SystemExit``) is CANCELLED.
"""

from __future__ import annotations

import contextvars
import copy
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Literal

from flightlog.enums import (
    AgentRunStatus,
    RunStatus,
)
from flightlog.tracing import summary
from flightlog.tracing.buffer import Buffer
from flightlog.tracing.context import current_run_var, current_step_var
from flightlog.tracing.recorder import Recorder
from flightlog.tracing.records import (
    FinishRun,
    FinishStep,
    PendingId,
    RunRecord,
    StartRun,
    StartStep,
    StepRecord,
    now,
)

Outcome = Literal["COMPLETED", "FAILED", "CANCELLED"]


def _outcome(exc: BaseException | None) -> Outcome:
    if exc is None:
        return "COMPLETED"
    return "FAILED" if isinstance(exc, Exception) else "CANCELLED"


def _reset(var: contextvars.ContextVar[Any], token: contextvars.Token[Any], value: object) -> None:
    """Undo ``var.set``; in another context (a generator resumed elsewhere), restore by value."""
    try:
        var.reset(token)
    except ValueError:
        var.set(None if value is contextvars.Token.MISSING else value)


class Run(Recorder):
    """One run of a task, recorded while its ``with`` block runs. Made by ``tracer.run()``."""

    def __init__(
        self,
        buffer: Buffer,
        limit: int,
        *,
        task_id: uuid.UUID | None,
        title: str | None,
        description: str | None,
        input_context: dict[str, Any] | None,
        git_branch: str | None,
        invalid: str | None = None,
    ) -> None:
        self._buffer = buffer
        self._invalid = invalid
        self._limit = limit
        self._record = RunRecord(id=PendingId("the run"), task_id=PendingId("the run's task"))
        self._start = StartRun(self._record, task_id, title, description, input_context, git_branch)
        self._results: dict[str, Any] | None = None
        self._entered = False
        self._tokens: tuple[contextvars.Token[Run | None], contextvars.Token[Step | None]] | None
        self._tokens = None

    def __repr__(self) -> str:
        return f"<flightlog.tracing.Run {self._record.id.value or 'pending'}>"

    @property
    def id(self) -> PendingId:
        """The run's id in Flightlog once written: ``run.id.get(timeout)`` or ``.wait()``."""
        return self._record.id

    @property
    def task_id(self) -> PendingId:
        """The id of the run's task (the one given, or the one made from ``title=``)."""
        return self._record.task_id

    def agent(
        self, name: str, *, input: object = None, details: Mapping[str, Any] | None = None
    ) -> Step:
        """A step of this run by agent ``name``: ``with run.agent("Architect") as step:``.

        Inside another step of this run it nests under it (its parent agent run).
        ``input`` is summarised (``summary_chars``) into the agent run's details.
        """
        return Step(self, name, parent=None, input=input, details=details)

    def set_results(self, results: Mapping[str, Any]) -> None:
        """What the run produced: kept as the run's results when the block ends."""
        self._results = summary.json_object(results, self._limit)

    def _run_record(self) -> RunRecord:
        return self._record

    def _step_for_records(self) -> Step | None:
        step = current_step_var.get()
        return step if step is not None and step.run is self else None

    def __enter__(self) -> Run:
        if self._entered:
            raise RuntimeError("a Run is entered once; call tracer.run(...) again for another run")
        self._entered = True
        self._start.at = now()  # the run starts when its block is entered, not when it was made
        if self._invalid is not None:
            self._buffer.reject("a run", self._invalid)
            self._record.id.refuse(self._invalid)
            self._record.task_id.refuse(self._invalid)
        elif not self._buffer.offer(self._start):
            reason = "the tracer's buffer was full or the tracer was closed (see tracer.stats)"
            self._record.id.refuse(reason)
            self._record.task_id.refuse(reason)
        else:
            self._record.dropped = False
        self._tokens = (current_run_var.set(self), current_step_var.set(None))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tokens is not None:
            run_token, step_token = self._tokens
            _reset(current_step_var, step_token, step_token.old_value)
            _reset(current_run_var, run_token, run_token.old_value)
            self._tokens = None
        if self._record.dropped:
            return
        outcome = _outcome(exc)
        self._buffer.put(
            FinishRun(
                self._record,
                RunStatus(outcome),
                self._results,
                summary.error_message(exc, self._limit) if exc is not None else None,
                summary.error_details(exc, self._limit) if exc is not None else None,
            )
        )

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class Step(Recorder):
    """One agent's step in a run (an agent run), recorded while its block runs."""

    def __init__(
        self,
        run: Run,
        name: str,
        *,
        parent: Step | None,
        input: object,
        details: Mapping[str, Any] | None,
    ) -> None:
        self.run = run
        self.name = name
        self._buffer = run._buffer
        self._limit = run._limit
        self._parent = parent
        try:  # a snapshot: changing ``details`` later changes nothing sent
            self._details = copy.deepcopy(dict(details or {}))
        except Exception as exc:
            self._details = {"details": summary.summarize(details, run._limit)}
            run._buffer.reject(f"the details of agent run {name!r}", f"cannot be copied: {exc}")
        if input is not None:
            self._details["input"] = summary.summarize(input, self._limit)
        self._record = StepRecord(
            run=run._record,
            parent=None,
            name=name,
            id=PendingId(f"agent run {name!r}"),
            dropped=True,
        )
        self._output: str | None = None
        self._entered = False
        self._token: contextvars.Token[Step | None] | None = None

    def __repr__(self) -> str:
        return f"<flightlog.tracing.Step {self.name!r} {self._record.id.value or 'pending'}>"

    @property
    def id(self) -> PendingId:
        """The agent run's id in Flightlog, once written."""
        return self._record.id

    def agent(
        self, name: str, *, input: object = None, details: Mapping[str, Any] | None = None
    ) -> Step:
        """A step nested under this one, wherever it is entered (another thread, say)."""
        return Step(self.run, name, parent=self, input=input, details=details)

    def usage(
        self,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost: Decimal | float | int | str = 0,
    ) -> bool:
        """Add LLM usage (tokens, cost in USD) to the step and so to its run's totals.

        Calls made before the worker gets to them are summed into one report.
        False (and nothing added) for negative or non-numeric values, or once
        the step has ended.
        """
        try:
            amount = Decimal(str(cost))
        except (InvalidOperation, ValueError):
            amount = Decimal(-1)
        tokens_ok = all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0
            for n in (prompt_tokens, completion_tokens)
        )
        if not (tokens_ok and amount.is_finite() and amount >= 0):
            self._buffer.reject(
                f"usage of {self.name!r}",
                "token counts must be non-negative integers and cost a non-negative number, "
                f"got {prompt_tokens!r}, {completion_tokens!r}, {cost!r}",
            )
            return False
        return self._buffer.add_usage(self._record, prompt_tokens, completion_tokens, amount)

    def set_output(self, value: object) -> None:
        """What the step produced, summarised into the agent run's ``output_summary``."""
        self._output = summary.summarize(value, self._limit)

    @property
    def has_output(self) -> bool:
        return self._output is not None

    def _run_record(self) -> RunRecord:
        return self.run._record

    def _step_for_records(self) -> Step | None:
        return self

    def __enter__(self) -> Step:
        if self._entered:
            raise RuntimeError("a Step is entered once; call run.agent(...) again for another")
        self._entered = True
        parent = self._parent
        if parent is None:
            current = current_step_var.get()
            parent = current if current is not None and current.run is self.run else None
        self._record.parent = parent._record if parent is not None else None
        if self.run._record.dropped:
            self._buffer.drop()
        else:
            self._record.dropped = not self._buffer.offer(StartStep(self._record, self._details))
        if self._record.dropped:
            self._record.id.refuse("its run was not recorded, or the tracer's buffer was full")
        self._token = current_step_var.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _reset(current_step_var, self._token, self._token.old_value)
            self._token = None
        if self._record.dropped:
            return
        self._buffer.put(
            FinishStep(
                self._record,
                AgentRunStatus(_outcome(exc)),
                self._output,
                summary.error_message(exc, self._limit) if exc is not None else None,
            )
        )

    async def __aenter__(self) -> Step:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
