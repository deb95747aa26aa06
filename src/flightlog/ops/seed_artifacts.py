"""The artifacts ``flightlog seed`` writes: each run's log, config, report and data files.

Seed 000's dashboard shows what runs produced ("reports, data, logs,
configs"); the seeded database has them too, built as deterministically as
the rest of :mod:`flightlog.ops.seeding` and inserted in bulk with it.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from flightlog.enums import ArtifactType, RunStatus

if TYPE_CHECKING:
    from flightlog.ops.seeding import RunPlan


class IdSource(Protocol):
    """The seed's generator: its random numbers and its time-ordered ids."""

    rng: random.Random

    def uuid7(self, at: datetime) -> uuid.UUID: ...


def artifact_rows(
    tasks: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    run_plan: RunPlan,
    gen: IdSource,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What each run left behind, as seed 000's dashboard shows it: blobs and artifacts.

    Every run keeps its log; a task's first run its config; a completed run its
    report (the same name each time, so later runs add versions) and, now and
    then, a data file. Content is small text stored inline, each distinct
    content once (identical configs share a blob), as the Store would store it.
    A generator of its own (``gen``) keeps the other rows as they were.
    """
    rng = gen.rng
    titles = {task["id"]: task["title"] for task in tasks}
    blobs: dict[str, dict[str, Any]] = {}
    artifacts: list[dict[str, Any]] = []
    versions: Counter[tuple[uuid.UUID, str]] = Counter()
    for run, (task_id, run_id, _started, steps) in zip(runs, run_plan, strict=True):
        finished: datetime = run["completed_at"]
        outcome: RunStatus = run["status"]
        number: int = run["run_number"]
        engineer = next(ar_id for ar_id, role in steps if role == "Engineer")
        files: list[tuple[str, ArtifactType, str, str, uuid.UUID | None]] = [
            (
                f"logs/run-{number}.log",
                ArtifactType.LOG,
                "text/plain; charset=utf-8",
                "".join(f"{role}: step done\n" for _, role in steps)
                + f"run {number} {outcome.value}\n",
                None,
            )
        ]
        if number == 1:
            config = (
                f'{{"model": "gpt-4", "temperature": 0.7, "max_rounds": {rng.randint(3, 8)}}}\n'
            )
            files.append(("config.json", ArtifactType.CONFIG, "application/json", config, None))
        if outcome is RunStatus.COMPLETED:
            report = (
                f"# {titles[task_id]}\n\nRun {number} completed in "
                f"{run['duration_seconds']:.1f} s.\n\n- success score: {rng.randint(60, 100)}\n"
            )
            files.append(
                ("report.md", ArtifactType.REPORT, "text/markdown; charset=utf-8", report, engineer)
            )
            if rng.random() < 0.5:
                data = "metric,value\n" + "".join(
                    f"{name},{rng.uniform(0, 100):.3f}\n" for name in ("cpu", "memory", "latency")
                )
                files.append(("results.csv", ArtifactType.DATA, "text/csv", data, engineer))
        for position, (name, kind, content_type, text, agent_run_id) in enumerate(files):
            content = text.encode("utf-8")
            digest = hashlib.sha256(content).hexdigest()
            blobs.setdefault(
                digest,
                {
                    "sha256": digest,
                    "size_bytes": len(content),
                    "content": content,
                    "created_at": finished,
                },
            )
            versions[task_id, name] += 1
            at = finished + timedelta(milliseconds=position)
            artifacts.append(
                {
                    "id": gen.uuid7(at),
                    "task_id": task_id,
                    "run_id": run_id,
                    "agent_run_id": agent_run_id,
                    "name": name,
                    "version": versions[task_id, name],
                    "artifact_type": kind,
                    "file_path": f"/artifacts/{name}",
                    "content_type": content_type,
                    "size_bytes": len(content),
                    "sha256": digest,
                    "metadata_": {"version": "1.0", "generator": "flightlog seed"},
                    "created_at": at,
                }
            )
    return list(blobs.values()), artifacts
