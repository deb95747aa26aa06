"""The migration-made objects work: the three views and the full-text search structures."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m
from flightlog.enums import RunStatus, TaskStatus, ValidationStatus


def test_active_tasks_view(session: Session) -> None:
    owner = f.customer(session)
    proj = f.project(session, owner=owner)
    done = f.task(session, owner=owner, status=TaskStatus.COMPLETED)
    todo = f.task(session, owner=owner, project_id=proj.id)
    blocked = f.task(session, owner=owner, status=TaskStatus.RUNNING)
    session.add(m.TaskDependency(task_id=blocked.id, depends_on_id=todo.id))
    session.add(m.TaskDependency(task_id=todo.id, depends_on_id=done.id))
    session.flush()
    rows = session.execute(
        text(
            "SELECT task_id, status, project_name, open_dependencies FROM active_tasks "
            "WHERE customer_id = :c ORDER BY title"
        ),
        {"c": owner.id.hex if session.bind.dialect.name == "sqlite" else owner.id},  # type: ignore[union-attr]
    ).all()
    by_id = {str(r[0]).replace("-", ""): r for r in rows}
    assert set(by_id) == {todo.id.hex, blocked.id.hex}
    assert by_id[todo.id.hex][2] == proj.name
    assert by_id[todo.id.hex][3] == 0
    assert by_id[blocked.id.hex][3] == 1


def test_task_execution_summary_view(session: Session) -> None:
    parent = f.task(session)
    outcomes = [RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMEOUT]
    for number, status in enumerate(outcomes, start=1):
        f.run(
            session,
            parent,
            run_number=number,
            status=status,
            duration_seconds=float(number * 10),
            tokens_in=100,
            tokens_out=50,
            cost_usd=Decimal("0.25"),
        )
    f.run(session, parent, run_number=5, status=RunStatus.RUNNING)
    key = parent.id.hex if session.bind.dialect.name == "sqlite" else parent.id  # type: ignore[union-attr]
    row = session.execute(
        text(
            "SELECT total_executions, successful_executions, failed_executions, "
            "active_executions, avg_duration_seconds, tokens_in, cost_usd "
            "FROM task_execution_summary WHERE task_id = :t"
        ),
        {"t": key},
    ).one()
    assert row[0] == 5
    assert row[1] == 2
    assert row[2] == 2
    assert row[3] == 1
    assert float(row[4]) == pytest.approx(25.0)
    assert row[5] == 400
    assert Decimal(str(row[6])) == Decimal("1.00")


def test_pr_validation_status_view(session: Session) -> None:
    proj = f.project(session)
    clean = f.pull_request(session, proj, pr_number=1)
    broken = f.pull_request(session, proj, pr_number=2, repository_url=clean.repository_url)
    unchecked = f.pull_request(session, proj, pr_number=3, repository_url=clean.repository_url)
    waiting = f.pull_request(session, proj, pr_number=4, repository_url=clean.repository_url)
    checks = [
        (clean, "lint", ValidationStatus.PASSED),
        (clean, "tests", ValidationStatus.PASSED),
        (broken, "lint", ValidationStatus.PASSED),
        (broken, "tests", ValidationStatus.FAILED),
        (waiting, "tests", ValidationStatus.RUNNING),
    ]
    for pr, name, status in checks:
        session.add(m.PullRequestCheck(pull_request_id=pr.id, name=name, status=status))
    session.flush()
    rows = dict(
        session.execute(
            text(
                "SELECT pr_number, validation_state FROM pr_validation_status "
                "WHERE repository_url = :r"
            ),
            {"r": clean.repository_url},
        ).all()
    )
    assert rows == {1: "PASSED", 2: "FAILED", 3: "NOT_RUN", 4: "PENDING"}
    assert unchecked.pr_number == 3


def _fts_ids(session: Session, query: str) -> set[str]:
    rows = session.execute(
        text(
            "SELECT d.task_id FROM tasks_fts "
            "JOIN tasks_fts_docs AS d ON d.doc_id = tasks_fts.rowid WHERE tasks_fts MATCH :q"
        ),
        {"q": query},
    )
    return {r[0] for r in rows}


@pytest.mark.sqlite_only
def test_sqlite_fts_follows_inserts_updates_and_cascaded_deletes(
    session: Session, dialect: str
) -> None:
    owner = f.customer(session)
    row = f.task(session, owner=owner, title="Build login page", input_prompt="OAuth with GitHub")
    assert row.id.hex in _fts_ids(session, "github")
    row.description = "Add kubernetes manifests"
    session.flush()
    assert row.id.hex in _fts_ids(session, "kubernetes")
    session.delete(owner)  # cascades to the task inside the database
    session.flush()
    assert row.id.hex not in _fts_ids(session, "kubernetes")
    assert (
        session.execute(text("SELECT count(*) FROM tasks_fts_docs")).scalar()
        == session.execute(text("SELECT count(*) FROM tasks")).scalar()
    )


@pytest.mark.postgres_only
def test_postgres_search_uses_the_gin_index(session: Session, dialect: str) -> None:
    row = f.task(session, title="Harden authentication", description="rotate secrets")
    session.flush()
    query = (
        "SELECT id FROM tasks WHERE to_tsvector('english', coalesce(title, '') || ' ' || "
        "coalesce(description, '') || ' ' || coalesce(input_prompt, '')) "
        "@@ plainto_tsquery('english', :q)"
    )
    found = session.execute(text(query), {"q": "authentication secrets"}).scalars().all()
    assert row.id in found
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        r[0] for r in session.execute(text("EXPLAIN " + query), {"q": "authentication"})
    )
    assert "ix_tasks_search_gin" in plan
