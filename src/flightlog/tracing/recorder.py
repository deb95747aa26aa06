"""Events, metric points and artifacts: what a run and a step both record.

Each call builds one small record and offers it to the buffer; the worker
validates and sends it later, in a batch. The call returns whether the
record was accepted (False past the buffer's bound, after ``close()``, or for
a run that was itself not recorded) and never raises for Flightlog's sake.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from flightlog.enums import ArtifactType, EventSeverity, EventType, MetricType
from flightlog.tracing.buffer import Buffer
from flightlog.tracing.records import ArtifactRecord, EventRecord, MetricRecord, RunRecord

if TYPE_CHECKING:
    from flightlog.tracing.scopes import Step


class Recorder(ABC):
    """Events, metric points and artifacts of one run, optionally of one step in it."""

    _buffer: Buffer
    _limit: int

    @abstractmethod
    def _run_record(self) -> RunRecord: ...

    @abstractmethod
    def _step_for_records(self) -> Step | None: ...

    def event(
        self,
        event_type: EventType | str = EventType.LOG,
        content: str | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        severity: EventSeverity | str = EventSeverity.INFO,
        agent_role: str | None = None,
    ) -> bool:
        """Buffer an event (``"log"``, ``"message"``, ``"result"``…); False if not accepted.

        It belongs to the current step when there is one (``agent_role`` defaults
        to the step's name). Sent with others in one batch.
        """
        run = self._run_record()
        if run.dropped:
            self._buffer.drop()
            return False
        snapshot = _snapshot(self._buffer, "an event", data)
        if snapshot is False:
            return False
        step = self._step_for_records()
        return self._buffer.offer(
            EventRecord(
                run=run,
                step=step._record if step is not None else None,
                event_type=event_type,
                content=content,
                data=snapshot,
                severity=severity,
                agent_role=agent_role if agent_role is not None or step is None else step.name,
            )
        )

    def metric(
        self,
        name: str,
        value: float,
        *,
        metric_type: MetricType | str = MetricType.GAUGE,
        unit: str | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> bool:
        """Buffer a metric point of the run (and current step); False if not accepted."""
        run = self._run_record()
        if run.dropped:
            self._buffer.drop()
            return False
        try:
            number = float(value)
        except (TypeError, ValueError):
            self._buffer.reject(f"metric point {name!r}", f"{value!r} is not a number")
            return False
        if not math.isfinite(number):
            self._buffer.reject(f"metric point {name!r}", f"{value!r} is not a finite number")
            return False
        snapshot = _snapshot(self._buffer, f"metric point {name!r}", labels)
        if snapshot is False:
            return False
        step = self._step_for_records()
        return self._buffer.offer(
            MetricRecord(
                run=run,
                step=step._record if step is not None else None,
                name=name,
                value=number,
                metric_type=metric_type,
                unit=unit,
                labels=snapshot,
            )
        )

    def artifact(
        self,
        name: str,
        content: bytes | str,
        *,
        content_type: str | None = None,
        artifact_type: ArtifactType | str = ArtifactType.OTHER,
        file_path: str | None = None,
    ) -> bool:
        """Buffer the next version of the task's artifact ``name``, linked to this run.

        Text is stored as UTF-8 (``text/plain`` unless told otherwise), bytes as
        ``application/octet-stream``. False if not accepted (the buffer holds at most
        ``max_buffered_bytes`` of artifact content).
        """
        run = self._run_record()
        if run.dropped:
            self._buffer.drop()
            return False
        if isinstance(content, str):
            data, default_type = content.encode(), "text/plain; charset=utf-8"
        else:
            data, default_type = bytes(content), "application/octet-stream"
        step = self._step_for_records()
        return self._buffer.offer(
            ArtifactRecord(
                run=run,
                step=step._record if step is not None else None,
                name=name,
                content=data,
                content_type=content_type or default_type,
                artifact_type=artifact_type,
                file_path=file_path,
            )
        )


def _snapshot(
    buffer: Buffer, what: str, value: Mapping[str, Any] | None
) -> dict[str, Any] | Literal[False] | None:
    """A deep copy of ``value`` as it is now, so that changing it later changes nothing sent.

    False (the record is refused, and counted) when it cannot be copied.
    """
    if value is None:
        return None
    try:
        return copy.deepcopy(dict(value))
    except Exception as exc:  # a value whose own methods raise, or that cannot be copied
        buffer.reject(what, f"its data cannot be copied ({type(exc).__name__}: {exc})")
        return False
