"""Builders for valid rows of every table, so a test states only what it cares about."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from flightlog import models as m
from flightlog.enums import AgentType, EventType, MetricType


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def customer(db: Session, **kw: Any) -> m.Customer:
    tag = _tag()
    row = m.Customer(**{"name": f"Acme {tag}", "email": f"admin-{tag}@acme.test", **kw})
    db.add(row)
    db.flush()
    return row


def project(db: Session, owner: m.Customer | None = None, **kw: Any) -> m.Project:
    owner = owner or customer(db)
    row = m.Project(**{"customer_id": owner.id, "name": f"project-{_tag()}", **kw})
    db.add(row)
    db.flush()
    return row


def agent(db: Session, owner: m.Customer | None = None, **kw: Any) -> m.Agent:
    owner = owner or customer(db)
    row = m.Agent(
        **{
            "customer_id": owner.id,
            "name": f"agent-{_tag()}",
            "agent_type": AgentType.ENGINEER,
            **kw,
        }
    )
    db.add(row)
    db.flush()
    return row


def task(db: Session, owner: m.Customer | None = None, **kw: Any) -> m.Task:
    owner = owner or customer(db)
    row = m.Task(**{"customer_id": owner.id, "title": f"task-{_tag()}", **kw})
    db.add(row)
    db.flush()
    return row


def run(db: Session, parent: m.Task | None = None, **kw: Any) -> m.TaskRun:
    parent = parent or task(db)
    row = m.TaskRun(**{"task_id": parent.id, "run_number": 1, **kw})
    db.add(row)
    db.flush()
    return row


def agent_run(db: Session, parent: m.TaskRun, **kw: Any) -> m.AgentRun:
    row = m.AgentRun(
        **{"task_id": parent.task_id, "run_id": parent.id, "agent_name": "Engineer", **kw}
    )
    db.add(row)
    db.flush()
    return row


def event(db: Session, parent: m.Task, **kw: Any) -> m.Event:
    row = m.Event(
        **{
            "customer_id": parent.customer_id,
            "task_id": parent.id,
            "event_type": EventType.LOG,
            "content": "hello",
            **kw,
        }
    )
    db.add(row)
    db.flush()
    return row


def metric(db: Session, parent: m.Task, **kw: Any) -> m.MetricPoint:
    row = m.MetricPoint(
        **{
            "task_id": parent.id,
            "name": "cpu_usage",
            "metric_type": MetricType.GAUGE,
            "value": 75.5,
            "unit": "%",
            **kw,
        }
    )
    db.add(row)
    db.flush()
    return row


def blob(db: Session, content: bytes = b"# report\n") -> m.ArtifactBlob:
    digest = hashlib.sha256(content).hexdigest()
    existing = db.get(m.ArtifactBlob, digest)
    if existing is not None:
        return existing
    row = m.ArtifactBlob(sha256=digest, size_bytes=len(content), content=content)
    db.add(row)
    db.flush()
    return row


def artifact(db: Session, parent: m.Task, content: bytes = b"# report\n", **kw: Any) -> m.Artifact:
    stored = blob(db, content)
    row = m.Artifact(
        **{
            "task_id": parent.id,
            "name": "report.md",
            "sha256": stored.sha256,
            "size_bytes": stored.size_bytes,
            "content_type": "text/markdown",
            **kw,
        }
    )
    db.add(row)
    db.flush()
    return row


def recommendation(db: Session, owner: m.Customer | None = None, **kw: Any) -> m.Recommendation:
    owner = owner or customer(db)
    row = m.Recommendation(
        **{
            "customer_id": owner.id,
            "recommendation_type": "rightsizing",
            "title": "Downsize idle GPU nodes",
            "confidence_score": 0.9,
            "estimated_savings": Decimal("1200.50"),
            **kw,
        }
    )
    db.add(row)
    db.flush()
    return row


def pull_request(db: Session, parent: m.Project | None = None, **kw: Any) -> m.PullRequest:
    parent = parent or project(db)
    row = m.PullRequest(
        **{
            "project_id": parent.id,
            "repository_url": f"https://git.example/{_tag()}.git",
            "branch_name": "feature/auth",
            "title": "Add authentication",
            **kw,
        }
    )
    db.add(row)
    db.flush()
    return row
